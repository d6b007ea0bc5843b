"""Observability: structured logs with request ids, Prometheus metrics, OpenTelemetry traces, and the
operators' dashboard. See docs/observability.md."""
