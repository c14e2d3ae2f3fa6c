"""On Kubernetes, Prometheus scrapes the stack's own components pod by pod
(kubernetes_sd_configs, role pod), not through their ClusterIP Service: every
Prometheus, Alertmanager, Loki and Grafana replica and every node's Promtail
is a target of its own, labelled as the Docker jobs label their container.

The discovered label sets come from the pod-role harness of
tests/test_kubernetes_discovery.py (what Prometheus' discovery/kubernetes
pod.go builds); the pods themselves from the plan of tests/test_kubernetes_target.py
(the labels, namespaces, replicas and ports `pulumi up` would give them)."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
import yaml
from test_kubernetes_discovery import kubernetes_sd_problems, pod_targets, promtool_check, scrape_target
from test_kubernetes_discovery import scraped as scraped_by
from test_kubernetes_target import S3, manifests, of_kind, workloads

from stack import topology
from stack.components import build_services
from stack.components.prometheus import CONFIG_DIR, SPANMETRICS_JOB, STACK_METRICS, prometheus_service, render_prometheus_config
from stack.settings import parse_settings
from stack.settings.secrets import GRAFANA_DATABASE_URL
from stack.spec import ApiAccess

STAGING = parse_settings({"target": "kubernetes", "cluster": "staging"}, "staging", "test")
SCALABLE = parse_settings({"target": "kubernetes", "kubernetes": {"profile": "scalable"}}, "prod", "test")
# Another namespace and prefix: nothing below may hold "observability" or "obs" by chance.
CUSTOM = parse_settings(
    {"target": "kubernetes", "namePrefix": "o11y", "kubernetes": {"namespace": "telemetry"}}, "staging", "test"
)
DOCKER = parse_settings({"target": "docker", "cluster": "staging"}, "staging", "test")
# (job, component, port name, path, `service` label), as render_prometheus_config scrapes them.
STACK_JOBS = [
    *((component, component, port_name, path, component) for component, (port_name, path) in STACK_METRICS.items()),
    (SPANMETRICS_JOB, "jaeger", "spanmetrics", "/metrics", "jaeger"),
]
JOB_NAMES = [job for job, *_ in STACK_JOBS]
# The cluster's own state and nodes, Kubernetes only (stack/components/cluster_metrics.py).
CLUSTER_JOBS = ["kube-state-metrics", "kubelet", "cadvisor"]
# The prod plan with every component replicated: Loki on object storage, Grafana on an external database.
SCALED_CONFIG = {"logs": S3}
SCALED_SECRETS = {
    "objectStoreAccessKeyId": "AKIAEXAMPLEEXAMPLE12",
    "objectStoreSecretAccessKey": "very/secret+key",
    GRAFANA_DATABASE_URL: "postgres://grafana:db-pw@db.example.com:5432/grafana",
}
NODES = ("node-a", "node-b", "node-c")
NAME, INSTANCE = "app.kubernetes.io/name", "app.kubernetes.io/instance"


def stack_jobs(settings) -> dict[str, dict]:
    config = yaml.safe_load(render_prometheus_config(settings))
    return {job["job_name"]: job for job in config["scrape_configs"] if job["job_name"] in JOB_NAMES}


def component_pod(settings, component: str, name: str, labels: dict[str, str] | None = None, **pod) -> list[dict[str, str]]:
    """The pod-role targets of one pod labelled as the kubernetes target labels
    `component`'s pods (`labels` changing some), in its namespace, declaring
    the component's ports; `pod`: pod_targets' other arguments."""
    own = {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/instance": topology.instance(settings),
        "app.kubernetes.io/part-of": "gateway-observability",
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/version": "1.0.0",
    }
    pod.setdefault("namespace", topology.node_namespace(settings) if component == "promtail" else settings.kubernetes.namespace)
    pod.setdefault("containers", ((component, tuple(topology.PORTS[component].values())),))
    return pod_targets(name, {**own, **(labels or {})}, **pod)


def staging_pod(component: str, name: str, labels: dict[str, str] | None = None, **pod) -> list[dict[str, str]]:
    return component_pod(STAGING, component, name, labels, **pod)


def scraped(settings, pods: list[list[dict]], jobs: list[str] = JOB_NAMES) -> dict[tuple, str]:
    """What Prometheus scrapes of `pods` in the stack jobs `jobs`: {(job, labels...): url}."""
    return scraped_by(settings, pods, jobs)


# --- the config -----------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [STAGING, SCALABLE, CUSTOM], ids=["staging", "scalable", "custom"])
def test_promtool_accepts_the_kubernetes_config(settings, tmp_path):
    """promtool on the rendered files; Debian's promtool (2.42) has no
    Kubernetes discovery: then each discovery block is checked as Prometheus'
    kubernetes.SDConfig.UnmarshalYAML does and the rest by promtool, with a
    static target in the block's place (as test_kubernetes_discovery does)."""
    for path, text in prometheus_service(settings).files.items():
        out = tmp_path / PurePosixPath(path).relative_to(CONFIG_DIR)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    jobs = config["scrape_configs"]
    assert [job["job_name"] for job in jobs] == [*JOB_NAMES, *CLUSTER_JOBS, *(s.name for s in settings.gateway_services)]
    # Every job discovers its targets but kube-state-metrics', read through its Service.
    jobs = [job for job in jobs if job["job_name"] != "kube-state-metrics"]
    config["scrape_configs"] = jobs
    assert all("kubernetes_sd_configs" in job and "static_configs" not in job for job in jobs)
    result = promtool_check(config, tmp_path)
    if "field kubernetes_sd_configs not found" in result.stdout + result.stderr:  # Debian's build
        for job in jobs:
            assert [kubernetes_sd_problems(sd) for sd in job.pop("kubernetes_sd_configs")] == [[]], job["job_name"]
            job["static_configs"] = [{"targets": ["10.42.1.17:9090"]}]
        result = promtool_check(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_kubernetes_jobs_keep_the_docker_jobs_names_paths_and_order():
    docker = yaml.safe_load(render_prometheus_config(DOCKER))["scrape_configs"]
    kubernetes = [j for j in yaml.safe_load(render_prometheus_config(STAGING))["scrape_configs"] if j["job_name"] not in CLUSTER_JOBS]
    assert [(j["job_name"], j["metrics_path"]) for j in kubernetes] == [(j["job_name"], j["metrics_path"]) for j in docker]
    # Docker keeps one static target per component: its container name.
    docker_stack = [j for j in docker if j["job_name"] in JOB_NAMES]
    assert [j["static_configs"][0]["targets"] for j in docker_stack] == [
        [topology.address(DOCKER, component, port_name)] for _, component, port_name, *_ in STACK_JOBS
    ]


def test_one_watch_for_the_stack_namespace_and_one_for_the_node_namespace():
    # Prometheus' discovery manager runs one provider for equal blocks (discovery/manager.go registerProviders).
    jobs = stack_jobs(CUSTOM)
    blocks = {name: job["kubernetes_sd_configs"] for name, job in jobs.items()}
    selector = [{"role": "pod", "label": "app.kubernetes.io/instance=o11y-staging"}]
    main = [{"role": "pod", "namespaces": {"names": ["telemetry"]}, "selectors": selector}]
    node = [{"role": "pod", "namespaces": {"names": ["telemetry-node"]}, "selectors": selector}]
    assert blocks == {name: node if name == "promtail" else main for name in JOB_NAMES}


# --- relabelling: one target per pod ------------------------------------------------------------


@pytest.mark.parametrize("job, component, port_name, path, service", STACK_JOBS, ids=JOB_NAMES)
def test_a_component_pod_is_one_target_with_the_docker_jobs_labels(job, component, port_name, path, service):
    pod_name = "obs-promtail-x7k2p" if component == "promtail" else f"obs-{component}-0"
    port = topology.port(component, port_name)
    pod = staging_pod(component, pod_name, ip="10.42.3.21")
    (labels, url), = [(dict(k), v) for k, v in scraped(STAGING, [pod], [job]).items()]
    assert url == f"http://10.42.3.21:{port}{path}"
    docker_job = next(j for j in yaml.safe_load(render_prometheus_config(DOCKER))["scrape_configs"] if j["job_name"] == job)
    static = docker_job["static_configs"][0]
    docker_labels, _ = scrape_target(docker_job, {"__address__": static["targets"][0], **static["labels"]})
    assert labels == {**docker_labels, "instance": f"{pod_name}:{port}"}
    assert labels == {"job": job, "service": service, "environment": "staging", "cluster": "staging", "instance": f"{pod_name}:{port}"}


def test_an_ipv6_pod_is_scraped_in_brackets_and_named_by_its_pod():
    pod = staging_pod("loki", "obs-loki-0", ip="fd00:10:42::21")
    (labels, url), = [(dict(k), v) for k, v in scraped(STAGING, [pod], ["loki"]).items()]
    assert url == "http://[fd00:10:42::21]:3100/metrics" and labels["instance"] == "obs-loki-0:3100"


def test_a_pod_with_init_containers_and_undeclared_ports_is_still_one_target():
    containers = (("grafana", ()), ("sidecar", (8080,)))
    pod = staging_pod("grafana", "obs-grafana-0", containers=containers, init_containers=("init-chown",))
    assert list(scraped(STAGING, [pod]).values()) == ["http://10.42.1.17:3000/metrics"]


@pytest.mark.parametrize(
    "case, pod",
    [
        ("another stack's in the same namespace", staging_pod("prometheus", "obs-prometheus-0", {INSTANCE: "obs-prod"})),
        ("no instance label", pod_targets("obs-prometheus-0", {NAME: "prometheus"}, namespace="observability")),
        ("no name label", pod_targets("obs-prometheus-0", {INSTANCE: "obs-staging"}, namespace="observability")),
        ("a scheduled job's", staging_pod("jaeger", "jaeger-es-index-cleaner-29412-x", {NAME: "jaeger-es-index-cleaner"})),
        ("a name only containing a component's", staging_pod("prometheus", "x-0", {NAME: "prometheus-operator"})),
        ("a component in the other namespace", staging_pod("prometheus", "obs-prometheus-0", namespace="observability-node")),
        ("promtail in the stack namespace", staging_pod("promtail", "obs-promtail-x7k2p", namespace="observability")),
        ("a gateway pod", pod_targets("kong-1-a", {NAME: "kong", "app.kubernetes.io/part-of": "ai-gateway"})),
        ("a succeeded pod", staging_pod("loki", "obs-loki-0", phase="Succeeded")),
        ("a failed pod", staging_pod("promtail", "obs-promtail-x7k2p", phase="Failed")),
    ],
)
def test_prometheus_drops_every_other_pod(case, pod):
    # The API server's label selector (INSTANCE) filters first; the relabelling holds on its own.
    assert scraped(STAGING, [pod]) == {}


def test_a_component_pod_is_scraped_by_its_own_jobs_only():
    # Jaeger's pod: the jaeger and jaeger-spanmetrics jobs, on their two ports; no other job takes it.
    pod = staging_pod("jaeger", "obs-jaeger-0")
    assert {dict(k)["job"]: v for k, v in scraped(STAGING, [pod]).items()} == {
        "jaeger": "http://10.42.1.17:8888/metrics",
        "jaeger-spanmetrics": "http://10.42.1.17:8889/metrics",
    }
    assert len(scraped(STAGING, [staging_pod("alertmanager", "obs-alertmanager-0")])) == 1


# --- the plan: every replica, the RBAC, the network --------------------------------------------


def planned_pods(found: list[dict], replicas: dict[str, int]) -> dict[str, list[list[dict]]]:
    """Component -> the pod-role targets of each pod its workload in the plan
    runs: a StatefulSet's `<name>-<i>`, a Deployment's pods, `replicas` of
    each; a DaemonSet's one pod per node of NODES. Labels, namespace and
    ports from the pod template."""
    pods = {}
    for component, workload in workloads(found).items():
        template = workload["spec"]["template"]
        containers = tuple(
            (c["name"], tuple(p["containerPort"] for p in c.get("ports", []))) for c in template["spec"]["containers"]
        )
        name = workload["metadata"]["name"]
        if workload["kind"] == "DaemonSet":
            names = [f"{name}-{node[-1]}x7k2" for node in NODES]
        elif workload["kind"] == "StatefulSet":
            names = [f"{name}-{i}" for i in range(replicas[component])]
        else:
            names = [f"{name}-6b5d9c7f4-{i}q8r2" for i in range(replicas[component])]
        pods[component] = [
            pod_targets(
                pod_name,
                template["metadata"]["labels"],
                namespace=workload["metadata"]["namespace"],
                ip=f"10.42.{n}.{len(pods) + 10}",
                containers=containers,
                uid=f"uid-{pod_name}",
            )
            for n, pod_name in enumerate(names)
        ]
    return pods


def test_the_scalable_profile_sees_every_replica_and_every_node():
    found = manifests("prod", SCALED_CONFIG, SCALED_SECRETS)
    (config_map,) = [m for m in of_kind(found, "ConfigMap").values() if m["metadata"]["name"] == "obs-prometheus-config"]
    settings = parse_settings({"target": "kubernetes", "kubernetes": {"profile": "scalable"}, **SCALED_CONFIG}, "prod", "test")
    # What the plan deploys is what the tests below relabel with.
    assert config_map["data"]["etc_prometheus_prometheus.yml"] == render_prometheus_config(settings)
    # Replicas as `pulumi up` runs them: the plan's harness builds Grafana without
    # the secrets the stack sets (one replica); build_services with them runs two.
    specs = {spec.name: spec for spec in build_services(settings, SCALED_SECRETS)}
    assert {name: workloads(found)[name]["spec"].get("replicas") for name in specs} == {
        name: None if name == "promtail" else (1 if name == "grafana" else spec.replicas) for name, spec in specs.items()
    }
    pods = planned_pods(found, {name: spec.replicas for name, spec in specs.items()})
    del pods["kube-state-metrics"]  # scraped through its Service (one copy of the cluster's state)
    replicas = {component: len(each) for component, each in pods.items()}
    assert replicas == {"prometheus": 2, "alertmanager": 3, "loki": 3, "promtail": len(NODES), "jaeger": 1, "grafana": 2}
    every_pod = [targets for each in pods.values() for targets in each]
    found_targets = [dict(k) for k in scraped(settings, every_pod)]
    for job, component, port_name, _, _ in STACK_JOBS:
        instances = sorted(t["instance"] for t in found_targets if t["job"] == job)
        names = sorted(targets[0]["__meta_kubernetes_pod_name"] for targets in pods[component])
        assert instances == [f"{name}:{topology.port(component, port_name)}" for name in names], job
    assert len(found_targets) == sum(replicas.values()) + replicas["jaeger"]  # spanmetrics: a second job on Jaeger


def test_the_plan_labels_and_places_pods_where_the_jobs_look():
    # topology.instance and topology.node_namespace are the names the kubernetes target gives.
    for settings, environment in ((STAGING, "staging"), (SCALABLE, "prod")):
        for component, workload in workloads(manifests(environment)).items():
            labels = workload["spec"]["template"]["metadata"]["labels"]
            assert labels["app.kubernetes.io/instance"] == topology.instance(settings)
            assert labels["app.kubernetes.io/name"] == component
            namespace = topology.node_namespace(settings) if component == "promtail" else settings.kubernetes.namespace
            assert workload["metadata"]["namespace"] == namespace


def test_prometheus_may_list_and_watch_pods_in_both_stack_namespaces_and_the_gateways():
    assert prometheus_service(STAGING).api_access == (
        ApiAccess(("pods",), "ai-gateway"),
        ApiAccess(("pods",), "observability"),
        ApiAccess(("pods",), "observability-node"),
        ApiAccess(("nodes", "nodes/metrics")),  # the kubelets: node discovery and their metrics, nothing else cluster-wide
    )
    found = manifests("staging")
    roles, bindings = of_kind(found, "Role"), of_kind(found, "RoleBinding")
    name = "observability-obs-prometheus-discovery"
    namespaces = ("ai-gateway", "observability", "observability-node")
    for namespace in namespaces:
        assert roles[f"{namespace}/{name}"]["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
        binding = bindings[f"{namespace}/{name}"]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "obs-prometheus", "namespace": "observability"}]
    # One Role per namespace; cluster-wide, nodes only.
    assert {k for k in roles if k.endswith(name)} == {f"{namespace}/{name}" for namespace in namespaces}
    assert [role["rules"][0]["resources"] for role in of_kind(found, "ClusterRole").values()] == [["nodes", "nodes/metrics"]]


