"""On Kubernetes, Prometheus and Promtail find the gateway's pods with
kubernetes_sd_configs (role pod) and label what they find exactly as the
Docker target does (`job`, `service`, `environment`, `cluster`; the log
contract's labels); Promtail runs the same pipeline behind a `cri` stage.

The discovered label sets below are what Prometheus' pod role builds
(discovery/kubernetes/pod.go buildPod and podLabels, kubernetes.go
addObjectMetaLabels, in the Prometheus that grafana/loki v3.6.15 vendors);
Prometheus turns them into targets as scrape/target.go PopulateLabels does;
Promtail as clients/pkg/promtail/targets/file/filetargetmanager.go (sync) and
tailer.go (the `filename` label) do. Relabelling runs through the Promtail
harness' model/relabel (tests/promtail_pipeline/relabel.py, RE2)."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Iterable, Optional

import pytest
import yaml
from conftest import require_tool
from test_logs_and_traces import GATEWAY_LINE, TRACE_ID
from promtail_pipeline import Entry, Pipeline, docker_entry_labels, relabel, run_pipeline, run_stream
from promtail_pipeline import stages as promtail_stages

from gateway_telemetry import contract
from stack.log_shipping import LOKI_OUT_OF_ORDER_WINDOW
from stack.components.cluster_metrics import SERVICE_ACCOUNT
from stack.components.prometheus import CONFIG_DIR, prometheus_service, render_prometheus_config
from stack.components.promtail import promtail_service, render_promtail_config
from stack.settings import parse_settings
from stack.spec import ApiAccess

STAGING = parse_settings({"target": "kubernetes", "cluster": "staging"}, "staging", "test")
PROD = parse_settings({"target": "kubernetes", "cluster": "prod"}, "prod", "test")
# Another namespace, a two-label selector, a service with its own metrics path.
CUSTOM = parse_settings(
    {
        "target": "kubernetes",
        "cluster": "eu-1",
        "kubernetes": {"gateway": {"namespace": "llm", "selector": {"app.kubernetes.io/part-of": "ai-gateway", "tier": "edge"}}},
        "gatewayServices": [
            {"name": "kong", "address": "kong:8100"},
            {"name": "router", "address": "router.llm.svc:9001", "metricsPath": "/internal/metrics"},
        ],
    },
    "prod",
    "test",
)
GATEWAY_LABELS = {"app.kubernetes.io/part-of": "ai-gateway"}


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)  # strutil.SanitizeLabelName


def pod_targets(
    name: str,
    labels: dict[str, str],
    namespace: str = "ai-gateway",
    ip: str = "10.42.1.17",
    containers: tuple[tuple[str, tuple[int, ...]], ...] = (("app", (8000,)),),
    init_containers: tuple[str, ...] = (),
    phase: str = "Running",
    uid: str = "5f0c7a52-3b8e-4d0a-9d61-2c4e8b7f1a90",
) -> list[dict[str, str]]:
    """What the pod role discovers for one pod of a Deployment: a target per
    declared container port, or per container without one (init containers
    too), each with the pod's labels."""
    pod = {
        "__meta_kubernetes_namespace": namespace,
        "__meta_kubernetes_pod_name": name,
        "__meta_kubernetes_pod_ip": ip,
        "__meta_kubernetes_pod_ready": "true" if phase == "Running" else "false",
        "__meta_kubernetes_pod_phase": phase,
        "__meta_kubernetes_pod_node_name": "node-a",
        "__meta_kubernetes_pod_host_ip": "192.168.10.4",
        "__meta_kubernetes_pod_uid": uid,
        "__meta_kubernetes_pod_controller_kind": "ReplicaSet",
        "__meta_kubernetes_pod_controller_name": name.rsplit("-", 1)[0],
    }
    for key, value in labels.items():
        pod[f"__meta_kubernetes_pod_label_{_sanitize(key)}"] = value
        pod[f"__meta_kubernetes_pod_labelpresent_{_sanitize(key)}"] = "true"
    address = f"[{ip}]" if ":" in ip else ip
    targets = []
    every = [*((c, p, "false") for c, p in containers), *((c, (), "true") for c in init_containers)]
    for container, ports, init in every:
        common = {
            **pod,
            "__meta_kubernetes_pod_container_name": container,
            "__meta_kubernetes_pod_container_init": init,
            "__meta_kubernetes_pod_container_image": f"registry.example.com/{container}:1.0",
            "__meta_kubernetes_pod_container_id": f"containerd://{container}0123",
        }
        if not ports:
            targets.append({**common, "__address__": ip})
        for port in ports:
            targets.append({
                **common,
                "__address__": f"{address}:{port}",
                "__meta_kubernetes_pod_container_port_number": str(port),
                "__meta_kubernetes_pod_container_port_name": f"p{port}",
                "__meta_kubernetes_pod_container_port_protocol": "TCP",
            })
    return targets


