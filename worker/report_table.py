"""A readable table of report rows for the terminal."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any


def printable(text: str) -> str:
    r"""``text`` with control and format characters shown as ``\xNN``/``\uNNNN`` escapes.

    A title is typed by someone; an ANSI escape sequence in it must not recolour, retitle or clear
    the leader's terminal, and a bidi override must not reorder the columns.
    """
    return "".join(
        (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}") if unicodedata.category(c) in ("Cc", "Cf") else c
        for c in text
    )


def _cell(value: Any) -> str:  # noqa: ANN401 - any JSON value
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, list):
        return printable(", ".join(map(str, value)))
    return printable(str(value))


def render_table(rows: list[dict[str, Any]]) -> str:
    """Columns aligned, numbers right-aligned, a header rule; ``(no rows)`` when empty."""
    if not rows:
        return "(no rows)"
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row.get(c), (int, float)) or row.get(c) is None for row in rows) for c in columns]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True))

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)]).rstrip()


def until(due: datetime, now: datetime) -> str:
    """How long until ``due``, in its two largest units: ``in 13d 23h``, ``in 45m``, ``overdue 2d 1h``."""
    seconds = int((due - now).total_seconds())
    left = abs(seconds)
    parts = [(left // 86400, "d"), (left % 86400 // 3600, "h"), (left % 3600 // 60, "m")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2] or ["0m"]
    return ("in " if seconds >= 0 else "overdue ") + " ".join(shown)
