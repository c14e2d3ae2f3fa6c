"""Where every link starts: one decision (stack.topology.public_url), used by
every component that builds a link, with defaults a person can open where
there is one to take."""

from __future__ import annotations

import pytest
import yaml

from stack.components.alertmanager import alertmanager_service
from stack.components.grafana import grafana_service
from stack.components.loki import render_loki_config
from stack.components.prometheus import prometheus_service
from stack.settings import SettingsError, parse_settings
from stack.topology import public_url

INGRESS = {"enabled": True, "host": "grafana.gateway.test", "tlsSecret": "grafana-tls"}


@pytest.mark.parametrize(
    "config, environment, expected",
    [
        ({"target": "docker"}, "dev", {"grafana": "http://127.0.0.1:3000", "prometheus": "http://127.0.0.1:9090", "alertmanager": "http://127.0.0.1:9093"}),
        ({"target": "docker", "bindAddress": "0.0.0.0"}, "dev", {"grafana": "http://localhost:3000"}),
        ({"target": "kubernetes"}, "staging", {"grafana": "http://obs-grafana.observability.svc:3000", "prometheus": "http://obs-prometheus.observability.svc:9090"}),
        ({"target": "kubernetes", "kubernetes": {"ingress": INGRESS}}, "prod", {"grafana": "https://grafana.gateway.test"}),
        ({"target": "kubernetes", "kubernetes": {"ingress": {**INGRESS, "tlsSecret": None}}}, "prod", {"grafana": "http://grafana.gateway.test"}),
        (
            {"target": "kubernetes", "kubernetes": {"ingress": INGRESS}, "publicUrls": {"grafana": "https://obs.gateway.test/grafana/", "alertmanager": "https://am.gateway.test"}},
            "prod",
            {"grafana": "https://obs.gateway.test/grafana", "alertmanager": "https://am.gateway.test"},
        ),
    ],
)
def test_public_urls_default_to_what_a_person_can_open(config, environment, expected):
    settings = parse_settings(config, environment, "test")
    assert {component: public_url(settings, component) for component in expected} == expected


@pytest.mark.parametrize("target", ["docker", "kubernetes"])
def test_every_link_builder_uses_the_public_url(target):
    settings = parse_settings({"target": target, "publicUrls": {"grafana": "https://g.test", "prometheus": "https://p.test", "alertmanager": "https://a.test"}}, "prod", "test")
    assert "--web.external-url=https://p.test" in prometheus_service(settings).args
    assert "--web.external-url=https://a.test" in alertmanager_service(settings).args
    assert grafana_service(settings).env["GF_SERVER_ROOT_URL"] == "https://g.test"
    ruler = yaml.safe_load(render_loki_config(settings))["ruler"]
    assert (ruler["external_url"], ruler["datasource_uid"]) == ("https://g.test", "loki")  # LogQL alerts link to Grafana Explore


def test_a_public_url_must_be_an_http_url():
    with pytest.raises(SettingsError, match="publicUrls.prometheus"):
        parse_settings({"target": "docker", "publicUrls": {"prometheus": "prometheus.internal:9090"}}, "dev", "test")
