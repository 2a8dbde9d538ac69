"""A workflow that imports its logic the way liftoff's workflows now do: normally, so the sandbox checks it."""

from __future__ import annotations

from temporalio import workflow

from tests.workflows import probe_logic


@workflow.defn(name="SandboxedProbe")
class SandboxedProbe:
    """Calls a planted helper."""

    @workflow.run
    async def run(self, helper: str) -> str:
        """Return the named helper's answer (if the sandbox lets it run)."""
        return str(getattr(probe_logic, helper)())
