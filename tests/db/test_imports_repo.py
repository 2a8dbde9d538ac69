"""Import lines in PostgreSQL: claimed once, in file order, and taken up again when a claim goes stale."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from db import imports_repo
from db.imports_repo import LineRecord


async def _import(pool: asyncpg.Pool, lines: int) -> str:
    import_id = f"import-{uuid.uuid4().hex[:16]}"
    records = [
        LineRecord(line=n, initiative_id=f"imp-{import_id}-{n}", body={"n": n})
        if n % 5
        else LineRecord(line=n, error="bad")
        for n in range(1, lines + 1)
    ]
    await imports_repo.create(pool, import_id, "ada@example.com", records)
    return import_id


async def test_concurrent_claims_share_the_lines_without_overlap_in_file_order(pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE import_lines SET outcome = 'failed' WHERE outcome IN ('pending', 'starting')")
    import_id = await _import(pool, 40)
    first, second = await asyncio.gather(imports_repo.claim(pool, 20, 300), imports_repo.claim(pool, 20, 300))
    mine = [c.line for c in [*first, *second] if c.import_id == import_id]
    assert sorted(mine) == [n for n in range(1, 41) if n % 5]  # every valid line once, no invalid one
    assert [c.line for c in first] == sorted(c.line for c in first)
    assert await imports_repo.claim(pool, 20, 300) == []  # all claimed, none stale yet
    progress = await imports_repo.progress(pool, import_id)
    assert progress is not None
    assert (progress.lines, progress.waiting, progress.invalid) == (40, 32, 8)


async def test_a_stale_claim_is_taken_up_again_and_settled_lines_finish_the_import(pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE import_lines SET outcome = 'failed' WHERE outcome IN ('pending', 'starting')")
    import_id = await _import(pool, 5)  # line 5 is invalid
    claimed = await imports_repo.claim(pool, 10, 300)
    assert [c.attempts for c in claimed] == [1, 1, 1, 1]
    # the process that claimed them stopped: after the stale period another claim takes them again
    await pool.execute(
        "UPDATE import_lines SET claimed_at = now() - interval '10 minutes' WHERE import_id = $1", import_id
    )
    again = await imports_repo.claim(pool, 10, 300)
    assert [(c.line, c.attempts) for c in again] == [(1, 2), (2, 2), (3, 2), (4, 2)]
    assert await imports_repo.finish(pool, [import_id]) == []  # lines still wait
    for c in again:
        await imports_repo.settle(pool, import_id, c.line, "started")
    assert await imports_repo.finish(pool, [import_id]) == [import_id]
    progress = await imports_repo.progress(pool, import_id)
    assert progress is not None
    assert (progress.started, progress.invalid, progress.waiting, progress.finished_at is not None) == (4, 1, 0, True)
