"""What anyone may send: text that PostgreSQL and JSON can hold, finite numbers within sane bounds.

A NUL character, an unpaired surrogate or an infinite number passes Python and pydantic but not the
event log (PostgreSQL text and jsonb refuse them), so one of them in a decision used to wedge the
initiative while ``record_events`` retried. API bodies refuse them at the model (422 naming the field);
workflow payloads, which are decoded again on every replay and therefore keep their old types, are
checked by the validators with :func:`payload_problem`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

#: Money (budgets, spend) in USD: a trillion is beyond any initiative and far from float overflow.
MAX_USD = 1e12
#: A reported metric or criterion target, in whatever unit (accuracy, latency, throughput).
MAX_METRIC = 1e12
#: GPUs, integrations and other counts on a submission.
MAX_COUNT = 100_000
#: Storage in TB, expected peak requests per second.
MAX_QUANTITY = 1e9
#: Metrics per PoC submission and criteria per initiative.
MAX_METRICS = 100
#: Free text (comments, details, justifications, summaries).
MAX_TEXT = 5000


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or ``None``."""
    if "\x00" in value:
        return "must not contain NUL (\\u0000) characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired surrogate characters"
    return None


def number_problem(value: float, bound: float = MAX_METRIC) -> str | None:
    """Why ``value`` is not a usable number (not finite, or beyond ``±bound``), or ``None``."""
    if not math.isfinite(value):
        return "must be a finite number"
    if abs(value) > bound:
        return f"must be between {-bound:g} and {bound:g}"
    return None


def _storable(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


#: What a blank string is made of; stripped from both ends of names and required text.
BLANKS = " \t\n\r\x0b\x0c"
#: The rules above as JSON Schema patterns, so a client (or a schema fuzzer) knows them from ``/openapi.json``.
#: They name the characters explicitly: ``\s`` means different things in ECMA, Python and Rust regexes.
NO_NUL_PATTERN = r"^[^\x00]*$"
NOT_BLANK_PATTERN = r"^[^\x00]*[^\x00\t\n\x0b\x0c\r ][^\x00]*$"


def _said(value: str) -> str:
    stripped = _storable(value).strip(BLANKS)
    if not stripped:
        msg = "must not be blank"
        raise ValueError(msg)
    return stripped


Storable = AfterValidator(_storable)
_NoNul = Field(json_schema_extra={"pattern": NO_NUL_PATTERN})
_NotBlank = Field(json_schema_extra={"pattern": NOT_BLANK_PATTERN})
#: Free text, possibly empty.
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT), Storable, _NoNul]
#: Free text that must say something (surrounding blanks are dropped).
RequiredText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT), AfterValidator(_said), _NotBlank]
#: A title, team, business unit, metric or similar name.
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_said), _NotBlank]
#: An identifier such as a finding id (``F-1``).
ShortId = Annotated[str, StringConstraints(min_length=1, max_length=20), AfterValidator(_said), _NotBlank]
#: An email address as a directory knows it: one ``@``, no blanks or control characters, stored lower-case.
#: (Deliberately not RFC 5322 / email-validator: sponsors are identities, and ``x@corp.local`` is a real one.)
EMAIL_PATTERN = r"^[^@\x00-\x20\x7f]+@[^@\x00-\x20\x7f]+$"
EmailAddress = Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN, to_lower=True), Storable]


def keys_named(schema: dict[str, Any]) -> None:
    """JSON Schema of a ``dict[Name, X]``: the key rules under ``propertyNames``, the value schema for every key.

    Pydantic puts a key pattern in ``patternProperties``, which leaves keys that do not match it unconstrained.
    """
    patterned = schema.pop("patternProperties", None)
    if isinstance(patterned, dict) and len(patterned) == 1:
        ((pattern, value_schema),) = patterned.items()
        schema["additionalProperties"] = value_schema
        schema.setdefault("propertyNames", {})["pattern"] = pattern


#: A query's page offset and size.
MAX_OFFSET = 10_000_000


#: A moment as text: ISO 8601 with a year from 1971 to 2999 (so that any UTC offset stays within 1970 to 3000).
MOMENT_PATTERN = r"^(197[1-9]|19[89][0-9]|2[0-9]{3})-"
_MOMENT_TEXT = re.compile(MOMENT_PATTERN)
_MOMENT_RANGE = "must be an ISO 8601 time in the years 1971 to 2999"


def _moment_text(value: object) -> object:
    if not isinstance(value, (str, datetime)):  # a number would be read as seconds since 1970: not what was meant
        raise ValueError(_MOMENT_RANGE)  # noqa: TRY004 - a validation error (422), as pydantic expects
    if isinstance(value, str) and not _MOMENT_TEXT.match(value):
        raise ValueError(_MOMENT_RANGE)
    return value


def _moment(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        utc = aware.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not 1970 <= utc.year <= 3000:
        raise ValueError(_MOMENT_RANGE)
    return utc


#: A point in time a person may ask about (a filter): made aware (UTC if no offset), in the years 1971 to 2999.
Moment = Annotated[
    datetime,
    BeforeValidator(_moment_text),
    AfterValidator(_moment),
    Field(json_schema_extra={"pattern": MOMENT_PATTERN}),
]
Usd = Annotated[float, Field(ge=0, le=MAX_USD, allow_inf_nan=False)]
Metric = Annotated[float, Field(ge=-MAX_METRIC, le=MAX_METRIC, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Quantity = Annotated[float, Field(ge=0, le=MAX_QUANTITY, allow_inf_nan=False)]


def payload_problem(value: Any, path: str = "") -> str | None:  # noqa: ANN401, PLR0911 - any decoded payload
    """The first field of a decoded payload that storage would refuse, as ``"field: why"``; else ``None``.

    Walks strings (keys too), numbers and nested containers; booleans and ``None`` pass.
    """
    where = path or "payload"
    if isinstance(value, str):
        problem = text_problem(value)
        return f"{where} {problem}" if problem else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return f"{where} must be between {-MAX_METRIC:g} and {MAX_METRIC:g}" if abs(value) > MAX_METRIC else None
    if isinstance(value, float):
        problem = number_problem(value)
        return f"{where} {problem}" if problem else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            problem = payload_problem(str(key), f"{name} (key)") or payload_problem(item, name)
            if problem:
                return problem
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = payload_problem(item, f"{where}[{index}]")
            if problem:
                return problem
    return None
