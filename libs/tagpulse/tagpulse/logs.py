"""JSON logs: one object per line on stdout, with the trace id and secrets redacted.

Every record, ours or a library's, goes through the same handler, so nothing reaches stdout
without redaction. Fields passed with `extra={...}` become keys of the object.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from tagpulse.redaction import Redactor
from tagpulse.settings import Settings


class TagpulseJsonFormatter(JsonFormatter):
    """time, level, logger, message, trace_id, span_id, then the event's own fields."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
        self.redactor = redactor

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            log_data["trace_id"] = format(span_context.trace_id, "032x")
            log_data["span_id"] = format(span_context.span_id, "016x")
        else:
            log_data["trace_id"] = None
        for key in list(log_data):
            log_data[key] = self.redactor.value(key, log_data[key])

    def formatException(self, ei: Any) -> str:
        formatted = super().formatException(ei)
        return self.redactor.text(formatted if isinstance(formatted, str) else "\n".join(formatted))


class UndecodableMetadataFilter(logging.Filter):
    """gRPC logs an ERROR with a traceback, three times per request, for every header value
    that is not UTF-8 (Envoy passes any byte through), and then serves the request all the
    same with the value as bytes. A client could fill the log at will: such a record becomes
    one DEBUG line without its traceback, shown only when debugging."""

    def __init__(self, debugging: bool) -> None:
        super().__init__()
        self.debugging = debugging

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Invalid encoding on"):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.exc_info, record.exc_text = None, None
        return self.debugging


def configure_logging(settings: Settings, stream: Any = None) -> None:
    """Send every logger's records to stdout as redacted JSON lines."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(TagpulseJsonFormatter(Redactor(settings.secret_values())))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Keep library chatter at warnings unless we are debugging.
    debugging = settings.log_level == "DEBUG"
    for noisy in ("sqlalchemy", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debugging else logging.WARNING)
    cygrpc = logging.getLogger("grpc._cython.cygrpc")
    cygrpc.filters[:] = [f for f in cygrpc.filters if not isinstance(f, UndecodableMetadataFilter)]
    cygrpc.addFilter(UndecodableMetadataFilter(debugging))
