"""Apply a workflow task's jobs in one fixed order, however the SDK batches them into activations.

Why: the first run of a workflow task may see its jobs in two activations, while a replay of the same
task always sees them in one. It happens when a query reaches the worker between an activity's
completion and the workflow task that carries it: the SDK core replays the new events to answer the
query, so the workflow reacts to the completion (and schedules its next commands) in a first
activation, and the update that arrives with the task is applied in a second one. On replay both come
in one activation, where the Python SDK applies updates first: the update is accepted before the
commands that preceded it, and replay fails with ``[TMPRL1100] Nondeterminism error`` (13 of 576
initiatives after a Temporal outage; ``tests/histories/evidence_*``; upstream temporalio/sdk-python
#673 and #1591).

The fix pins one order that both paths produce: each resolution (activity, timer, child workflow)
is applied on its own and the workflow runs until it waits again; then the updates. A first run that
the core split reaches the same sequence, because the split only ever separates resolutions from what
follows them. It is the order a reader expects anyway: a decision is validated against the state
after everything that happened before it.

Runs recorded before this order existed replay in the SDK's order, except the workflow tasks that
their first run had split: core reports those as a nondeterminism eviction, the runner remembers the
task (per run, in memory) and applies it in the fixed order on the next attempt, which is what the
first run did. A run opts into the fixed order by recording ``patches.ACTIVATION_ORDER`` (or the baseline that covers
it, ``patches.ORDERED_BY``) in its first activation.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence
from typing import Any

import structlog
from temporalio.bridge.proto.workflow_activation import RemoveFromCache, WorkflowActivation, WorkflowActivationJob
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import DataConverter
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflows.patches import ORDERED_BY

log = structlog.get_logger(__name__)

#: Jobs that set the stage for the rest and are applied with the first step.
_LEADING = frozenset({"initialize_workflow", "notify_has_patch", "update_random_seed"})
#: Jobs that carry a message from outside: applied last, after every resolution.
_MESSAGES = frozenset({"do_update", "signal_workflow"})


def _variant(job: WorkflowActivationJob) -> str:
    return job.WhichOneof("variant") or ""


def steps(jobs: Sequence[WorkflowActivationJob]) -> list[list[WorkflowActivationJob]]:
    """The activation's jobs in the fixed order: one step per resolution, then all messages together."""
    leading = [j for j in jobs if _variant(j) in _LEADING]
    messages = [j for j in jobs if _variant(j) in _MESSAGES]
    rest = [j for j in jobs if _variant(j) not in _LEADING and _variant(j) not in _MESSAGES]
    result: list[list[WorkflowActivationJob]] = [[job] for job in rest]
    if result:
        result[0] = leading + result[0]
    elif leading:
        result.append(leading)
    if messages:
        result.append(messages)
    return result


def _records_order(act: WorkflowActivation, completion: WorkflowActivationCompletion) -> bool:
    notified = any(j.notify_has_patch.patch_id in ORDERED_BY for j in act.jobs if j.HasField("notify_has_patch"))
    marked = any(
        c.set_patch_marker.patch_id in ORDERED_BY
        for c in completion.successful.commands
        if c.HasField("set_patch_marker")
    )
    return notified or marked


