"""Signed approval tokens: proof that an authenticated approver, not whoever typed an email, decided.

The API signs a token for an authenticated principal and one exact decision; the worker verifies it
before the validator runs. A token names the initiative, stage, action, role and person it was issued
for, a digest of the decision's payload (everything but the token) and a nonce the workflow accepts
once, and when it expires. Tokens sit in workflow history in the clear, so neither another payload nor a
second use may get through with one. The claims are readable so a refusal can say exactly what did not
match. Pure functions (stdlib only): safe inside the workflow sandbox, deterministic for a given ``now``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

TOKEN_PREFIX = "v2"  # noqa: S105 - a format version, not a secret
_OLD_PREFIXES = ("v1",)
#: Optional payload fields that came after tokens did: left out of the digest while unset.
_LATER_FIELDS = frozenset({"on_behalf_of"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, claims_part: str) -> str:
    return _b64(hmac.new(secret, f"{TOKEN_PREFIX}.{claims_part}".encode("ascii"), hashlib.sha256).digest())


def payload_digest(payload: Mapping[str, Any]) -> str:
    """The digest a token binds: canonical JSON of the decision's payload without its token.

    Fields added to the payloads later (``on_behalf_of``) count only when set, so a payload that does not
    use them digests as it did before they existed: tokens already issued stay good across an upgrade.
    """
    body = {k: v for k, v in payload.items() if k != "token" and not (k in _LATER_FIELDS and v is None)}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return _b64(hashlib.sha256(canonical.encode("utf-8")).digest())


def sign_token(
    secret: bytes,
    *,
    initiative_id: str,
    stage: str,
    action: str,
    role: str,
    person: str,
    expires_at: datetime,
    digest: str,
    nonce: str,
) -> str:
    """A token for ``person`` to send exactly the payload of ``digest``, once, as ``action``/``role`` at ``stage``."""
    claims = {
        "i": initiative_id,
        "s": stage,
        "a": action,
        "r": role,
        "p": person.lower(),
        "e": int(expires_at.timestamp()),
        "h": digest,
        "n": nonce,
    }
    claims_part = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{TOKEN_PREFIX}.{claims_part}.{_mac(secret, claims_part)}"


def token_nonce(token: str | None) -> str | None:
    """The nonce a well-formed token carries (unverified: only for recording a token that was accepted)."""
    if not token:
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    try:
        nonce = json.loads(_unb64(parts[1])).get("n")
    except (ValueError, AttributeError):
        return None
    return nonce if isinstance(nonce, str) and nonce else None


def verify_token(  # noqa: PLR0911 - one return per reason, each a sentence the approver reads
    secret: bytes,
    token: str,
    *,
    initiative_id: str,
    stage: str,
    action: str,
    role: str,
    person: str,
    digest: str,
    now: datetime,
    spent: Callable[[str], bool] = lambda _: False,
) -> str | None:
    """Why ``token`` does not authorise this decision, or ``None`` when it does."""
    parts = token.split(".")
    if len(parts) == 3 and parts[0] in _OLD_PREFIXES:
        return "the approval token was issued by an older liftoff and is no longer accepted; request a new one"
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return "the approval token is malformed; request a new one"
    _, claims_part, mac = parts
    if not hmac.compare_digest(mac, _mac(secret, claims_part)):
        return "the approval token's signature is invalid (forged, altered or signed with another secret)"
    try:
        claims = json.loads(_unb64(claims_part))
    except ValueError:
        return "the approval token is malformed; request a new one"
    if not isinstance(claims, dict):
        return "the approval token is malformed; request a new one"
    expected = {"i": initiative_id, "a": action, "r": role, "p": person.lower(), "s": stage}
    labels = {"i": "initiative", "a": "action", "r": "role", "p": "approver", "s": "stage"}
    for key, want in expected.items():
        if claims.get(key) != want:
            return (
                f"the approval token was issued for {labels[key]} {claims.get(key)!r}, not {want!r}; request a new one"
            )
    if claims.get("h") != digest:
        return (
            "this decision differs from the one the approval token was issued for (a field was added, removed "
            "or changed); paste the payload exactly as issued, or request a token for this decision"
        )
    expires = datetime.fromtimestamp(int(claims.get("e", 0)), tz=UTC)
    if now >= expires:
        return f"the approval token expired at {expires.isoformat()}; request a new one"
    nonce = claims.get("n")
    if not isinstance(nonce, str) or not nonce:
        return "the approval token is malformed; request a new one"
    if spent(nonce):
        return "this approval token was already used for a decision; a token is good for one decision only"
    return None
