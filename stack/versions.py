"""Every image the stack deploys, pinned by exact tag: the one place to bump a version.

Settings may override a tag per component (`images`), never with `latest`.
"""

from __future__ import annotations

COMPONENTS = ("prometheus", "alertmanager", "loki", "promtail", "jaeger", "grafana")

IMAGE_REPOSITORIES = {
    "prometheus": "prom/prometheus",
    "alertmanager": "prom/alertmanager",
    "loki": "grafana/loki",
    # Promtail reached end of life on 2026-03-02 and is not part of Loki 3.7;
    # the 3.6 line still gets patch releases (tags v3.6.x of grafana/loki).
    # Grafana Alloy is the successor.
    "promtail": "grafana/promtail",
    "jaeger": "jaegertracing/jaeger",
    "grafana": "grafana/grafana",
}

DEFAULT_IMAGE_TAGS = {
    "prometheus": "v3.13.4",  # the 3.13 LTS line
    "alertmanager": "v0.34.1",
    "loki": "3.7.8",
    "promtail": "3.6.15",  # the newest 3.6 patch (tag v3.6.15, August 2026); there is no 3.7
    "jaeger": "2.22.0",
    "grafana": "13.2.0",
}


# Not a stack component: Jaeger's jaeger-es-index-cleaner, run daily by the
# kubernetes target when traces go to Elasticsearch/OpenSearch. Jaeger's
# release build pushes it with every vX.Y.Z tag as jaegertracing/
# jaeger-es-index-cleaner:X.Y.Z (scripts/build/build-upload-docker-images.sh,
# scripts/utils/compute-tags.sh), so it follows Jaeger's own pin.
JAEGER_INDEX_CLEANER_IMAGE = f"jaegertracing/jaeger-es-index-cleaner:{DEFAULT_IMAGE_TAGS['jaeger']}"

# Not a stack component: kube-state-metrics, which the kubernetes target runs
# so Prometheus sees the cluster's objects (crash loops, OOM kills, replicas).
# The newest release (kubernetes/kube-state-metrics tag v2.20.0; its
# examples/standard/deployment.yaml names this image).
KUBE_STATE_METRICS_IMAGE = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0"

# Not a stack component: the Kong of the demo gateway (settings `demo`), run in
# DB-less mode in front of the demo's services. Open-source Kong images stop at
# 3.9.x; 3.9.3 is the newest (Kong/docker-kong tag 3.9.3, June 2026, the source
# of the official `kong` image), and the rendered Kong config needs 3.8 or later.
DEMO_KONG_IMAGE = "kong:3.9.3"


def image_reference(component: str, tag: str) -> str:
    return f"{IMAGE_REPOSITORIES[component]}:{tag}"
