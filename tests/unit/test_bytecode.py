"""A worker writes the bytecode of the sandboxed packages, even where Python would not write it on import."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

from worker.bytecode import compile_sandboxed_code, install_code_cache
from workflows import gates


def test_sandboxed_modules_get_current_bytecode() -> None:
    assert gates.__file__ is not None
    source = Path(gates.__file__)
    cached = Path(importlib.util.cache_from_source(str(source)))
    cached.unlink(missing_ok=True)
    assert compile_sandboxed_code()
    assert cached.is_file()
    assert cached.stat().st_mtime >= source.stat().st_mtime


def _fresh_import(name: str) -> object:
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def test_the_code_cache_runs_each_import_from_one_code_object_per_source_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "cachedprobe"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    module = package / "logic.py"
    module.write_text("def answer() -> int:\n    return 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    install_code_cache(("cachedprobe",))
    try:
        first, second = _fresh_import("cachedprobe.logic"), _fresh_import("cachedprobe.logic")
        assert first is not second  # the module body ran twice (as the sandbox runs it per instance) ...
        assert first.answer.__code__ is second.answer.__code__  # type: ignore[attr-defined]  # ... from one code object
        module.write_text("def answer() -> int:\n    return 22\n", encoding="utf-8")  # a new version of the source
        changed = _fresh_import("cachedprobe.logic")
        assert changed.answer() == 22  # type: ignore[attr-defined]
    finally:
        for name in ("cachedprobe.logic", "cachedprobe"):
            sys.modules.pop(name, None)


def test_workers_load_workflow_modules_through_the_cache() -> None:
    install_code_cache()
    import workflows

    # the finder the sandbox's imports meet first (importing again here would replace the test's modules)
    spec = sys.meta_path[0].find_spec("workflows.gates", list(workflows.__path__))
    assert spec is not None
    assert type(spec.loader).__name__ == "_CachedSourceLoader"