def gateway_pod(name: str, service: str, selector: dict[str, str] = GATEWAY_LABELS, **pod) -> list[dict[str, str]]:
    """pod_targets for a pod carrying the selector's labels and `service` as its name label."""
    return pod_targets(name, {**selector, "app.kubernetes.io/name": service}, **pod)


def scrape_target(job: dict, discovered: dict[str, str]) -> Optional[tuple[dict[str, str], str]]:
    """scrape/target.go PopulateLabels: the job's defaults, the job's
    relabelling, meta labels removed, `instance` defaulting to the address.
    Returns (the target's labels, its URL), None when relabelling drops it."""
    defaults = {"job": job["job_name"], "__metrics_path__": job.get("metrics_path", "/metrics"), "__scheme__": "http"}
    labels = relabel(job.get("relabel_configs", []), {**defaults, **discovered})
    if labels is None:
        return None
    assert labels.get("__address__"), "a kept target needs an address"
    labels.setdefault("instance", labels["__address__"])
    url = f"{labels['__scheme__']}://{labels['__address__']}{labels['__metrics_path__']}"
    return {k: v for k, v in labels.items() if not k.startswith("__")}, url


def scraped(settings, pods: list[list[dict]], jobs: Optional[Iterable[str]] = None) -> dict[tuple, str]:
    """Every job named in `jobs` (the gateway's when None) over every
    discovered target: what Prometheus scrapes, as {(job, labels...): url};
    targets with equal labels are one scrape."""
    config = yaml.safe_load(render_prometheus_config(settings))
    jobs = set(jobs) if jobs is not None else {s.name for s in settings.gateway_services}
    found = {}
    for job in (j for j in config["scrape_configs"] if j["job_name"] in jobs):
        for targets in pods:
            for target in targets:
                result = scrape_target(job, target)
                if result is not None:
                    found[tuple(sorted(result[0].items()))] = result[1]
    return found


# --- Prometheus ---------------------------------------------------------------------------


# Debian's promtool (2.42) is built without Kubernetes discovery: it refuses
# the `kubernetes_sd_configs` field as unknown. There, promtool checks the
# rest of the config (relabelling included) with each discovery block swapped
# for a static target, and the blocks themselves are checked as Prometheus'
# kubernetes.SDConfig.UnmarshalYAML does (discovery/kubernetes/kubernetes.go
# in the Prometheus grafana/loki v3.6.15 vendors).
SD_KEYS = {"api_server", "role", "kubeconfig_file", "namespaces", "selectors", "attach_metadata"}
ROLES = {"pod", "service", "endpoints", "endpointslice", "node", "ingress"}
SELECTOR_ROLES = {"pod": {"pod", "node"}}  # allowedSelectors for the one role rendered here
LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
LABEL_KEY = rf"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{LABEL_NAME}"
LABEL_VALUE = rf"({LABEL_NAME})?"


def label_selector_problems(selector: str) -> list[str]:
    """k8s.io/apimachinery labels.Parse, for the equality-based forms
    (key=value, key==value, key!=value, key, !key); set-based ones
    (`in`, `notin`) are reported as not understood here."""
    problems = []
    for requirement in filter(None, selector.split(",")):
        match = re.fullmatch(rf"!?({LABEL_KEY})|({LABEL_KEY})(==|!=|=)({LABEL_VALUE})", requirement)
        if match is None:
            problems.append(f"label selector requirement {requirement!r} does not parse")
    return problems


