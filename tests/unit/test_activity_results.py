"""Activity results are models, and the bare values older histories recorded still decode into them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.events import RecordedEvents
from schemas.integrations import HealthCheck
from worker.temporal_client import DATA_CONVERTER


def _decoded(value: object, kind: type) -> object:
    payload = DATA_CONVERTER.payload_converter.to_payloads([value])
    return DATA_CONVERTER.payload_converter.from_payloads(payload, [kind])[0]


def test_bare_values_of_older_histories_decode() -> None:
    assert _decoded(3, RecordedEvents) == RecordedEvents(new=3)
    assert _decoded(False, HealthCheck) == HealthCheck(healthy=False)
    assert _decoded(True, HealthCheck) == HealthCheck(healthy=True)


def test_models_round_trip_and_refuse_nonsense() -> None:
    assert _decoded(RecordedEvents(new=2), RecordedEvents) == RecordedEvents(new=2)
    assert _decoded(HealthCheck(healthy=True), HealthCheck) == HealthCheck(healthy=True)
    with pytest.raises(ValidationError):
        RecordedEvents.model_validate(True)  # a boolean is not a count
    with pytest.raises(ValidationError):
        HealthCheck.model_validate(1)
