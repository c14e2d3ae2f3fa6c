"""Jaeger v2: an OpenTelemetry Collector configuration with OTLP receivers,
Badger on the data volume (or Elasticsearch/OpenSearch from settings), the
query UI, and Service Performance Monitoring: span metrics exported for
Prometheus and read back from it for the Monitor tab."""

from __future__ import annotations

from stack import topology
from stack.components.service import service_spec
from stack.generated_yaml import render_yaml
from stack.settings import Settings
from stack.spec import DataVolume, HttpProbe, Port, ScheduledJob, SecretFile, ServiceSpec
from stack.versions import JAEGER_INDEX_CLEANER_IMAGE

CONFIG_DIR = "/etc/jaeger"
# Badger's volume, kept apart from /tmp (where Go and Jaeger write temporary
# files, and which the image declares a VOLUME of its own). The image runs as
# uid 10001 and owns no directory: a fresh named volume copies the mode and
# owner of the image directory at its mount path, or is root-owned 0755 when
# the path is not in the image, so "/var/lib/jaeger" or "/badger" would leave
# Badger unable to write. /var/tmp is in the image, world-writable (1777, from
# alpine-baselayout under the alpine base of cmd/jaeger/Dockerfile) and
# unused by Jaeger, so the volume there is Badger's alone.
DATA_DIR = "/var/tmp"
BADGER_DIR = f"{DATA_DIR}/jaeger"
PASSWORD_FILE = f"{CONFIG_DIR}/secrets/trace-store-password"
TRACE_STORE = "traces"
# After midnight UTC, once yesterday's daily index is closed; off the hour,
# where every other cron job in the cluster starts.
INDEX_CLEANER_SCHEDULE = "15 0 * * *"
DAY_SECONDS = 86400
METRIC_STORE = "prometheus"


def _listen(port_name: str) -> str:
    # Jaeger binds to localhost unless told otherwise in a mounted config.
    return f"0.0.0.0:{topology.port('jaeger', port_name)}"


def _trace_backend(settings: Settings) -> dict:
    traces = settings.traces
    backend = traces.search_backend
    if backend is None:
        return {
            "badger": {
                "directories": {"keys": f"{BADGER_DIR}/keys", "values": f"{BADGER_DIR}/values"},
                # Badger defaults to ephemeral (in memory): traces would vanish on restart.
                "ephemeral": False,
                "ttl": {"spans": settings.retention.traces.go()},
            }
        }
    config: dict = {
        "server_urls": list(backend.server_urls),
        "indices": {
            "index_prefix": backend.index_prefix,
            # Daily indices: retention deletes whole days (jaeger-es-index-cleaner).
            "spans": {"date_layout": "2006-01-02", "rollover_frequency": "day"},
            "services": {"date_layout": "2006-01-02", "rollover_frequency": "day"},
        },
    }
    if backend.username:
        config["auth"] = {"basic": {"username": backend.username, "password_file": PASSWORD_FILE}}
    return {traces.storage: config}


