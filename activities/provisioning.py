"""Provisioning: the protocol, the built-in adapter (``provisioned_resources``) and the activities."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Protocol

import asyncpg
import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.metrics import adapter_call
from db import resources_repo
from db.queries import sql
from db.resources_repo import resource_expiry, resource_spec
from schemas.integrations import DeprovisionInput, HealthCheck, ProvisionInput, RenewInput, Resource, ResourceRef


class Provisioner(Protocol):
    """Anything that can create environments (built-in table, Kubernetes, a webhook)."""

    async def provision(self, inp: ProvisionInput) -> Resource:
        """Create the environment, or return the one made with the same idempotency key."""
        ...

    async def deprovision(self, inp: DeprovisionInput) -> Resource:
        """Tear it down; tearing down twice is harmless."""
        ...

    async def status(self, ref: str) -> Resource:
        """The environment's current state."""
        ...

    async def renew(self, inp: RenewInput) -> Resource:
        """Extend the resource's time to live from now."""
        ...


class BuiltinProvisioner:
    """Environments recorded in liftoff's own PostgreSQL; needs nothing else running."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def provision(self, inp: ProvisionInput) -> Resource:
        """Record the environment as ready."""
        ref = f"env-{uuid.uuid5(uuid.NAMESPACE_URL, inp.idempotency_key).hex[:12]}"
        row = await self._pool.fetchrow(
            sql("resource_provision"),
            ref,
            inp.idempotency_key,
            inp.initiative_id,
            inp.environment,
            resource_spec(inp),
            inp.budget_usd,
            resource_expiry(inp),
        )
        if row is None:
            row = await self._pool.fetchrow(sql("resource_get"), ref)
        if row is None:
            msg = f"resource {ref} vanished after being provisioned"
            raise RuntimeError(msg)
        return Resource.model_validate(dict(row))

    async def deprovision(self, inp: DeprovisionInput) -> Resource:
        """Mark the environment deprovisioned."""
        row = await self._pool.fetchrow(sql("resource_deprovision"), inp.ref)
        if row is None:
            msg = f"no resource {inp.ref}"
            raise ApplicationError(msg, type="ResourceNotFound", non_retryable=True)
        return Resource.model_validate(dict(row))

    async def status(self, ref: str) -> Resource:
        """Read the environment."""
        row = await self._pool.fetchrow(sql("resource_get"), ref)
        if row is None:
            msg = f"no resource {ref}"
            raise ApplicationError(msg, type="ResourceNotFound", non_retryable=True)
        return Resource.model_validate(dict(row))

    async def renew(self, inp: RenewInput) -> Resource:
        """Push the expiry ``ttl_seconds`` from now."""
        expires = datetime.now(UTC) + timedelta(seconds=inp.ttl_seconds)
        row = await self._pool.fetchrow(sql("resource_renew"), inp.ref, expires)
        if row is None:
            msg = f"no resource {inp.ref}"
            raise ApplicationError(msg, type="ResourceNotFound", non_retryable=True)
        return Resource.model_validate(dict(row))


class ProvisioningActivities:
    """Activities over whichever provisioner the worker was built with."""

    def __init__(
        self, provisioner: Provisioner, *, ledger: asyncpg.Pool | None = None, health_url: str | None = None
    ) -> None:
        """``ledger``: the database where every resource and its cost is recorded (``provisioned_resources``)."""
        self._provisioner = provisioner
        self._ledger = ledger
        self._health_url = health_url

    @activity.defn(name="provision")
    async def provision(self, inp: ProvisionInput) -> Resource:
        """Provision (idempotently) an environment."""
        with adapter_call(self._provisioner, "provision"):
            resource = await self._provisioner.provision(inp)
        if self._ledger is not None:
            # after the provisioner: a failure here retries the activity, and provisioning again is idempotent;
            # the built-in provisioner has written the row already, and its cost still reaches the report rollups
            await resources_repo.record(self._ledger, inp, resource)
        activity.logger.info(
            "provisioned", extra={"ref": resource.ref, "environment": inp.environment, "cost_usd": resource.cost_usd}
        )
        return resource

    @activity.defn(name="deprovision")
    async def deprovision(self, inp: DeprovisionInput) -> Resource:
        """Deprovision an environment."""
        with adapter_call(self._provisioner, "deprovision"):
            resource = await self._provisioner.deprovision(inp)
        if self._ledger is not None:
            await resources_repo.mark_deprovisioned(self._ledger, inp.ref)
        activity.logger.info("deprovisioned", extra={"ref": resource.ref})
        return resource

    @activity.defn(name="renew_resource")
    async def renew_resource(self, inp: RenewInput) -> Resource:
        """Extend an environment's time to live."""
        with adapter_call(self._provisioner, "renew"):
            resource = await self._provisioner.renew(inp)
        activity.logger.info("renewed", extra={"ref": resource.ref, "ttl_seconds": inp.ttl_seconds})
        return resource

    @activity.defn(name="check_health")
    async def check_health(self, inp: ResourceRef) -> HealthCheck:
        """Canary health check: the configured health URL answers 2xx, else the provisioner reports it ready."""
        if self._health_url:
            url = self._health_url.format(ref=inp.ref)
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.get(url)
            except httpx.HTTPError as err:
                activity.logger.warning("canary unreachable", extra={"ref": inp.ref, "error": type(err).__name__})
                return HealthCheck(healthy=False)
            healthy = response.is_success
        else:
            with adapter_call(self._provisioner, "status"):
                healthy = (await self._provisioner.status(inp.ref)).status in {"ready", "live"}
        activity.logger.info("canary health check", extra={"ref": inp.ref, "healthy": healthy})
        return HealthCheck(healthy=healthy)

    @activity.defn(name="promote_release")
    async def promote_release(self, inp: ResourceRef) -> Resource:
        """Promote the canary: the environment must still be ready; it then takes production traffic."""
        with adapter_call(self._provisioner, "status"):
            resource = await self._provisioner.status(inp.ref)
        if resource.status not in {"ready", "live"}:
            msg = f"environment {inp.ref} is {resource.status}, not ready to promote"
            raise ApplicationError(msg, type="PromotionFailed", non_retryable=True)
        activity.logger.info("promoted", extra={"ref": inp.ref})
        return resource
