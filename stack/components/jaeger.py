"""Jaeger v2: an OpenTelemetry Collector configuration with OTLP receivers,
Badger storage on the data volume and the query UI."""

from __future__ import annotations

from stack import topology
from stack.components.service import service_spec
from stack.document import render_yaml
from stack.settings import Settings
from stack.spec import DataVolume, HttpProbe, Port, ServiceSpec

CONFIG_DIR = "/etc/jaeger"
# The image runs as uid 10001 and declares /tmp a volume; a named volume there
# inherits /tmp's world-writable mode, so Badger can create its directories.
DATA_DIR = "/tmp"
BADGER_DIR = f"{DATA_DIR}/jaeger"
TRACE_STORE = "traces"


def _listen(component_port: str) -> str:
    # Jaeger binds to localhost unless told otherwise in a mounted config.
    return f"0.0.0.0:{topology.port('jaeger', component_port)}"


def render_jaeger_config(settings: Settings) -> str:
    config = {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {
                "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["jaeger_storage_exporter"]}
            },
            "telemetry": {
                "resource": {"service.name": "jaeger"},
                "metrics": {
                    "level": "detailed",
                    "readers": [
                        {"pull": {"exporter": {"prometheus": {"host": "0.0.0.0", "port": topology.port("jaeger", "metrics")}}}}
                    ],
                },
                "logs": {"level": "info"},
            },
        },
        "extensions": {
            "healthcheckv2": {"use_v2": True, "http": {"endpoint": _listen("health")}},
            "jaeger_query": {"storage": {"traces": TRACE_STORE}, "http": {"endpoint": _listen("ui")}},
            "jaeger_storage": {
                "backends": {
                    TRACE_STORE: {
                        "badger": {
                            "directories": {"keys": f"{BADGER_DIR}/keys", "values": f"{BADGER_DIR}/values"},
                            # Badger defaults to ephemeral (in memory): traces would vanish on restart.
                            "ephemeral": False,
                            "ttl": {"spans": settings.retention.traces.go()},
                        }
                    }
                }
            },
        },
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": _listen("otlp-grpc")},
                    "http": {"endpoint": _listen("otlp-http")},
                }
            }
        },
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": TRACE_STORE}},
    }
    return render_yaml(config, "stack/components/jaeger.py")


def jaeger_service(settings: Settings) -> ServiceSpec:
    return service_spec(
        settings,
        "jaeger",
        args=("--config", f"{CONFIG_DIR}/config.yaml"),
        ports=(
            Port("ui", topology.port("jaeger", "ui")),
            Port("otlp-grpc", topology.port("jaeger", "otlp-grpc")),
            Port("otlp-http", topology.port("jaeger", "otlp-http")),
            Port("metrics", topology.port("jaeger", "metrics"), published=False),
            Port("health", topology.port("jaeger", "health"), published=False),
        ),
        readiness=HttpProbe(topology.port("jaeger", "health"), "/status"),
        files={f"{CONFIG_DIR}/config.yaml": render_jaeger_config(settings)},
        volumes=(DataVolume("data", DATA_DIR),),
        user="10001:10001",
    )