def kubernetes_sd_problems(sd: dict) -> list[str]:
    """What kubernetes.SDConfig.UnmarshalYAML refuses in one block (with no
    HTTP client settings: every key outside SD_KEYS is refused here)."""
    problems = [f"unknown field {key}" for key in set(sd) - SD_KEYS]
    if sd.get("role") not in ROLES:
        problems.append(f"role {sd.get('role')!r}")
    problems += [f"unknown namespaces field {k}" for k in set(sd.get("namespaces", {})) - {"own_namespace", "names"}]
    seen = set()
    for selector in sd.get("selectors", []):
        problems += [f"unknown selector field {k}" for k in set(selector) - {"role", "label", "field"}]
        if selector.get("role") in seen:
            problems.append(f"duplicated selector role: {selector.get('role')}")
        seen.add(selector.get("role"))
        if selector.get("role") not in SELECTOR_ROLES.get(sd.get("role"), set()):
            problems.append(f"{sd.get('role')} role does not support {selector.get('role')} selectors")
        if selector.get("field"):
            problems.append("field selectors are not checked here")
        problems += label_selector_problems(selector.get("label", ""))
    return problems


def promtool_check(config: dict, folder: Path) -> subprocess.CompletedProcess:
    """promtool check config; the pod's ServiceAccount files (the kubelet
    jobs' token and CA, which promtool opens) stand in a folder of `folder`."""
    account = folder / "serviceaccount"
    account.mkdir(exist_ok=True)
    for name in ("token", "ca.crt"):
        (account / name).write_text("stand-in\n")
    text = yaml.safe_dump(config, sort_keys=False).replace(f"{SERVICE_ACCOUNT}/", f"{account}/")
    (folder / "prometheus.yml").write_text(text)
    command = [require_tool("promtool"), "check", "config", str(folder / "prometheus.yml")]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def check_prometheus_files(settings, folder) -> None:
    """promtool on the rendered Prometheus files of `settings`. Debian's
    promtool has no Kubernetes discovery: then each discovery block is
    checked on its own (kubernetes_sd_problems) and the rest by promtool,
    with a static target in the block's place."""
    for path, text in prometheus_service(settings).files.items():
        out = folder / PurePosixPath(path).relative_to(CONFIG_DIR)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    config = yaml.safe_load((folder / "prometheus.yml").read_text())
    result = promtool_check(config, folder)
    if "field kubernetes_sd_configs not found" in result.stdout + result.stderr:  # Debian's build
        static = [job["job_name"] for job in config["scrape_configs"] if "static_configs" in job]
        blocks = [job.pop("kubernetes_sd_configs") for job in config["scrape_configs"] if "kubernetes_sd_configs" in job]
        for job in config["scrape_configs"]:
            job.setdefault("static_configs", [{"targets": ["10.42.1.17:8000"]}])
        # Every job discovers its targets on Kubernetes, but kube-state-metrics', read through its Service.
        assert static == ["kube-state-metrics"] and len(blocks) == len(config["scrape_configs"]) - 1
        assert [kubernetes_sd_problems(sd) for block in blocks for sd in block] == [[]] * len(blocks)
        result = promtool_check(config, folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("settings", [STAGING, PROD, CUSTOM], ids=["staging", "prod", "custom"])
def test_promtool_accepts_the_kubernetes_prometheus_config(settings, tmp_path):
    check_prometheus_files(settings, tmp_path)


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"role": "pods"}, "role 'pods'"),
        ({"selectors": [{"role": "service", "label": "a=b"}]}, "pod role does not support service selectors"),
        ({"selectors": [{"role": "pod", "label": "app.kubernetes.io/part-of=ai gateway"}]}, "does not parse"),
        ({"namespace": "ai-gateway"}, "unknown field namespace"),
    ],
)
def test_the_discovery_check_refuses_what_prometheus_refuses(change, problem):
    sd = {**yaml.safe_load(render_prometheus_config(STAGING))["scrape_configs"][-1]["kubernetes_sd_configs"][0], **change}
    assert any(problem in p for p in kubernetes_sd_problems(sd))


