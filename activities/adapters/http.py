"""HTTP error policy shared by every adapter.

Answers that will not heal (400, 401, 403, 404, 409 unless the adapter handles it, 422) become
non-retryable ``ApplicationError``s with a clear type; 429 and 5xx and timeouts are retryable, and a
``Retry-After`` header sets the next retry's delay. Messages never contain credentials.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from temporalio.exceptions import ApplicationError

PERMANENT = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    422: "Unprocessable",
}


def retry_after(response: httpx.Response) -> timedelta | None:
    """The delay a ``Retry-After`` header asks for (seconds form), if any."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return timedelta(seconds=max(0.0, float(value)))
    except ValueError:
        return None


def check(response: httpx.Response, system: str) -> httpx.Response:
    """Return ``response`` if it succeeded, else raise the ``ApplicationError`` our retry policy expects."""
    if response.is_success:
        return response
    status = response.status_code
    body = response.text[:300]
    if status in PERMANENT:
        raise ApplicationError(
            f"{system} refused the request ({status} {PERMANENT[status]}): {body}",
            type=f"{system}{PERMANENT[status]}",
            non_retryable=True,
        )
    if status == 429 or status >= 500:
        raise ApplicationError(
            f"{system} is unavailable ({status}); will retry: {body}",
            type=f"{system}Unavailable",
            next_retry_delay=retry_after(response),
        )
    raise ApplicationError(f"{system} answered {status}: {body}", type=f"{system}Unexpected", non_retryable=True)


def timeout_error(system: str, err: httpx.TimeoutException | httpx.TransportError) -> ApplicationError:
    """A retryable error for a request that timed out or could not connect."""
    return ApplicationError(f"{system} did not answer: {type(err).__name__}", type=f"{system}Timeout")
