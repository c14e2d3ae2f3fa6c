"""Loki 3.x single binary: schema v13 on TSDB, filesystem storage, WAL and
compactor on the data volume, retention applied by the compactor."""

from __future__ import annotations

from stack import topology
from stack.components.service import service_spec
from stack.document import render_yaml
from stack.settings import Settings
from stack.spec import DataVolume, HttpProbe, Port, ServiceSpec

CONFIG_DIR = "/etc/loki"
DATA_DIR = "/loki"
# v13 + tsdb from the first day this stack can hold data; a later schema change
# appends a new period here, it never edits this one.
SCHEMA_START = "2024-01-01"


def render_loki_config(settings: Settings) -> str:
    config = {
        "auth_enabled": False,
        "server": {
            "http_listen_port": topology.port("loki"),
            "grpc_listen_port": topology.port("loki", "grpc"),
            "log_level": "info",
        },
        "common": {
            "path_prefix": DATA_DIR,
            "replication_factor": 1,
            "ring": {"kvstore": {"store": "inmemory"}},
            "storage": {
                "filesystem": {"chunks_directory": f"{DATA_DIR}/chunks", "rules_directory": f"{DATA_DIR}/rules"}
            },
        },
        "schema_config": {
            "configs": [
                {
                    "from": SCHEMA_START,
                    "store": "tsdb",
                    "object_store": "filesystem",
                    "schema": "v13",
                    # Retention needs a 24h index period.
                    "index": {"prefix": "index_", "period": "24h"},
                }
            ]
        },
        # The WAL replays unflushed chunks after a restart, so it must be on the volume.
        "ingester": {"wal": {"enabled": True, "dir": f"{DATA_DIR}/wal"}},
        "compactor": {
            "working_directory": f"{DATA_DIR}/compactor",
            "compaction_interval": "10m",
            # Without these two, retention_period is configured but nothing is ever deleted.
            "retention_enabled": True,
            "delete_request_store": "filesystem",
            "retention_delete_delay": "2h",
        },
        "limits_config": {
            "retention_period": str(settings.retention.logs),
            "allow_structured_metadata": True,
        },
        "ruler": {
            "alertmanager_url": topology.url(settings, "alertmanager"),
            "enable_api": True,
            "storage": {"type": "local", "local": {"directory": f"{DATA_DIR}/rules"}},
            "rule_path": f"{DATA_DIR}/rules-temp",
        },
        "analytics": {"reporting_enabled": False},
    }
    return render_yaml(config, "stack/components/loki.py")


def loki_service(settings: Settings) -> ServiceSpec:
    return service_spec(
        settings,
        "loki",
        args=(f"-config.file={CONFIG_DIR}/loki.yaml",),
        ports=(Port("http", topology.port("loki")), Port("grpc", topology.port("loki", "grpc"), published=False)),
        readiness=HttpProbe(topology.port("loki"), "/ready"),
        files={f"{CONFIG_DIR}/loki.yaml": render_loki_config(settings)},
        volumes=(DataVolume("data", DATA_DIR),),
        user="10001:10001",
    )
