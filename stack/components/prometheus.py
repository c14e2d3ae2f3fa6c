"""Prometheus: scrapes itself, the other stack components and every gateway
service; evaluates the rule files from alerts/; sends to Alertmanager."""

from __future__ import annotations

from stack import topology
from stack.alerting import rule_files
from stack.components.service import service_spec
from stack.document import render_yaml
from stack.settings import Settings
from stack.spec import DataVolume, HttpProbe, Port, ServiceSpec

CONFIG_DIR = "/etc/prometheus"
DATA_DIR = "/prometheus"

# Where each stack component serves its own metrics: (port name, path).
STACK_METRICS = {
    "prometheus": ("http", "/metrics"),
    "alertmanager": ("http", "/metrics"),
    "loki": ("http", "/metrics"),
    "promtail": ("http", "/metrics"),
    "jaeger": ("metrics", "/metrics"),
    "grafana": ("http", "/metrics"),
}
# Jaeger's spanmetrics exporter: a second endpoint of the jaeger service.
SPANMETRICS_JOB = "jaeger-spanmetrics"


def _scrape_job(settings: Settings, job: str, address: str, metrics_path: str, service: str = "") -> dict:
    return {
        "job_name": job,
        "metrics_path": metrics_path,
        "static_configs": [
            {
                "targets": [address],
                "labels": {"service": service or job, "environment": settings.environment, "cluster": settings.cluster},
            }
        ],
    }


def render_prometheus_config(settings: Settings) -> str:
    stack_jobs = [
        _scrape_job(settings, component, topology.address(settings, component, port_name), path)
        for component, (port_name, path) in STACK_METRICS.items()
    ]
    stack_jobs.append(
        _scrape_job(settings, SPANMETRICS_JOB, topology.address(settings, "jaeger", "spanmetrics"), "/metrics", "jaeger")
    )
    gateway_jobs = [
        _scrape_job(settings, service.name, service.address, service.metrics_path)
        for service in settings.gateway_services
    ]
    config = {
        "global": {
            "scrape_interval": str(settings.scrape_interval),
            "scrape_timeout": str(settings.scrape_timeout),
            "evaluation_interval": str(settings.evaluation_interval),
            "external_labels": {"environment": settings.environment, "cluster": settings.cluster},
        },
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [topology.address(settings, "alertmanager")]}]}]
        },
        # Relative to this file, so promtool resolves them in a rendered tree too.
        "rule_files": ["rules/*.yml"],
        "scrape_configs": stack_jobs + gateway_jobs,
    }
    return render_yaml(config, "stack/components/prometheus.py")


def prometheus_service(settings: Settings) -> ServiceSpec:
    files = {f"{CONFIG_DIR}/prometheus.yml": render_prometheus_config(settings)}
    files.update({f"{CONFIG_DIR}/rules/{name}": text for name, text in rule_files(settings).items()})
    return service_spec(
        settings,
        "prometheus",
        args=(
            f"--config.file={CONFIG_DIR}/prometheus.yml",
            f"--storage.tsdb.path={DATA_DIR}",
            f"--storage.tsdb.retention.time={settings.retention.metrics}",
            f"--web.external-url={topology.published_url(settings, 'prometheus')}",
            # Lets `curl -X POST .../-/reload` apply a new config without losing the head block.
            "--web.enable-lifecycle",
            # A flag, not a config field, so Debian's promtool 2.42 can check the config.
            "--enable-feature=exemplar-storage",
        ),
        ports=(Port("http", topology.port("prometheus")),),
        readiness=HttpProbe(topology.port("prometheus"), "/-/ready"),
        files=files,
        volumes=(DataVolume("data", DATA_DIR),),
        user="65534:65534",
    )