class _OrderedInstance(WorkflowInstance):
    """Wraps one workflow run's instance; splits activations into steps when the order applies."""

    def __init__(self, inner: WorkflowInstance, runner: RecordedOrderRunner, run_id: str) -> None:
        self._inner = inner
        self._runner = runner
        self._run_id = run_id
        self._fixed_order: bool | None = None  # decided by the run's first activation
        self._last_task = 0
        self._last_split = False

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        """Run the activation, in steps when the run records the fixed order or a replay needs it."""
        eviction = next((j.remove_from_cache for j in act.jobs if j.HasField("remove_from_cache")), None)
        if eviction is not None:
            self._on_eviction(eviction)
            return self._inner.activate(act)
        first = self._fixed_order is None
        split = not first and (self._fixed_order or self._runner.must_split(self._run_id, act.history_length))
        completion = self._activate_in_steps(act) if split else self._inner.activate(act)
        if first:
            self._fixed_order = _records_order(act, completion)
        self._last_task, self._last_split = act.history_length, bool(split)
        return completion

    def _activate_in_steps(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        groups = steps(act.jobs)
        if len(groups) <= 1:
            return self._inner.activate(act)
        merged = WorkflowActivationCompletion(run_id=act.run_id)
        merged.successful.SetInParent()
        for group in groups:
            step = WorkflowActivation()
            step.CopyFrom(act)
            del step.jobs[:]
            step.jobs.extend(group)
            completion = self._inner.activate(step)
            if completion.HasField("failed"):
                return completion
            merged.successful.commands.extend(completion.successful.commands)
            for flag in completion.successful.used_internal_flags:
                if flag not in merged.successful.used_internal_flags:
                    merged.successful.used_internal_flags.append(flag)
            merged.successful.versioning_behavior = completion.successful.versioning_behavior
        return merged

    def _on_eviction(self, eviction: RemoveFromCache) -> None:
        if eviction.reason != RemoveFromCache.EvictionReason.NONDETERMINISM or self._fixed_order:
            return
        if self._last_split or not self._last_task:
            return  # already replayed in the fixed order: a real nondeterminism, nothing to learn
        self._runner.remember_split(self._run_id, self._last_task)
        log.warning(
            "workflow task recorded in two steps; replaying it in that order",
            run_id=self._run_id,
            workflow_task=self._last_task,
            cause=eviction.message[:300],
        )

    def get_serialization_context(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - pass-through of the SDK's API
        """Delegate to the wrapped instance, unless nothing would use the context (see ``needs_payload_contexts``)."""
        if self._runner.contexts_unused:
            return None
        return self._inner.get_serialization_context(*args, **kwargs)

    def get_external_store_context(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - pass-through of the SDK's API
        """Delegate to the wrapped instance, unless nothing would use the context (see ``needs_payload_contexts``)."""
        if self._runner.contexts_unused:
            return None
        return self._inner.get_external_store_context(*args, **kwargs)

    def get_info(self) -> Any:  # noqa: ANN401 - temporalio.workflow.Info, kept loose to follow the SDK
        """Delegate to the wrapped instance."""
        return self._inner.get_info()

    def get_thread_id(self) -> int | None:
        """Delegate to the wrapped instance (used to report deadlocks)."""
        return self._inner.get_thread_id()


#: What the sandbox lets through unchecked: liftoff's models (``schemas``: pydantic classes, identical
#: inside and outside, no logic that could be non-deterministic) and the SDK's defaults (the standard
#: library's safe parts, temporalio). Everything in ``workflows/`` is imported inside the sandbox, so a
#: ``datetime.now()`` or a random number there fails the workflow task instead of slipping through.
SANDBOX_RESTRICTIONS = SandboxRestrictions.default.with_passthrough_modules(
    "schemas", "pydantic", "pydantic_core", "yaml"
)


def needs_payload_contexts(data_converter: DataConverter) -> bool:
    """Whether the worker must ask each workflow for a payload's serialization and storage context.

    Why ask at all: around every activation the SDK passes each payload through the data converter's codec
    and external storage three times, and for each batch asks the workflow instance for its context. In the
    sandbox every such question runs code inside it (``_Instance._run_code``): about 12% of a replay's CPU.
    Only a payload codec or external storage reads those contexts (``DataConverter._with_store_context``
    returns the converter itself without external storage; ``_encode_payload_sequence`` does nothing without
    a codec); the payload converter that turns values into payloads runs inside the workflow and gets its
    context there. So without either, the answer is always unused and the question can be skipped.
    """
    return data_converter.payload_codec is not None or data_converter.external_storage is not None


class RecordedOrderRunner(WorkflowRunner):
    """A workflow runner (sandboxed by default) whose instances apply jobs in the fixed order."""

    def __init__(
        self,
        inner: WorkflowRunner | None = None,
        *,
        remember: int = 10_000,
        data_converter: DataConverter | None = None,
    ) -> None:
        self._inner = inner or SandboxedWorkflowRunner(restrictions=SANDBOX_RESTRICTIONS)
        self._remember = remember
        self.contexts_unused = data_converter is not None and not needs_payload_contexts(data_converter)
        self._splits: collections.OrderedDict[str, set[int]] = collections.OrderedDict()
        self._lock = threading.Lock()  # activations of different runs use different threads

    def prepare_workflow(self, defn: Any) -> None:  # noqa: ANN401 - temporalio.workflow._Definition is private
        """Let the wrapped runner validate the workflow definition."""
        self._inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        """A wrapped instance of the run described by ``det``."""
        return _OrderedInstance(self._inner.create_instance(det), self, det.info.run_id)

    def set_worker_level_failure_exception_types(self, types: Sequence[type[BaseException]]) -> None:
        """Pass the worker's failure exception types on."""
        self._inner.set_worker_level_failure_exception_types(types)

    def must_split(self, run_id: str, task: int) -> bool:
        """Whether the workflow task started at event ``task`` of ``run_id`` was recorded in steps."""
        with self._lock:
            return task in self._splits.get(run_id, ())

    def remember_split(self, run_id: str, task: int) -> None:
        """Replay that workflow task in steps from now on."""
        with self._lock:
            self._splits.setdefault(run_id, set()).add(task)
            self._splits.move_to_end(run_id)
            while len(self._splits) > self._remember:
                self._splits.popitem(last=False)

    def remembered(self) -> dict[str, frozenset[int]]:
        """What was learned so far, per run id (for logs and tests)."""
        with self._lock:
            return {run: frozenset(tasks) for run, tasks in self._splits.items()}
