"""Bytecode for the modules the workflow sandbox imports again for every workflow it runs.

The sandbox re-imports liftoff's workflow logic (``workflows``) for each workflow instance, so that
it can check it. Without bytecode on disk each of those imports compiles the source again: measured
with ``bench.lifecycle`` under ``PYTHONDONTWRITEBYTECODE=1`` (as on these machines), the real/floor
ratio went from 0.70 to 0.79 once the bytecode existed. Installed images have it already (the
Dockerfile compiles the wheel); a source checkout gets it here, once, when a worker is built.
"""

from __future__ import annotations

import compileall
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import CodeType, ModuleType
from typing import ClassVar

#: Packages the sandbox imports per workflow instance (the rest are passed through, imported once).
SANDBOXED_PACKAGES = ("workflows",)


def compile_sandboxed_code() -> bool:
    """Write missing or stale bytecode for the sandboxed packages; False if a directory is read-only."""
    root = Path(__file__).resolve().parent.parent
    ok = True
    for package in SANDBOXED_PACKAGES:
        directory = root / package
        if directory.is_dir():
            ok = bool(compileall.compile_dir(directory, quiet=2)) and ok
    return ok


class _CachedSourceLoader(importlib.machinery.SourceFileLoader):
    """Loads a module's code object once per source version and hands the same one to every import.

    A code object is immutable, so every sandboxed copy of a module can execute the same one: the sandbox
    still runs the module's body anew, under its restrictions, for each workflow instance.
    """

    _codes: ClassVar[dict[tuple[str, float, int], CodeType]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def get_code(self, fullname: str) -> CodeType:
        """The code of ``fullname``, read and unmarshalled (or compiled) only when its source changed."""
        stats = self.path_stats(self.path)
        key = (self.path, float(stats["mtime"]), int(stats["size"]))
        code = self._codes.get(key)
        if code is None:
            loaded = super().get_code(fullname)
            if loaded is None:  # pragma: no cover - a source file always has code
                msg = f"no code for {fullname}"
                raise ImportError(msg)
            code = loaded
            with self._lock:
                self._codes[key] = code
        return code


class _SandboxedCodeFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of the sandboxed packages once, then gives each import a fresh spec with the cache."""

    def __init__(self, packages: frozenset[str]) -> None:
        self.packages = packages
        self._found: dict[str, tuple[str, list[str] | None]] = {}

    def _covers(self, fullname: str) -> bool:
        return any(fullname == p or fullname.startswith(f"{p}.") for p in self.packages)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec whose loader caches code, for modules of the covered packages; None for the rest."""
        del target
        if not self._covers(fullname):
            return None
        found = self._found.get(fullname)
        if found is None:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader) or not spec.origin:
                return spec
            locations = spec.submodule_search_locations
            found = (spec.origin, list(locations) if locations is not None else None)
            self._found[fullname] = found
        origin, locations = found
        return importlib.util.spec_from_file_location(
            fullname, origin, loader=_CachedSourceLoader(fullname, origin), submodule_search_locations=locations
        )


def install_code_cache(packages: Sequence[str] = SANDBOXED_PACKAGES) -> None:
    """Serve the code of ``packages`` from memory to every import in this process (idempotent).

    The sandbox imports liftoff's workflow modules again for each workflow instance: without this, each
    import finds the file, reads its bytecode and unmarshals it (about a fifth of creating an instance,
    profiled with ``bench.lifecycle``); with it, only the module body runs.
    """
    with _FINDER_LOCK:
        for finder in sys.meta_path:
            if isinstance(finder, _SandboxedCodeFinder):
                finder.packages = finder.packages | frozenset(packages)
                return
        sys.meta_path.insert(0, _SandboxedCodeFinder(frozenset(packages)))


_FINDER_LOCK = threading.Lock()
