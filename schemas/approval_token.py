"""Signed approval tokens: proof that an authenticated approver, not whoever typed an email, decided.

The API signs a token for an authenticated principal; the worker verifies it before the validator
runs. A token names the initiative, stage, action, role and person it was issued for and when it
expires, in a readable claims part, so a refusal can say exactly what did not match. Pure functions
(stdlib only): safe inside the workflow sandbox and deterministic for a given ``now``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

TOKEN_PREFIX = "v1"  # noqa: S105 - a format version, not a secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, claims_part: str) -> str:
    return _b64(hmac.new(secret, f"{TOKEN_PREFIX}.{claims_part}".encode("ascii"), hashlib.sha256).digest())


def sign_token(
    secret: bytes,
    *,
    initiative_id: str,
    stage: str,
    action: str,
    role: str,
    person: str,
    expires_at: datetime,
) -> str:
    """A token for ``person`` to send ``action`` as ``role`` on ``initiative_id`` while at ``stage``."""
    claims = {
        "i": initiative_id,
        "s": stage,
        "a": action,
        "r": role,
        "p": person.lower(),
        "e": int(expires_at.timestamp()),
    }
    claims_part = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{TOKEN_PREFIX}.{claims_part}.{_mac(secret, claims_part)}"


def verify_token(
    secret: bytes,
    token: str,
    *,
    initiative_id: str,
    stage: str,
    action: str,
    role: str,
    person: str,
    now: datetime,
) -> str | None:
    """Why ``token`` does not authorise this decision, or ``None`` when it does."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return "the approval token is malformed; request a new one"
    _, claims_part, mac = parts
    if not hmac.compare_digest(mac, _mac(secret, claims_part)):
        return "the approval token's signature is invalid (forged, altered or signed with another secret)"
    try:
        claims = json.loads(_unb64(claims_part))
    except ValueError:
        return "the approval token is malformed; request a new one"
    expected = {"i": initiative_id, "a": action, "r": role, "p": person.lower(), "s": stage}
    labels = {"i": "initiative", "a": "action", "r": "role", "p": "approver", "s": "stage"}
    for key, want in expected.items():
        if claims.get(key) != want:
            return (
                f"the approval token was issued for {labels[key]} {claims.get(key)!r}, not {want!r}; request a new one"
            )
    expires = datetime.fromtimestamp(int(claims.get("e", 0)), tz=UTC)
    if now >= expires:
        return f"the approval token expired at {expires.isoformat()}; request a new one"
    return None
