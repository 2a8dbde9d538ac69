"""Reading the policy: the default shipped with liftoff, overridden key by key by a user file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from schemas.policy import Policy


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def default_policy_data() -> dict[str, Any]:
    """The default policy as plain data."""
    text = resources.files("schemas").joinpath("default_policy.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def load_policy(path: Path | None = None) -> Policy:
    """The default policy with the keys of ``path`` (if given) laid over it, validated."""
    override: Any = {}
    if path is not None:
        override = yaml.safe_load(path.read_text(encoding="utf-8"))
        if override is None:  # an empty file changes nothing
            override = {}
        if not isinstance(override, dict):
            msg = f"{path}: a policy file must be a YAML mapping"
            raise ValueError(msg)
    return policy_with(override)


def policy_with(override: dict[str, Any]) -> Policy:
    """The default policy with ``override``'s keys laid over it (a policy file's content), validated."""
    policy = Policy.model_validate(_deep_merge(default_policy_data(), override))
    _check_time_zones(policy)
    return policy


def _check_time_zones(policy: Policy) -> None:
    """Refuse a time zone this machine does not know.

    Checked here, not in the model: the workflow decodes policies in its sandbox, where a zone lookup reads files.
    """
    notices = policy.notices
    for where, zone in (
        ("notifications.quiet_hours.timezone", notices.quiet_hours.timezone if notices.quiet_hours else None),
        ("notifications.digest.timezone", notices.digest.timezone if notices.digest else None),
    ):
        if zone is None:
            continue
        try:
            ZoneInfo(zone)
        except (ValueError, ZoneInfoNotFoundError) as err:
            msg = f"{where}: unknown time zone {zone!r} (an IANA name such as Europe/Berlin)"
            raise ValueError(msg) from err