@pytest.mark.parametrize(
    "job_index, rule, broken",
    [(-1, 0, "ai-gateway("), (0, 1, "obs-staging;(prometheus")],
    ids=["a gateway job", "a stack job (tests/test_kubernetes_self_scrape.py)"],
)
def test_promtool_checks_the_relabelling_of_the_kubernetes_jobs(tmp_path, job_index, rule, broken):
    # What promtool still sees on Debian's build: a broken regex in a job's relabelling fails.
    config = yaml.safe_load(render_prometheus_config(STAGING))
    config.pop("rule_files")
    job = config["scrape_configs"][job_index]
    config["scrape_configs"] = [job]
    job.pop("kubernetes_sd_configs")
    job["static_configs"] = [{"targets": ["10.42.1.17:8000"]}]
    assert promtool_check(config, tmp_path).returncode == 0
    job["relabel_configs"][rule]["regex"] = broken
    assert promtool_check(config, tmp_path).returncode != 0


def test_promtail_discovery_passes_the_same_check():
    (sd,) = promtail_job(PROD)["kubernetes_sd_configs"]
    assert kubernetes_sd_problems(sd) == []


def test_a_gateway_pod_is_one_target_with_the_docker_jobs_labels():
    # Kong declares its proxy, admin and status ports, and runs a sidecar and an init container:
    # every one of their targets becomes the one pod IP on the status port.
    containers = (("proxy", (8000, 8001, 8100)), ("istio-proxy", (15090,)))
    kong = gateway_pod("kong-7d9f8b6c5-x2k4q", "kong", containers=containers, init_containers=("wait-for-db",))
    labels = {"cluster": "staging", "environment": "staging", "instance": "10.42.1.17:8100", "job": "kong", "service": "kong"}
    assert scraped(STAGING, [kong]) == {tuple(sorted(labels.items())): "http://10.42.1.17:8100/metrics"}


def test_every_service_is_scraped_on_its_own_port_and_path_with_the_labels_docker_gives_it():
    services = [{"name": s.name, "address": s.address, "metricsPath": s.metrics_path} for s in CUSTOM.gateway_services]
    docker = parse_settings({"target": "docker", "cluster": "eu-1", "gatewayServices": services}, "prod", "test")
    docker_jobs = {j["job_name"]: j for j in yaml.safe_load(render_prometheus_config(docker))["scrape_configs"]}
    for n, service in enumerate(CUSTOM.gateway_services):
        ip = f"10.42.2.{n + 10}"
        selector = CUSTOM.kubernetes.gateway.selector
        pod = gateway_pod(f"{service.name}-5c8d7-abcde", service.name, selector, namespace="llm", ip=ip)
        (labels, url), = [(dict(k), v) for k, v in scraped(CUSTOM, [pod]).items()]
        port = service.address.rpartition(":")[2]
        assert url == f"http://{ip}:{port}{service.metrics_path}"
        static = docker_jobs[service.name]["static_configs"][0]
        docker_target = {"__address__": static["targets"][0], **static["labels"]}
        docker_labels, _ = scrape_target(docker_jobs[service.name], docker_target)
        assert labels == {**docker_labels, "instance": f"{ip}:{port}"}
        assert set(labels) == {"job", "service", "environment", "cluster", "instance"}


@pytest.mark.parametrize(
    "case, pod",
    [
        ("another namespace", gateway_pod("kong-1-a", "kong", namespace="default")),
        ("without the selector's label", pod_targets("kong-1-a", {"app.kubernetes.io/name": "kong"})),
        ("the selector's label with another value", gateway_pod("kong-1-a", "kong", {"app.kubernetes.io/part-of": "billing"})),
        ("a name that is no gateway service", gateway_pod("redis-0", "redis")),
        ("a name only containing one", gateway_pod("kong-x-1", "kong-migrations")),
        ("no name label", pod_targets("kong-1-a", GATEWAY_LABELS)),
        ("a finished pod", gateway_pod("kong-1-a", "kong", phase="Succeeded")),
    ],
)
def test_prometheus_drops_every_other_pod(case, pod):
    assert scraped(STAGING, [pod]) == {}


