"""Making text storable: PostgreSQL text and jsonb refuse NUL characters and unpaired surrogates."""

from __future__ import annotations

from typing import Any


def storable_text(value: str) -> str:
    """``value`` without NUL characters, unpaired surrogates replaced by U+FFFD."""
    cleaned = value.replace("\x00", "")
    try:
        cleaned.encode("utf-8")
    except UnicodeEncodeError:
        # In a Python string every surrogate code point is unpaired (a pair would be one code point).
        cleaned = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in cleaned)
    return cleaned


def storable(value: Any) -> Any:  # noqa: ANN401 - any JSON-like value
    """``value`` with every string (keys included) made storable; other values unchanged."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value
