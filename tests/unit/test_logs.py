import io
import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from tagpulse.logs import configure_logging
from tagpulse.redaction import REDACTED
from tagpulse.settings import Settings

TOKEN = "tok-7f3a9c1e55d2"
BEARER = "AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid"


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    monkeypatch.setenv("TAGPULSE_API_TOKEN", TOKEN)
    monkeypatch.setenv("TAGPULSE_X_BEARER_TOKEN", BEARER)
    monkeypatch.setenv("TAGPULSE_DATABASE_URL", "postgresql://app:db-pass-123@db/tagpulse")
    stream = io.StringIO()
    configure_logging(Settings(), stream=stream)
    yield stream
    logging.getLogger().handlers.clear()


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line_with_the_standard_fields(log_lines: io.StringIO) -> None:
    logging.getLogger("tagpulse.test").info("collection finished", extra={"run_id": 7, "posts_new": 3})
    [record] = records(log_lines)
    assert record["message"] == "collection finished"
    assert record["level"] == "INFO"
    assert record["logger"] == "tagpulse.test"
    assert record["run_id"] == 7
    assert "time" in record
    assert record["trace_id"] is None


def test_trace_id_of_the_current_span(log_lines: io.StringIO) -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        logging.getLogger("tagpulse.test").info("inside")
        expected = format(span.get_span_context().trace_id, "032x")
    assert records(log_lines)[0]["trace_id"] == expected
    assert trace.get_current_span().get_span_context().is_valid is False


def test_secrets_never_reach_a_line(log_lines: io.StringIO) -> None:
    log = logging.getLogger("tagpulse.test")
    log.info(f"calling with token {TOKEN}")
    log.info(
        "request",
        extra={"headers": {"authorization": f"Bearer {BEARER}"}, "url": "postgresql://app:db-pass-123@db/x"},
    )
    log.info("raw header Authorization: Bearer abc.def.ghi seen")
    log.info("config", extra={"api_token": "anything", "x_bearer_token": BEARER})
    try:
        raise RuntimeError(f"connect failed for {BEARER}")
    except RuntimeError:
        log.exception("boom")
    output = log_lines.getvalue()
    for secret in (TOKEN, BEARER, "db-pass-123", "abc.def.ghi"):
        assert secret not in output
    assert output.count(REDACTED) >= 6


def test_a_header_that_is_not_utf8_is_not_an_error_with_a_traceback(log_lines: io.StringIO) -> None:
    """What grpc logs, as it logs it, when Envoy forwards a header with bytes like 0xff."""
    cygrpc = logging.getLogger("grpc._cython.cygrpc")
    try:
        b"caf\xe9".decode()
    except UnicodeDecodeError:
        cygrpc.exception("Invalid encoding on %s", b"caf\xe9")
    cygrpc.error("something else")
    assert [(r["level"], r["message"]) for r in records(log_lines)] == [("ERROR", "something else")]