def test_the_second_selector_label_is_required_too():
    assert scraped(CUSTOM, [gateway_pod("kong-1-a", "kong", namespace="llm")]) == {}
    pod = gateway_pod("kong-1-a", "kong", {**GATEWAY_LABELS, "tier": "edge"}, namespace="llm")
    assert len(scraped(CUSTOM, [pod])) == 1


def test_an_ipv6_pod_is_scraped_in_brackets():
    pod = gateway_pod("kong-1-a", "kong", ip="fd00:10:42::17", containers=(("proxy", ()),))
    assert list(scraped(STAGING, [pod]).values()) == ["http://[fd00:10:42::17]:8100/metrics"]


def test_prometheus_discovers_only_the_namespace_it_is_granted():
    config = yaml.safe_load(render_prometheus_config(CUSTOM))
    gateway_jobs = [job for job in config["scrape_configs"] if job["job_name"] in {s.name for s in CUSTOM.gateway_services}]
    sd = [sd for job in gateway_jobs for sd in job["kubernetes_sd_configs"]]
    assert len(sd) == len(CUSTOM.gateway_services) and all(s == sd[0] for s in sd)  # one watch for every job
    selector = {"role": "pod", "label": "app.kubernetes.io/part-of=ai-gateway,tier=edge"}
    assert sd[0] == {"role": "pod", "namespaces": {"names": ["llm"]}, "selectors": [selector]}
    # The gateway's namespace, then the stack's two (tests/test_kubernetes_self_scrape.py).
    assert prometheus_service(CUSTOM).api_access[0] == ApiAccess(("pods",), "llm")


def test_the_docker_prometheus_config_has_no_kubernetes_discovery():
    docker = parse_settings({"target": "docker"}, "dev", "test")
    assert "kubernetes_sd_configs" not in render_prometheus_config(docker)
    assert prometheus_service(docker).api_access == ()


# --- Promtail -----------------------------------------------------------------------------


def promtail_job(settings) -> dict:
    return yaml.safe_load(render_promtail_config(settings))["scrape_configs"][0]


def pod_log_file(targets: list[dict], container: str, restart: int = 0) -> str:
    """Where the kubelet writes a container's log:
    /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restarts>.log."""
    t = targets[0]
    pod = f"{t['__meta_kubernetes_namespace']}_{t['__meta_kubernetes_pod_name']}_{t['__meta_kubernetes_pod_uid']}"
    return f"/var/log/pods/{pod}/{container}/{restart}.log"


def file_targets(job: dict, targets: list[dict]) -> dict[str, dict[str, str]]:
    """filetargetmanager.go sync: relabel each discovered target, require
    __path__, drop "__" labels; equal (path, labels) are one target.
    Returns {path glob: labels}."""
    found = {}
    for target in targets:
        labels = relabel(job["relabel_configs"], target)
        if labels is None:
            continue
        found[labels["__path__"]] = {k: v for k, v in labels.items() if not k.startswith("__")}
    return found


def entry_labels(job: dict, targets: list[dict], container: str) -> dict[str, str]:
    """The labels a line of `container`'s log file enters the pipeline with:
    its target's labels plus `filename` (tailer.go)."""
    path = pod_log_file(targets, container)
    (labels,) = [labels for glob, labels in file_targets(job, targets).items() if PurePosixPath(path).match(glob)]
    return {**labels, "filename": path}


def cri(line: str, stream: str = "stdout", flags: str = "F", time: str = "2026-11-30T12:00:00.123456789Z") -> str:
    return f"{time} {stream} {flags} {line}"


