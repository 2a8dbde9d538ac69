"""A worker writes the bytecode of the sandboxed packages, even where Python would not write it on import."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from worker.bytecode import compile_sandboxed_code
from workflows import gates


def test_sandboxed_modules_get_current_bytecode() -> None:
    assert gates.__file__ is not None
    source = Path(gates.__file__)
    cached = Path(importlib.util.cache_from_source(str(source)))
    cached.unlink(missing_ok=True)
    assert compile_sandboxed_code()
    assert cached.is_file()
    assert cached.stat().st_mtime >= source.stat().st_mtime
