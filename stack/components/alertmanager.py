"""Alertmanager: the routing tree, receivers and the silences volume."""

from __future__ import annotations

from stack import topology
from stack.components.service import service_spec
from stack.document import render_yaml
from stack.settings import Settings
from stack.spec import DataVolume, HttpProbe, Port, ServiceSpec

CONFIG_DIR = "/etc/alertmanager"
DATA_DIR = "/alertmanager"
DEFAULT_RECEIVER = "default"


def render_alertmanager_config(settings: Settings) -> str:
    config = {
        "route": {
            "receiver": DEFAULT_RECEIVER,
            "group_by": ["alertname", "service"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
        },
        "receivers": [{"name": DEFAULT_RECEIVER}],
    }
    return render_yaml(config, "stack/components/alertmanager.py")


def alertmanager_service(settings: Settings) -> ServiceSpec:
    return service_spec(
        settings,
        "alertmanager",
        args=(
            f"--config.file={CONFIG_DIR}/alertmanager.yml",
            # Silences and the notification log live here: losing them re-pages on-call.
            f"--storage.path={DATA_DIR}",
            f"--web.external-url={topology.published_url(settings, 'alertmanager')}",
            # One replica: an empty listen address turns gossip clustering off.
            "--cluster.listen-address=",
        ),
        ports=(Port("http", topology.port("alertmanager")),),
        readiness=HttpProbe(topology.port("alertmanager"), "/-/ready"),
        files={f"{CONFIG_DIR}/alertmanager.yml": render_alertmanager_config(settings)},
        volumes=(DataVolume("data", DATA_DIR),),
        user="65534:65534",
    )
