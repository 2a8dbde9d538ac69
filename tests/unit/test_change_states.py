"""One vocabulary for change tickets: the rollout's polling and the webhooks decide the same way."""

from __future__ import annotations

import pytest

from api.routes import ticket_events
from schemas.change_states import change_verdict
from workflows import rollout


@pytest.mark.parametrize(
    ("state", "verdict"),
    [
        ("Approved", True),
        ("scheduled", True),
        ("implement", True),
        ("closed", True),  # ServiceNow: closed successfully (unsuccessful arrives as "failed")
        ("Done", True),
        ("Awaiting  Implementation", True),
        ("Declined", False),
        ("Won't Do", False),
        ("failed", False),
        ("cancelled", False),
        ("In Progress", None),  # the latent bug: polling counted this as approved, the webhook did not
        ("in_progress", None),
        ("authorize", None),
        ("", None),
    ],
)
def test_a_change_state_means_one_thing(state: str, verdict: bool | None) -> None:
    assert change_verdict(state) is verdict


def test_polling_and_webhooks_share_the_function() -> None:
    assert vars(rollout)["change_verdict"] is change_verdict
    assert vars(ticket_events)["change_verdict"] is change_verdict
    assert not hasattr(ticket_events, "APPROVED")
    assert not hasattr(rollout, "APPROVED_STATES")