API_POD = gateway_pod("unified-llm-api-6b5d9c7f4-q8r2m", "unified-llm-api", containers=(("api", (8000,)),))
# The gateway's error line of the Docker pipeline's tests, with a secret-keyed
# field too, written just before its CRI time (READ_AT).
SECRET_LINE = json.dumps({**GATEWAY_LINE, "timestamp": "2026-11-30T11:59:59.5Z", "api_key": "sk-live-0123456789abcdef"})


def test_the_kubernetes_pipeline_is_the_docker_one_between_a_cri_stage_and_an_age_limit():
    docker = promtail_job(parse_settings({"target": "docker"}, "staging", "test"))
    kubernetes = promtail_job(STAGING)
    age_limit = {"drop": {"older_than": "1h", "drop_counter_reason": "older_than_loki_accepts"}}
    assert kubernetes["pipeline_stages"] == [{"cri": {}}, *docker["pipeline_stages"], age_limit]
    assert LOKI_OUT_OF_ORDER_WINDOW == "1h"  # Loki refuses what is older; the limit drops it first
    assert not any(kind in stage for stage in docker["pipeline_stages"] for kind in ("cri", "docker"))
    assert set(kubernetes) == {"job_name", "kubernetes_sd_configs", "relabel_configs", "pipeline_stages"}
    assert set(docker) == {"job_name", "docker_sd_configs", "relabel_configs", "pipeline_stages"}
    prometheus = yaml.safe_load(render_prometheus_config(STAGING))["scrape_configs"][-1]
    assert kubernetes["kubernetes_sd_configs"] == prometheus["kubernetes_sd_configs"]  # the pods Prometheus scrapes


def test_promtail_reads_each_container_of_a_gateway_pod_from_the_node():
    job = promtail_job(STAGING)
    containers = (("proxy", (8000, 8100)), ("istio-proxy", (15090,)))
    pod = gateway_pod("kong-7d9f8b6c5-x2k4q", "kong", containers=containers, init_containers=("wait-for-db",))
    uid = pod[0]["__meta_kubernetes_pod_uid"]
    every = ("proxy", "istio-proxy", "wait-for-db")
    assert file_targets(job, pod) == {f"/var/log/pods/*{uid}/{c}/*.log": {"service": "kong"} for c in every}
    assert entry_labels(job, pod, "proxy") == {"service": "kong", "filename": pod_log_file(pod, "proxy")}


@pytest.mark.parametrize(
    "pod",
    [
        gateway_pod("kong-1-a", "kong", namespace="default"),
        pod_targets("kong-1-a", {"app.kubernetes.io/name": "kong"}),
        gateway_pod("redis-0", "redis"),
        pod_targets("kong-1-a", GATEWAY_LABELS),
    ],
    ids=["another namespace", "without the selector's label", "no gateway service", "no name label"],
)
def test_promtail_drops_every_other_pod(pod):
    assert file_targets(promtail_job(STAGING), pod) == {}


def test_a_cri_line_ships_as_the_same_docker_line_does():
    compose = {
        "__meta_docker_container_name": "/gateway-unified-llm-api-1",
        "__meta_docker_container_label_com_docker_compose_service": "unified-llm-api",
        "__meta_docker_container_label_com_docker_compose_container_number": "1",
    }
    docker_job = promtail_job(parse_settings({"target": "docker"}, "staging", "test"))
    docker_labels = docker_entry_labels(docker_job["relabel_configs"], compose, "stdout")
    via_docker = run_pipeline(docker_job["pipeline_stages"], SECRET_LINE, docker_labels)
    job = promtail_job(STAGING)
    via_cri = run_pipeline(job["pipeline_stages"], cri(SECRET_LINE), entry_labels(job, API_POD, "api"))
    assert via_cri.dropped is None
    expected = {"service": "unified-llm-api", "stream": "stdout", "level": "error", "provider": "openai"}
    assert via_cri.labels == via_docker.labels == expected
    assert via_cri.metadata == via_docker.metadata and via_cri.metadata["trace_id"] == TRACE_ID
    assert via_cri.line == via_docker.line
    assert not any(secret in via_cri.line for secret in ("sk-proj-", "sk-live-", "jane.doe@example.com"))
    assert via_cri.timestamp == via_docker.timestamp  # the line's own time, not the CRI one
    assert set(via_cri.labels) <= set(contract.LOG_LABELS)


