"""Demo principals for ``liftoff dev``: one person per role, tokens kept beside the data."""

from __future__ import annotations

import secrets
from pathlib import Path

import yaml

from api.principals import hash_token

DEMO_TEAM = "ml-platform"

#: email, roles, teams
DEMO_PEOPLE: tuple[tuple[str, list[str], list[str]], ...] = (
    ("alice@demo.liftoff", ["submitter"], [DEMO_TEAM]),
    ("paula@demo.liftoff", ["portfolio"], []),
    ("bob@demo.liftoff", ["business_owner"], []),
    ("ian@demo.liftoff", ["infrastructure"], []),
    ("olga@demo.liftoff", ["it_operations"], []),
    ("sam@demo.liftoff", ["security"], []),
    ("carl@demo.liftoff", ["compliance"], []),
    ("ada@demo.liftoff", ["admin"], []),
    ("vic@demo.liftoff", ["viewer"], []),
)


def ensure_demo_principals(data_dir: Path) -> tuple[Path, dict[str, str]]:
    """Write (once) a principals file and its tokens under ``data_dir``; returns the file and email→token.

    The principals file holds only hashes, as a real one must; the plain tokens sit in
    ``demo-tokens.yaml`` next to it so that restarts print the same tokens.
    """
    principals_path = data_dir / "principals.yaml"
    tokens_path = data_dir / "demo-tokens.yaml"
    if principals_path.exists() and tokens_path.exists():
        tokens: dict[str, str] = yaml.safe_load(tokens_path.read_text(encoding="utf-8"))
        return principals_path, tokens
    data_dir.mkdir(parents=True, exist_ok=True)
    tokens = {email: f"demo-{email.split('@')[0]}-{secrets.token_urlsafe(12)}" for email, _, _ in DEMO_PEOPLE}
    principals = [
        {"email": email, "roles": roles, "teams": teams, "token_sha256": hash_token(tokens[email])}
        for email, roles, teams in DEMO_PEOPLE
    ]
    principals_path.write_text(yaml.safe_dump({"principals": principals}, sort_keys=False), encoding="utf-8")
    tokens_path.write_text(yaml.safe_dump(tokens, sort_keys=False), encoding="utf-8")
    tokens_path.chmod(0o600)
    return principals_path, tokens
