"""Signed start inputs: the policy, roster and team a workflow enforces come from liftoff, not from its starter.

Anyone who may send an update in the namespace may also start an ``InitiativeWorkflow`` with any input,
for instance one whose quorum and roster are empty. The API signs the start input it builds (an HMAC over
the workflow id, a digest of the input without its signature, and a deadline for the start); the worker
refuses to run an unsigned or altered one, and signs what it starts itself (the next run on
continue-as-new, the rollout child). Pure functions (stdlib only): safe in the workflow sandbox.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

PREFIX = "s1"
#: A signed input must start within this long: a copied input cannot be started again later.
START_WITHIN = timedelta(minutes=10)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, claims_part: str) -> str:
    return _b64(hmac.new(secret, f"{PREFIX}.{claims_part}".encode("ascii"), hashlib.sha256).digest())


def start_digest(payload: Mapping[str, Any]) -> str:
    """Digest of a start input's JSON form without its ``signature``."""
    body = {k: v for k, v in payload.items() if k != "signature"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return _b64(hashlib.sha256(canonical.encode("utf-8")).digest())


def sign_start(secret: bytes, *, workflow_id: str, payload: Mapping[str, Any], now: datetime) -> str:
    """The signature for starting ``workflow_id`` with ``payload`` before ``now + START_WITHIN``."""
    claims = {"w": workflow_id, "h": start_digest(payload), "e": int((now + START_WITHIN).timestamp())}
    claims_part = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{PREFIX}.{claims_part}.{_mac(secret, claims_part)}"


def verify_start(  # noqa: PLR0911 - one return per reason, each a sentence an operator reads
    secret: bytes, *, workflow_id: str, payload: Mapping[str, Any], started_at: datetime
) -> str | None:
    """Why this start input may not run, or ``None`` when liftoff signed exactly it, for this workflow, in time."""
    signature = str(payload.get("signature") or "")
    if not signature:
        return "its start input carries no signature: it was not started through liftoff"
    parts = signature.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        return "its start input's signature is malformed"
    _, claims_part, mac = parts
    if not hmac.compare_digest(mac, _mac(secret, claims_part)):
        return "its start input's signature is invalid (forged, or signed with another secret)"
    try:
        claims = json.loads(_unb64(claims_part))
    except ValueError:
        return "its start input's signature is malformed"
    if not isinstance(claims, dict):
        return "its start input's signature is malformed"
    if claims.get("w") != workflow_id:
        return f"its start input was signed for workflow {claims.get('w')!r}, not {workflow_id!r}"
    if claims.get("h") != start_digest(payload):
        return "its start input was altered after liftoff signed it (policy, roster, team or spec changed)"
    if started_at > datetime.fromtimestamp(int(claims.get("e", 0)), tz=UTC):
        return "its start input was signed for a start that should have happened earlier (a copied input)"
    return None
