"""SQL lives in ``db/queries/*.sql``; this reads each file once."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def sql(name: str) -> str:
    """The text of ``db/queries/<name>.sql``."""
    return resources.files("db").joinpath("queries", f"{name}.sql").read_text(encoding="utf-8")
