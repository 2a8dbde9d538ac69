"""The start input of an initiative's workflow, as the API builds it for a submission and for an import."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from schemas.contract import workflow_id_for
from schemas.imported_start import ImportedStart
from schemas.initiative import InitiativeSpec, StartInitiativeInput
from schemas.start_signature import sign_start

if TYPE_CHECKING:  # the context holds the import runner, which builds starts
    from api.context import ApiContext


def new_start(
    ctx: ApiContext,
    *,
    initiative_id: str,
    spec: InitiativeSpec,
    submitter: str,
    submitted_at: datetime,
    imported: ImportedStart | None = None,
) -> StartInitiativeInput:
    """The policy, roster and team in force now; signed when the API has the approval secret.

    Workers run only start inputs liftoff signed: the policy, roster and team are then enforced as sent.
    """
    start = StartInitiativeInput(
        initiative_id=initiative_id,
        spec=spec,
        submitter=submitter,
        submitted_at_iso=submitted_at.isoformat(),
        policy=ctx.policy,
        roster=ctx.directory.roster(),
        team_actors=ctx.directory.team_actors(spec.team),
        tokens_prove_roles=ctx.oidc is not None,
        ui_base_url=ctx.ui_base_url,
        imported=imported,
    )
    if ctx.approval_secret is None:
        return start
    signature = sign_start(
        ctx.approval_secret,
        workflow_id=workflow_id_for(initiative_id),
        payload=start.model_dump(mode="json"),
        now=datetime.now(UTC),
    )
    return start.model_copy(update={"signature": signature})