def index_cleaner_days(settings: Settings) -> int:
    """retention.traces in whole days, rounded up (36h keeps 2 days): the
    cleaner deletes whole daily indices, and never sooner than promised."""
    return -(-settings.retention.traces.seconds // DAY_SECONDS)


def index_cleaner_job(settings: Settings) -> ScheduledJob:
    """jaeger-es-index-cleaner, daily: deletes the daily span and service
    indices older than retention.traces, as Jaeger's Elasticsearch docs
    advise for time-based indices. Interface at Jaeger v2.20.0
    (cmd/es-index-cleaner): args `NUM_OF_DAYS URL`; flags read from the
    environment with '.' and '-' as '_' (INDEX_PREFIX, ES_USERNAME,
    ES_PASSWORD, ES_TLS_ENABLED). Raises ValueError when traces stay in Badger."""
    backend = settings.traces.search_backend
    if backend is None:
        raise ValueError("the index cleaner needs traces.storage elasticsearch or opensearch")
    url = backend.server_urls[0]  # the cleaner takes one URL; any node of the cluster serves the index API
    env = {"INDEX_PREFIX": backend.index_prefix}
    if url.startswith("https://"):
        # Without it the cleaner still speaks TLS to https URLs but skips
        # certificate verification (esclient/roundtripper.go, TLS.Insecure),
        # and would send the password to whoever answers.
        env["ES_TLS_ENABLED"] = "true"
    secret_env = {}
    if backend.username:
        env["ES_USERNAME"] = backend.username
        secret_env["ES_PASSWORD"] = "traceStorePassword"
    return ScheduledJob(
        name="jaeger-es-index-cleaner",
        image=JAEGER_INDEX_CLEANER_IMAGE,
        args=(str(index_cleaner_days(settings)), url),
        schedule=INDEX_CLEANER_SCHEDULE,
        memory_bytes=64 * 2**20,
        cpus=0.1,
        env=env,
        secret_env=secret_env,
        user="10001:10001",  # USER of cmd/es-index-cleaner/Dockerfile
    )


def render_jaeger_config(settings: Settings) -> str:
    config = {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter", "spanmetrics"],
                },
                "metrics/spanmetrics": {"receivers": ["spanmetrics"], "exporters": ["prometheus"]},
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
            "jaeger_query": {
                "storage": {"traces": TRACE_STORE, "metrics": METRIC_STORE},
                "http": {"endpoint": _listen("ui")},
            },
            "jaeger_storage": {
                "backends": {TRACE_STORE: _trace_backend(settings)},
                "metric_backends": {
                    METRIC_STORE: {
                        "prometheus": {
                            "endpoint": topology.url(settings, "prometheus"),
                            # Read traces_span_metrics_calls_total and ..._duration_milliseconds_bucket.
                            "normalize_calls": True,
                            "normalize_duration": True,
                        }
                    }
                },
            },
        },
        "connectors": {
            # The unit is pinned: Jaeger's Monitor tab reads the _milliseconds histogram.
            "spanmetrics": {
                "histogram": {"unit": "ms"},
                "metrics_flush_interval": "15s",
                # Exemplars carry the trace id from a latency panel to the trace.
                "exemplars": {"enabled": True},
            }
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
        "exporters": {
            "jaeger_storage_exporter": {"trace_storage": TRACE_STORE},
            # Exemplars are only served in the OpenMetrics format.
            "prometheus": {"endpoint": _listen("spanmetrics"), "enable_open_metrics": True},
        },
    }
    return render_yaml(config, "stack/components/jaeger.py")


def jaeger_service(settings: Settings) -> ServiceSpec:
    badger = settings.traces.search_backend is None
    backend = settings.traces.search_backend
    return service_spec(
        settings,
        "jaeger",
        args=("--config", f"{CONFIG_DIR}/config.yaml"),
        ports=(
            Port("ui", topology.port("jaeger", "ui")),
            Port("otlp-grpc", topology.port("jaeger", "otlp-grpc")),
            Port("otlp-http", topology.port("jaeger", "otlp-http")),
            Port("metrics", topology.port("jaeger", "metrics"), published=False),
            Port("spanmetrics", topology.port("jaeger", "spanmetrics"), published=False),
            Port("health", topology.port("jaeger", "health"), published=False),
        ),
        # healthcheckv2's /status: 503 only while components start or stop;
        # 200 on recoverable and permanent errors alike, so a storage backend
        # that is down does not restart Jaeger (opentelemetry-collector-contrib
        # extension/healthcheckv2extension internal/http/responders.go, as
        # Jaeger v2.20's components/ext/extension/healthcheckv2extension).
        readiness=HttpProbe(topology.port("jaeger", "health"), "/status"),
        files={f"{CONFIG_DIR}/config.yaml": render_jaeger_config(settings)},
        secret_files=(SecretFile("traceStorePassword", PASSWORD_FILE),) if backend and backend.username else (),
        volumes=(DataVolume("data", DATA_DIR),) if badger else (),
        user="10001:10001",
        jobs=(index_cleaner_job(settings),) if backend else (),
    )
