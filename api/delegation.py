"""Delegation: who may decide on whose behalf, in which roles, until when.

Two sources: the principals file's ``delegate: {to, until}`` and a person's own ``PUT /v1/me/delegate``
(kept in PostgreSQL); the person's own setting wins, including "none" to end a file's delegation early.
A delegate acts in the delegator's approver roles only, and not transitively (A → B → C does not let C
act for A). The workflow still applies separation of duties to both names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

import asyncpg
from pydantic import BaseModel, ConfigDict

from api.principals import Directory
from db import delegations_repo


class Delegation(BaseModel):
    """A delegation in force: ``delegate`` decides in ``roles`` for ``delegator`` until ``until``."""

    model_config = ConfigDict(frozen=True)

    delegator: str
    delegate: str
    roles: list[str]
    until: datetime
    #: ``file`` (the principals file) or ``self`` (the delegator set it through the API)
    source: Literal["file", "self"]


def naming(in_force: Mapping[str, Delegation], delegate: str) -> list[Delegation]:
    """Of the delegations ``in_force``, those that name ``delegate``, by delegator."""
    return sorted((d for d in in_force.values() if d.delegate == delegate.lower()), key=lambda d: d.delegator)


class Delegations:
    """Reads the delegations in force from both sources."""

    def __init__(self, pool: asyncpg.Pool, directory: Directory) -> None:
        self._pool = pool
        self._directory = directory

    async def active(self, now: datetime | None = None) -> dict[str, Delegation]:
        """The delegations in force at ``now`` (default: now), by delegator."""
        moment = now or datetime.now(UTC)
        own = {row.delegator: row for row in await delegations_repo.all_rows(self._pool)}
        found = {
            f.delegator: Delegation(**f.model_dump(), source="file")
            for f in self._directory.delegations()
            if f.delegator not in own
        }
        for row in own.values():
            if row.delegate is not None and row.until is not None:
                found[row.delegator] = Delegation(
                    delegator=row.delegator, delegate=row.delegate, roles=row.roles, until=row.until, source="self"
                )
        return {who: d for who, d in found.items() if d.until > moment}

    async def delegates(self) -> dict[str, str]:
        """Who receives each delegator's notices now: ``{delegator: delegate}``."""
        return {who: d.delegate for who, d in (await self.active()).items()}

    async def of(self, delegator: str) -> Delegation | None:
        """``delegator``'s delegation in force, if any."""
        return (await self.active()).get(delegator.lower())

    async def acting_for(self, delegate: str) -> list[Delegation]:
        """The delegations in force that name ``delegate``, by delegator."""
        return naming(await self.active(), delegate)

    async def refusal(self, *, delegate: str, delegator: str, role: str) -> str | None:
        """Why ``delegate`` may not decide as ``role`` for ``delegator`` now, or None when they may."""
        found = await self.of(delegator)
        if found is None or found.delegate != delegate.lower():
            return f"{delegator} has not delegated their decisions to {delegate}, or the delegation has ended"
        if role not in found.roles:
            held = ", ".join(found.roles) or "no approver role"
            return f"{delegator} delegated {held} to {delegate}, not {role}"
        return None
