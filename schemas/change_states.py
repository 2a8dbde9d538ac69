"""One vocabulary for a change ticket's state: approved, rejected, or not decided yet.

Used by the rollout when it polls the ticket and by the ticket webhooks, so the two can never disagree.
States are compared lower-case, as Jira's status names and the ServiceNow adapter's state names arrive.

Approved: the change was approved, or went on to a stage that a change reaches only once approved
(ServiceNow's scheduled, implement, review and successfully closed; Jira Service Management's
"awaiting implementation", "implementing", "completed"; a plain workflow's "done"). Rejected: declined,
cancelled, won't do, or closed unsuccessfully. "In progress" decides nothing: in a plain Jira workflow it
says someone is working on the ticket, not that the change board agreed.
"""

from __future__ import annotations

APPROVED = frozenset(
    {
        "approved",
        "scheduled",
        "implement",
        "review",
        "closed",
        "done",
        "completed",
        "awaiting implementation",
        "implementing",
    }
)
REJECTED = frozenset({"rejected", "declined", "cancelled", "canceled", "won't do", "wont do", "wont_do", "failed"})


def change_verdict(state: str) -> bool | None:
    """True when ``state`` means the change is approved, False when rejected, None when not decided."""
    normalized = " ".join(state.strip().lower().split())
    if normalized in APPROVED:
        return True
    if normalized in REJECTED:
        return False
    return None