def test_a_line_without_its_own_time_keeps_the_cri_time():
    job = promtail_job(STAGING)
    line = cri("INFO:     Started server process [1]", "stderr")
    entry = run_pipeline(job["pipeline_stages"], line, entry_labels(job, API_POD, "api"))
    assert entry.timestamp.isoformat() == "2026-11-30T12:00:00.123456+00:00"
    assert entry.labels == {"service": "unified-llm-api", "stream": "stderr", "level": "info"}


# The lines of these tests are written at 2026-11-30T12:00:00Z (cri(),
# GATEWAY_LINE); Promtail reads them a few seconds later, whenever the tests run.
READ_AT = datetime(2026, 11, 30, 12, 0, 5, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def frozen_wall_clock(monkeypatch):
    monkeypatch.setattr(promtail_stages, "wall_clock", lambda: READ_AT)


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize("age, shipped", [(timedelta(minutes=50), True), (timedelta(minutes=70), False), (timedelta(days=3), False)])
def test_a_line_older_than_loki_accepts_is_dropped_by_age_and_counted_apart(age, shipped):
    """A replaced Promtail pod (positions in its emptyDir) reads the node's
    files from the start again: lines Loki would refuse as too far behind
    (a push Promtail would count as dropped, raising PromtailDroppingEntries) are
    dropped here under their own reason; newer ones go again and Loki's
    queries return them once."""
    job = promtail_job(STAGING)
    written = READ_AT - age
    line = json.dumps({"timestamp": rfc3339(written), "level": "INFO", "service": "unified-llm-api", "message": "done"})
    entry = run_pipeline(job["pipeline_stages"], cri(line, time=rfc3339(written)), entry_labels(job, API_POD, "api"))
    assert entry.dropped == (None if shipped else "older_than_loki_accepts")
    # The line's own time decides, not the runtime's: a recent CRI time does not save an old line.
    recent_cri = cri(line, time=rfc3339(READ_AT))
    assert run_pipeline(job["pipeline_stages"], recent_cri, entry_labels(job, API_POD, "api")).dropped == entry.dropped


def test_the_docker_pipeline_keeps_old_lines():
    """On Docker the positions are on a volume: nothing is read twice, so no age limit."""
    job = promtail_job(parse_settings({"target": "docker"}, "staging", "test"))
    old = rfc3339(READ_AT - timedelta(days=3))
    line = json.dumps({"timestamp": old, "level": "INFO", "service": "unified-llm-api", "message": "done"})
    labels = docker_entry_labels(job["relabel_configs"], {
        "__meta_docker_container_name": "/gateway-unified-llm-api-1",
        "__meta_docker_container_label_com_docker_compose_service": "unified-llm-api",
        "__meta_docker_container_label_com_docker_compose_container_number": "1",
    }, "stdout")  # fmt: skip
    assert run_pipeline(job["pipeline_stages"], line, labels).dropped is None


def test_the_harness_drops_by_age_as_promtail_does():
    # drop.go: older_than alone drops an entry stamped before now - duration, and an unstamped one (Go's zero time).
    stages = [{"drop": {"older_than": "1h"}}]
    stamped = Entry(line="x", labels={}, timestamp=READ_AT - timedelta(minutes=59))
    assert run_stream_entries(stages, [stamped]).dropped == []
    old = Entry(line="x", labels={}, timestamp=READ_AT - timedelta(minutes=61))
    assert [e.dropped for e in run_stream_entries(stages, [old, Entry(line="y", labels={})]).dropped] == ["drop_stage", "drop_stage"]


def run_stream_entries(stages: list[dict], entries: list[Entry]) -> Pipeline:
    pipeline = Pipeline(stages)
    for entry in entries:
        pipeline.push(entry)
    pipeline.close()
    return pipeline


TRACEBACK = (
    "Traceback (most recent call last):",
    '  File "/app/unified_llm_api/providers.py", line 88, in call_provider',
    "httpx.ReadTimeout: timed out",
)


def test_streams_and_replicas_keep_their_tracebacks_apart_on_kubernetes():
    job = promtail_job(STAGING)
    uid = "0a1b2c3d-0000-4000-8000-000000000002"
    other = gateway_pod("unified-llm-api-6b5d9c7f4-z7w1k", "unified-llm-api", ip="10.42.3.9", uid=uid)
    first_pod, second_pod = entry_labels(job, API_POD, "api"), entry_labels(job, other, "app")
    second = (*TRACEBACK[:-1], "openai.RateLimitError: Error code: 429")
    access = json.dumps({"timestamp": "2026-11-30T12:00:00.2Z", "level": "INFO", "service": "unified-llm-api"})
    events = []
    for a, b in zip(TRACEBACK, second):  # two pods' stderr and one pod's stdout, interleaved line by line
        events += [(first_pod, cri(a, "stderr")), (second_pod, cri(b, "stderr")), (first_pod, cri(access))]
    shipped = run_stream(job["pipeline_stages"], [(i / 1000, labels, line) for i, (labels, line) in enumerate(events)])
    assert not shipped.dropped
    assert sorted(e.line for e in shipped.output) == sorted(["\n".join(TRACEBACK), "\n".join(second), access, access, access])
    for entry in shipped.output:
        stream, level = ("stdout", "info") if entry.line == access else ("stderr", "error")
        assert entry.labels == {"service": "unified-llm-api", "stream": stream, "level": level}  # no `filename`


def test_a_line_the_runtime_split_is_joined_parsed_and_redacted():
    job = promtail_job(STAGING)
    labels = entry_labels(job, API_POD, "api")
    parts = [SECRET_LINE[:40], SECRET_LINE[40:90], SECRET_LINE[90:]]
    events = [(i / 1000, labels, cri(part, flags=flag)) for i, (part, flag) in enumerate(zip(parts, "PPF"))]
    shipped = run_stream(job["pipeline_stages"], events)
    (entry,) = shipped.output
    assert entry.labels == {"service": "unified-llm-api", "stream": "stdout", "level": "error", "provider": "openai"}
    assert "sk-proj-" not in entry.line and json.loads(entry.line)["api_key"].startswith("[REDACTED")


def test_the_harness_cri_stage_follows_promtail():
    # extensions.go: a line not in CRI format passes as it is; a partial line
    # waits for the full one of its label set; held partial lines are lost at the end.
    plain = run_pipeline([{"cri": {}}], "not a CRI line", {"service": "kong"})
    assert (plain.line, plain.labels, plain.timestamp) == ("not a CRI line", {"service": "kong"}, None)
    events = [(0, {"f": "a"}, cri("x", flags="P")), (0, {"f": "b"}, cri("y")), (0, {"f": "a"}, cri("z", flags="P"))]
    run = run_stream([{"cri": {}}], events)
    assert [(e.line, e.labels) for e in run.output] == [("y", {"f": "b", "stream": "stdout"})]
    run = run_stream([{"cri": {}}], [(0, {}, cri("x", flags="P")), (0, {}, cri("y", "stderr")), (0, {}, cri("z"))])
    assert [e.line for e in run.output] == ["y", "xz"]  # stdout and stderr are separate label sets


def test_promtail_on_kubernetes_mounts_the_pod_logs_and_reads_pods_of_the_gateway_namespace():
    spec = promtail_service(CUSTOM)
    assert [(h.host_path, h.mount_path) for h in spec.host_paths] == [("/var/log/pods", "/var/log/pods")]
    assert spec.api_access == (ApiAccess(("pods",), "llm"),)
    assert "docker" not in render_promtail_config(CUSTOM)
    docker = promtail_service(parse_settings({"target": "docker"}, "dev", "test"))
    assert [h.host_path for h in docker.host_paths] == ["/var/run/docker.sock"] and docker.api_access == ()
