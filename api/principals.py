"""The principals directory: who may call the API, with which roles and teams.

The file holds only SHA-256 hashes of bearer tokens, never the tokens themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.stages import APPROVER_ROLES, Role


class Principal(BaseModel):
    """An authenticated caller."""

    model_config = ConfigDict(frozen=True)

    email: str
    roles: frozenset[Role]
    teams: frozenset[str] = frozenset()

    def has(self, role: Role) -> bool:
        """Whether the principal holds ``role``."""
        return role in self.roles

    def in_team(self, team: str) -> bool:
        """Whether the principal belongs to ``team`` (admins belong everywhere)."""
        return team in self.teams or Role.ADMIN in self.roles


class DelegateEntry(BaseModel):
    """``delegate: {to, until}``: someone decides in this person's approver roles until a time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)
    until: AwareDatetime


class PrincipalEntry(BaseModel):
    """One entry of the principals file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    roles: list[Role]
    teams: list[str] = Field(default_factory=list)
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    delegate: DelegateEntry | None = None


class FileDelegation(BaseModel):
    """A delegation the principals file names (the person's own ``PUT /v1/me/delegate`` overrides it)."""

    model_config = ConfigDict(frozen=True)

    delegator: str
    delegate: str
    roles: list[str]
    until: datetime


class GroupEntry(BaseModel):
    """Roles and teams that membership of an identity provider's group grants."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str = Field(min_length=1, max_length=200)
    roles: list[Role]
    teams: list[str] = Field(default_factory=list)
    #: the group's mailing address: notices for its roles go there when no person is named (identity provider)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")


class PrincipalsFile(BaseModel):
    """``principals: [{email, roles, teams, token_sha256}]`` and ``groups: [{group, roles, teams}]``.

    Static principals authenticate with a bearer token (service accounts, CI, the demo); with an identity
    provider (``LIFTOFF_OIDC_*``), people's roles and teams come from their groups.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    principals: list[PrincipalEntry] = Field(default_factory=list)
    groups: list[GroupEntry] = Field(default_factory=list)


def hash_token(token: str) -> str:
    """The hex SHA-256 of a bearer token, as stored in the principals file."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Directory:
    """Looks principals up by token (or by identity-provider groups) and derives the approver roster per role."""

    def __init__(self, entries: list[PrincipalEntry], groups: list[GroupEntry] | None = None) -> None:
        self._by_hash = {
            e.token_sha256: Principal(email=e.email.lower(), roles=frozenset(e.roles), teams=frozenset(e.teams))
            for e in entries
        }
        self._groups = {g.group: g for g in groups or ()}
        self._delegations = [
            FileDelegation(
                delegator=e.email.lower(),
                delegate=e.delegate.to.lower(),
                roles=sorted(r.value for r in e.roles if r in APPROVER_ROLES),
                until=e.delegate.until,
            )
            for e in entries
            if e.delegate is not None
        ]

    @classmethod
    def from_file(cls, path: Path) -> Directory:
        """Load and validate a principals file."""
        data = PrincipalsFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        return cls(data.principals, data.groups)

    def from_groups(self, email: str, groups: Iterable[str]) -> Principal:
        """The principal an identity provider vouches for: the roles and teams its groups grant."""
        mapped = [self._groups[g] for g in groups if g in self._groups]
        return Principal(
            email=email.lower(),
            roles=frozenset(role for g in mapped for role in g.roles),
            teams=frozenset(team for g in mapped for team in g.teams),
        )

    def addresses_for(self, role: str) -> list[str]:
        """Mailing addresses of the groups that grant ``role``, sorted."""
        return sorted({g.email for g in self._groups.values() if g.email and any(r.value == role for r in g.roles)})

    def delegations(self) -> list[FileDelegation]:
        """The delegations the file names (lapsed ones included: whoever reads them checks ``until``)."""
        return list(self._delegations)

    def knows(self, email: str) -> bool:
        """Whether ``email`` is one of the file's principals."""
        return any(p.email == email.lower() for p in self._by_hash.values())

    def authenticate(self, token: str) -> Principal | None:
        """The principal holding ``token``, if any."""
        return self._by_hash.get(hash_token(token))

    def team_actors(self, team: str) -> list[str]:
        """Who may take ``team``'s actions: its members holding a role other than viewer, and admins, sorted."""
        return sorted(
            p.email
            for p in self._by_hash.values()
            if Role.ADMIN in p.roles or (team in p.teams and p.roles - {Role.VIEWER})
        )

    def roster(self) -> dict[str, list[str]]:
        """Approver emails per approver role, sorted, for the workflow's start snapshot."""
        roster: dict[str, list[str]] = {role.value: [] for role in sorted(APPROVER_ROLES)}
        for principal in self._by_hash.values():
            for role in principal.roles:
                if role in APPROVER_ROLES:
                    roster[role.value].append(principal.email)
        return {role: sorted(set(emails)) for role, emails in roster.items()}
