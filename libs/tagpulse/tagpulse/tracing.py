"""OpenTelemetry: a tracer provider per process, exporting by OTLP when an endpoint is set."""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF


def configure_tracing(service_name: str) -> TracerProvider:
    """Install a tracer provider. Spans always get ids (so logs carry trace_id); they leave
    the process only when OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    resource = Resource.create({SERVICE_NAME: service_name})
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        # The sampler is OTEL_TRACES_SAMPLER's (every trace unless it says otherwise).
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        # Nothing would receive the spans: they keep their ids (for the logs) but record
        # nothing, a tenth of a warm answer's CPU saved (BENCHMARKS.md, "warm answers").
        provider = TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    trace.set_tracer_provider(provider)
    return provider
