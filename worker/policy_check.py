"""``liftoff policy check FILE``: validate a policy override and show what it changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from schemas.policy_file import load_policy


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:  # noqa: ANN401 - any YAML value
    if isinstance(data, dict):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: data}


def policy_changes(path: Path) -> list[str]:
    """Readable lines ``key: default -> new`` for every value the file changes."""
    baseline = _flatten(load_policy().model_dump(mode="json"))
    changed = _flatten(load_policy(path).model_dump(mode="json"))
    lines = []
    for key in sorted(set(baseline) | set(changed)):
        before, after = baseline.get(key, "(absent)"), changed.get(key, "(absent)")
        if before != after:
            lines.append(f"  {key}: {before} -> {after}")
    return lines


def check_policy(path: Path) -> int:
    """Print the verdict and the changes; returns the exit code (0 valid, 1 invalid)."""
    try:
        policy = load_policy(path)
        lines = policy_changes(path)
    except FileNotFoundError:
        print(f"{path}: no such file")
        return 1
    except (ValidationError, ValueError, yaml.YAMLError) as err:
        print(f"{path}: invalid policy\n{err}")
        return 1
    print(f"{path}: valid (policy version {policy.version})")
    if lines:
        default_version = load_policy().version
        print(f"changes against the default ({default_version}):")
        print("\n".join(lines))
        if policy.version == default_version:
            print(
                "note: the file changes rules but keeps the default's version; give it its own `version` so "
                "every event says which rules applied"
            )
    else:
        print("no changes against the default")
    return 0
