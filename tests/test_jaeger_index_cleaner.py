"""Jaeger's index cleaner on Kubernetes: with traces in Elasticsearch or
OpenSearch, a daily CronJob runs jaegertracing/jaeger-es-index-cleaner
(`NUM_OF_DAYS URL`, flags from the environment) deleting the daily indices
older than retention.traces; with Badger there is none.

The manifests come from the same Pulumi mock plan as
tests/test_kubernetes_target.py and pass the same strict kubernetes-validate
check and Pod Security restricted checks.
"""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
from test_kubernetes_target import KUBERNETES_VERSION, ENVIRONMENTS, manifests, of_kind, restricted_violations

from stack.components.jaeger import index_cleaner_days, index_cleaner_job
from stack.settings import parse_settings
from stack.versions import DEFAULT_IMAGE_TAGS

ES_URL = "https://es.internal:9200"
ES_PASSWORD = "es-password-not-in-clear-7f3a"
ES = {
    "retention": {"traces": "7d"},
    "traces": {"storage": "elasticsearch", "elasticsearch": {"serverUrls": [ES_URL], "indexPrefix": "gw", "username": "jaeger"}},
}
ES_SECRETS = {"traceStorePassword": ES_PASSWORD}
CLEANER = "observability/jaeger-es-index-cleaner"


def _cleaner_manifests(environment: str) -> list[dict]:
    return manifests(environment, ES, ES_SECRETS)


def _cron_job(environment: str) -> dict:
    cron_jobs = of_kind(_cleaner_manifests(environment), "CronJob")
    assert list(cron_jobs) == [CLEANER]
    return cron_jobs[CLEANER]


def _container(cron_job: dict) -> dict:
    (container,) = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_cleaner_cronjob_is_valid_for_the_pinned_kubernetes_version_in_strict_mode(environment):
    cron_job = _cron_job(environment)
    kubernetes_validate.validate(cron_job, KUBERNETES_VERSION, strict=True)
    broken = json.loads(json.dumps(cron_job))
    broken["spec"]["concurrencyPolicy"] = "Never"  # not one of Allow, Forbid, Replace
    broken["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_cleaner_runs_once_a_day_one_run_at_a_time_with_a_short_history(environment):
    spec = _cron_job(environment)["spec"]
    minute, hour, *every = spec["schedule"].split()
    # Daily: a fixed minute and hour, every day of every month, any weekday.
    assert minute.isdigit() and 0 <= int(minute) < 60 and hour.isdigit() and 0 <= int(hour) < 24
    assert every == ["*", "*", "*"]
    assert spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["successfulJobsHistoryLimit"] <= 3 and 0 < spec["failedJobsHistoryLimit"] <= 3


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_cleaner_deletes_indices_older_than_the_trace_retention_at_the_backend(environment):
    container = _container(_cron_job(environment))
    assert container["image"] == f"jaegertracing/jaeger-es-index-cleaner:{DEFAULT_IMAGE_TAGS['jaeger']}"
    assert container["args"] == ["7", ES_URL]
    plain = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert plain == {"INDEX_PREFIX": "gw", "ES_USERNAME": "jaeger", "ES_TLS_ENABLED": "true"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_password_comes_from_the_jaeger_secret_and_never_in_clear(environment):
    found = _cleaner_manifests(environment)
    cron_job = _cron_job(environment)
    (password,) = [e for e in _container(cron_job)["env"] if e["name"] == "ES_PASSWORD"]
    reference = {"secretKeyRef": {"name": "obs-jaeger-secrets", "key": "traceStorePassword"}}
    assert password == {"name": "ES_PASSWORD", "valueFrom": reference}
    secret = of_kind(found, "Secret")["observability/obs-jaeger-secrets"]
    assert secret["stringData"]["traceStorePassword"] == ES_PASSWORD
    leaks = [f"{m['kind']}/{m['metadata']['name']}" for m in found if m["kind"] != "Secret" and ES_PASSWORD in json.dumps(m)]
    assert leaks == []


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_cleaner_pod_meets_the_restricted_profile(environment):
    pod = _cron_job(environment)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert restricted_violations(pod) == set()
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    container = _container(_cron_job(environment))
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["requests"] == container["resources"]["limits"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_cleaner_pods_reach_only_the_search_backend_and_are_not_jaegers(environment):
    found = _cleaner_manifests(environment)
    policies = of_kind(found, "NetworkPolicy")
    labels = _cron_job(environment)["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    policy = policies[CLEANER]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy.get("ingress", []) == []
    assert policy["egress"] == [{"ports": [{"protocol": "TCP", "port": 9200}]}]
    # Jaeger's own selectors (its Service, its NetworkPolicy) do not pick the cleaner's pods.
    jaeger_selector = policies["observability/obs-jaeger"]["spec"]["podSelector"]["matchLabels"]
    assert not jaeger_selector.items() <= labels.items()


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_badger_has_no_cleaner(environment):
    found = manifests(environment)
    assert of_kind(found, "CronJob") == {}
    assert "observability/jaeger-es-index-cleaner" not in of_kind(found, "NetworkPolicy")


def _settings(retention: str, url: str, username: str | None = None):
    backend = {"serverUrls": [url], **({"username": username} if username else {})}
    traces = {"storage": "opensearch", "opensearch": backend}
    return parse_settings({"target": "kubernetes", "retention": {"traces": retention}, "traces": traces}, "prod", "t")


def test_days_round_up_so_nothing_goes_before_the_retention_is_over():
    assert index_cleaner_days(_settings("24h", ES_URL)) == 1
    assert index_cleaner_days(_settings("36h", ES_URL)) == 2
    assert index_cleaner_days(_settings("2w", ES_URL)) == 14


def test_plain_http_and_no_username_give_no_tls_flag_and_no_password():
    job = index_cleaner_job(_settings("3d", "http://opensearch.internal:9200"))
    assert job.args == ("3", "http://opensearch.internal:9200")
    assert dict(job.env) == {"INDEX_PREFIX": "jaeger"}
    assert dict(job.secret_env) == {}


def test_badger_settings_have_no_cleaner_job():
    with pytest.raises(ValueError, match="elasticsearch or opensearch"):
        index_cleaner_job(parse_settings({"target": "kubernetes"}, "prod", "t"))
