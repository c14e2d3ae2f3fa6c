"""gateway_telemetry: the AI gateway's side of the observability stack.

Core (standard library only, read by the Pulumi program as well):
  contract   the metrics, buckets and log fields the stack expects
  redaction  what must never reach Loki, as RE2 rules Promtail runs

Runtime kit (needs `gateway-telemetry[runtime]`), imported on demand so that
importing the core pulls in nothing: logs, masking, errors, metrics, tracing,
fastapi. Nothing is configured at import time.
"""
