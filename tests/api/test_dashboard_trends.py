"""The dashboard's trend panels and filters in a live headless Chromium, and no label over another or a bar.

The portfolio is seeded over four months of submissions; layout is checked on the rendered page by the
bounding boxes of every chart's text and bars (``tests/cdp.py``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from temporalio.client import Client

from api.app import create_app
from api.context import ApiContext
from api.principals import Directory
from schemas.policy import Policy
from tests.api.conftest import token
from tests.api.test_dashboard import ARTIFACTS, _seed
from tests.cdp import CHROMIUM, chromium_page
from tests.fakes.server import serve

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (CI installs it)")

MONTHS = [datetime(2026, m, 1, tzinfo=UTC) for m in (2, 3, 4, 5)]

#: Every chart's text against every other text and every bar, and against its chart's edges.
OVERLAPS = """(() => {
  const problems = [];
  const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5
    && b.top < a.bottom - 0.5;
  for (const chart of document.querySelectorAll("svg.chart")) {
    const where = chart.parentElement.id, edge = chart.getBoundingClientRect();
    const texts = [...chart.querySelectorAll("text")].map(t => [t.textContent, t.getBoundingClientRect()]);
    const bars = [...chart.querySelectorAll("rect.bar")].map(r => r.getBoundingClientRect());
    texts.forEach(([text, box], i) => {
      if (box.left < edge.left - 0.5 || box.right > edge.right + 0.5) {
        problems.push([where, "outside", text, `${box.left}..${box.right} in ${edge.left}..${edge.right}`]);
      }
      texts.forEach(([other, box2], j) => { if (i < j && hit(box, box2)) problems.push([where, text, other]); });
      bars.forEach(bar => { if (hit(box, bar)) problems.push([where, text, "a bar"]); });
    });
  }
  return problems;
})()"""


async def test_trend_panels_filters_and_no_label_overlaps(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> None:
    team = f"trend-{uuid.uuid4().hex[:8]}"
    for month in MONTHS:
        await _seed(pool, team, t0=month, title="<b>Churn</b> =HYPERLINK(x) with a very long name indeed")
    ctx = ApiContext(
        client=client, pool=pool, directory=directory, policy=policy, task_queue="unused", ui_base_url="http://ui.test"
    )
    async with serve(create_app(ctx)) as base, chromium_page(width=1400, height=1200) as page:
        ready = await page.open(
            f"{base}/dashboard?team={team}&business_unit=&period=month&token={token('vic@example.com')}"
        )
        assert ready == "true"
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(ARTIFACTS / "dashboard-trends.png")

        # the filters show what the page was asked for
        assert await page.evaluate("document.querySelector('#filters [name=team]').value") == team
        assert await page.evaluate("document.querySelector('#filters [name=period]').value") == "month"
        assert await page.evaluate("document.getElementById('sub').textContent") == (
            "12 initiatives · base rates in brackets"
        )
        # one cohort row per month, each with its size; the stall trend has a row per month stalls began in
        cohorts = await page.evaluate("[...document.querySelectorAll('#cohorts text.label')].map(t => t.textContent)")
        assert cohorts == ["2026-02 (3)", "2026-03 (3)", "2026-04 (3)", "2026-05 (3)"]
        periods = await page.evaluate(
            "[...document.querySelectorAll('#stall-trend text.label')].map(t => t.textContent)"
        )
        assert {"2026-02", "2026-05", "2026-08"} <= set(periods)
        # stall reasons carry their family
        stalls = await page.evaluate("[...document.querySelectorAll('#stalls text.label')].map(t => t.textContent)")
        assert any(s.endswith("APPROVAL_PENDING") and " · " in s for s in stalls), stalls
        # durations in the unit that suits each one, never "0.0 / 0.0" days
        assert await page.evaluate("[duration(30), duration(1200), duration(7200), duration(3 * 86400)]") == [
            "30 s",
            "20 min",
            "2.0 h",
            "3.0 d",
        ]
        times = await page.evaluate("[...document.querySelectorAll('#time text.value')].map(t => t.textContent)")
        assert "2.5 d / 3.0 d" in times  # proposed: 3 and 2 days; the stalled one is still open
        assert not [t for t in times if "0.0" in t.split("/")[0]]

        # nothing overlaps: every label clear of the others, of the bars and of its chart's edges
        assert await page.evaluate(OVERLAPS) == []
        # ... and the check sees an overlap when there is one
        planted = await page.evaluate(
            """(() => { const chart = document.querySelector('#cost svg.chart');
                const bar = chart.querySelector('rect.bar');
                const t = document.createElementNS('http://www.w3.org/2000/svg', 'text');
                t.setAttribute('x', bar.getAttribute('x')); t.setAttribute('y', Number(bar.getAttribute('y')) + 10);
                t.textContent = 'planted'; chart.appendChild(t); return true; })()"""
        )
        assert planted is True
        assert ["cost", "planted", "a bar"] in await page.evaluate(OVERLAPS)
        # titles typed by people stay text in the stalled-now table
        cells = await page.evaluate("[...document.querySelectorAll('#stalled-table td')].map(td => td.innerHTML)")
        assert any("&lt;b&gt;Churn&lt;/b&gt;" in c for c in cells)
