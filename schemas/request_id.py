"""The request id: one id per HTTP request, in the API's logs, its answer and the workflow's logs of its decision.

The API takes a client's ``X-Request-ID`` when it is a plain token (letters, digits, ``-_.:``, at most 64),
otherwise makes one. It travels to Temporal as the header ``liftoff-request-id`` of the update or start
(``worker/request_id.py``), where the workflow logs the decision with it.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

HEADER = "liftoff-request-id"
_PLAIN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

#: The current request's id in the API process (empty outside a request).
current_request_id: ContextVar[str] = ContextVar("liftoff_request_id", default="")


def request_id_from(offered: str | None) -> str:
    """``offered`` when it is a plain token, else a new id."""
    if offered and _PLAIN.match(offered):
        return offered
    return uuid.uuid4().hex