def test_a_gateway_in_the_stacks_namespace_shares_its_role():
    shared = parse_settings({"target": "kubernetes", "kubernetes": {"gateway": {"namespace": "observability"}}}, "staging", "test")
    pods = ("pods",)
    assert prometheus_service(shared).api_access[:2] == (ApiAccess(pods, "observability"), ApiAccess(pods, "observability-node"))


def _reaches(rules: list[dict], direction: str, peer: dict) -> set[int]:
    return {p["port"] for rule in rules if peer in rule.get(direction, []) for p in rule["ports"] if p["protocol"] == "TCP"}


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_network_policies_let_prometheus_reach_every_pod_it_scrapes(environment):
    found = manifests(environment)
    policies = of_kind(found, "NetworkPolicy")
    prometheus = policies["observability/obs-prometheus"]["spec"]
    settings = STAGING if environment == "staging" else SCALABLE
    for job, component, port_name, _, _ in STACK_JOBS:
        workload = workloads(found)[component]
        namespace = workload["metadata"]["namespace"]
        selector = {"matchLabels": workload["spec"]["selector"]["matchLabels"]}
        to = {"podSelector": selector}
        if namespace != "observability":
            to["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
        port = topology.port(component, port_name)
        assert port in _reaches(prometheus["egress"], "to", to), job
        inbound = {"podSelector": {"matchLabels": {NAME: "prometheus", INSTANCE: topology.instance(settings)}}}
        if namespace != "observability":
            inbound["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}
        assert port in _reaches(policies[f"{namespace}/obs-{component}"]["spec"]["ingress"], "from", inbound), job


def test_promtail_pods_in_the_node_namespace_are_reachable_from_prometheus():
    policies = of_kind(manifests("staging"), "NetworkPolicy")
    node = {"kubernetes.io/metadata.name": "observability-node"}
    promtail = {"app.kubernetes.io/name": "promtail", "app.kubernetes.io/instance": "obs-staging"}
    egress = policies["observability/obs-prometheus"]["spec"]["egress"]
    assert 9080 in _reaches(egress, "to", {"podSelector": {"matchLabels": promtail}, "namespaceSelector": {"matchLabels": node}})
