"""The staging and prod stacks on Kubernetes under the Pulumi SDK's mocks:
every object `pulumi up` would apply, as a manifest, checked by
kubernetes-validate (strict, one pinned Kubernetes version) and against the
Pod Security Standards' restricted profile.

Mocks and config are set BEFORE the target is constructed (in `planned`);
each plan runs under @pulumi.runtime.test like `python -m stack plan`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from dataclasses import replace

import kubernetes_validate
import pulumi
import pytest
from conftest import ROOT
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from stack import topology
from stack.components import build_services
from stack.components.service import SCALABLE_REPLICAS
from stack.plan import configure_mocks, plan_stack
from stack.settings import PROJECT, load_from_pulumi, parse_settings
from stack.settings.stack_file import load_from_stack_file
from stack.spec import ApiAccess, Port
from stack.render import rendered_files
from stack.targets.kubernetes import PEER_PORTS, KubernetesTarget, config_checksum, config_key, run_as
from stack.versions import COMPONENTS

# The newest Kubernetes schema kubernetes-validate 1.37.0 ships (it has 1.33 to 1.37).
KUBERNETES_VERSION = "1.37.0"
ENVIRONMENTS = ("staging", "prod")
STATEFUL = {"prometheus", "loki", "alertmanager", "grafana", "jaeger"}
PASSWORD = "super-secret-grafana-password"
S3 = {"storage": {"type": "s3", "s3": {"endpoint": "https://s3.eu-west-1.amazonaws.com", "bucket": "gateway-logs"}}}
ROUTING = {
    "receivers": [
        {"name": "oncall-pager", "pagerduty": {}},
        {"name": "gateway-slack", "slack": {"channel": "#ai-gateway-alerts"}},
    ],
    "critical": ["oncall-pager", "gateway-slack"],
    "warning": ["gateway-slack"],
}
SECRETS = {
    "grafanaAdminPassword": PASSWORD,
    "objectStoreAccessKeyId": "AKIAEXAMPLEEXAMPLE12",
    "objectStoreSecretAccessKey": "very/secret+key",
    "receiverSecrets": {"oncall-pager": "pd-routing-key-123", "gateway-slack": "https://hooks.slack.com/services/T0/B0/x"},
}
WITH_SECRETS = {"logs": S3, "alerting": {"routing": ROUTING}}
# Alertmanager's gossip port, for tests that need it whether or not its spec has it yet.
PEER_PORT = {"alertmanager": "cluster"}
INGRESS = {"enabled": True, "host": "grafana.example.com", "className": "nginx", "tlsSecret": "grafana-tls"}


def _freeze(value) -> str:
    return json.dumps(value, sort_keys=True)


@functools.cache
def stack_profile(environment: str) -> str:
    """The kubernetes.profile Pulumi.<environment>.yaml sets: prod scalable, staging single."""
    return load_from_stack_file(ROOT / f"Pulumi.{environment}.yaml", allow_missing_secrets=True).settings.kubernetes.profile


@functools.cache
def _planned(environment: str, config_json: str, secrets_json: str, cluster_wide_json: str, peer_ports_json: str) -> tuple:
    config = {"target": "kubernetes", **json.loads(config_json)}
    # Each environment runs its stack file's profile unless the test sets one.
    config["kubernetes"] = {"profile": stack_profile(environment), **config.get("kubernetes", {})}
    cluster_wide = json.loads(cluster_wide_json)
    peer_ports = json.loads(peer_ports_json)
    secrets = json.loads(secrets_json)
    flat = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in {**config, **secrets}.items()}
    # The SDK's mock runner drives the current event loop; give each plan its own.
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = configure_mocks(environment, flat, [f"{PROJECT}:{k}" for k in secrets])
    built = {}

    @pulumi.runtime.test
    def construct():
        loaded = load_from_pulumi()
        settings = loaded.settings
        services = [
            replace(spec, api_access=(*spec.api_access, ApiAccess(tuple(cluster_wide[spec.name]))))
            if spec.name in cluster_wide
            else spec
            for spec in build_services(settings)
        ]
        services = [_with_peer_port(spec, peer_ports.get(spec.name)) for spec in services]
        target = KubernetesTarget(f"{settings.name_prefix}-{settings.environment}", loaded, services)
        built["target"] = target
        return pulumi.Output.all(*[o.urn for o in target.objects])

    construct()
    return tuple(mocks.resources), built["target"]


def _with_peer_port(spec, port_name: str | None):
    """`spec` with the unpublished port `port_name` (topology.PORTS), unless it has it already."""
    if port_name is None or any(p.name == port_name for p in spec.ports):
        return spec
    return replace(spec, ports=(*spec.ports, Port(port_name, topology.port(spec.name, port_name), published=False)))


def planned(
    environment: str,
    config: dict | None = None,
    secrets: dict | None = None,
    cluster_wide: dict | None = None,
    peer_ports: dict | None = None,
):
    """(every resource registered, the target) for a stack; cached per arguments.
    `cluster_wide` adds cluster-wide API access to components: {component: [resource, ...]};
    `peer_ports` a port to components that lack it: {component: port name}."""
    return _planned(environment, _freeze(config or {}), _freeze(secrets or {}), _freeze(cluster_wide or {}), _freeze(peer_ports or {}))


def _plain(value):
    """Inputs as the API server would get them: secrets unwrapped, whole floats as ints."""
    if is_rpc_secret(value):
        return _plain(unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def manifests(
    environment: str,
    config: dict | None = None,
    secrets: dict | None = None,
    cluster_wide: dict | None = None,
    peer_ports: dict | None = None,
) -> list[dict]:
    """Every Kubernetes object as a manifest (apiVersion, kind, metadata, spec/data ...)."""
    resources, _ = planned(environment, config, secrets, cluster_wide, peer_ports)
    found = [_plain(r.inputs) for r in resources if r.type.startswith("kubernetes:") and r.type != "pulumi:providers:kubernetes"]
    kinds = {m["kind"] for m in found}
    # A program that registered nothing would pass every loop below vacuously.
    assert {"Namespace", "NetworkPolicy", "Service", "ConfigMap", "StatefulSet", "DaemonSet"} <= kinds, kinds
    return found


def of_kind(found: list[dict], kind: str) -> dict[str, dict]:
    return {f"{m['metadata'].get('namespace', '')}/{m['metadata']['name']}": m for m in found if m["kind"] == kind}


def workloads(found: list[dict]) -> dict[str, dict]:
    """Component name -> its Deployment, StatefulSet or DaemonSet; one per component."""
    result = {}
    for m in found:
        if m["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            result[m["metadata"]["labels"]["app.kubernetes.io/name"]] = m
    assert set(result) == {*COMPONENTS, "kube-state-metrics"}, sorted(result)  # the cluster's own state, on Kubernetes only
    return result


# --- Pod Security Standards, written from the page's control tables ----------------

# Restricted "Volume Types": only these.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip


def restricted_violations(pod: dict) -> set[str]:
    """The Pod Security Standards controls (baseline and restricted) a pod
    spec breaks, by control name; empty when `restricted` admits it."""
    broken = set()
    pod_sc = pod.get("securityContext", {})
    containers = [*pod.get("initContainers", []), *pod["containers"], *pod.get("ephemeralContainers", [])]
    contexts = [c.get("securityContext", {}) for c in containers]
    # Baseline
    if any(sc.get("windowsOptions", {}).get("hostProcess") for sc in [pod_sc, *contexts]):
        broken.add("HostProcess")
    if any(pod.get(key) for key in ("hostNetwork", "hostPID", "hostIPC")):
        broken.add("Host Namespaces")
    if any(sc.get("privileged") for sc in contexts):
        broken.add("Privileged Containers")
    if any(v for v in pod.get("volumes", []) if "hostPath" in v):
        broken.add("HostPath Volumes")
    if any(p.get("hostPort") for c in containers for p in c.get("ports", [])):
        broken.add("Host Ports")
    if any(sc.get("appArmorProfile", {}).get("type", "RuntimeDefault") not in ("RuntimeDefault", "Localhost") for sc in [pod_sc, *contexts]):
        broken.add("AppArmor")
    for sc in [pod_sc, *contexts]:
        selinux = sc.get("seLinuxOptions", {})
        if selinux.get("type", "") not in ("", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"):
            broken.add("SELinux")
        if selinux.get("user") or selinux.get("role"):
            broken.add("SELinux")
    if any(sc.get("procMount", "Default") != "Default" for sc in contexts):
        broken.add("/proc Mount Type")
    if any(s["name"] not in SAFE_SYSCTLS for s in pod_sc.get("sysctls", [])):
        broken.add("Sysctls")
    # Restricted
    if any(next(iter(set(v) - {"name"})) not in RESTRICTED_VOLUMES for v in pod.get("volumes", [])):
        broken.add("Volume Types")
    if any(sc.get("allowPrivilegeEscalation") is not False for sc in contexts):
        broken.add("Privilege Escalation")
    pod_non_root = pod_sc.get("runAsNonRoot") is True
    if any(sc.get("runAsNonRoot") is False for sc in contexts) or not (
        pod_non_root or all(sc.get("runAsNonRoot") is True for sc in contexts)
    ):
        broken.add("Running as Non-root")
    if any(sc.get("runAsUser") == 0 for sc in [pod_sc, *contexts]):
        broken.add("Running as Non-root user")
    allowed_seccomp = ("RuntimeDefault", "Localhost")
    pod_seccomp = pod_sc.get("seccompProfile", {}).get("type")
    container_seccomp = [sc.get("seccompProfile", {}).get("type") for sc in contexts]
    if any(t is not None and t not in allowed_seccomp for t in [pod_seccomp, *container_seccomp]) or (
        pod_seccomp is None and any(t is None for t in container_seccomp)
    ):
        broken.add("Seccomp")
    for sc in contexts:
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []) or set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            broken.add("Capabilities")
    return broken


# --- the tests ------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_object_is_valid_for_the_pinned_kubernetes_version_in_strict_mode(environment):
    variants = [
        ({}, {}, {}),
        ({"kubernetes": {"ingress": INGRESS, "storageClass": "fast-ssd"}}, {}, {}),
        (WITH_SECRETS, SECRETS, {"prometheus": ["nodes", "services"]}),
        (
            {"kubernetes": {
                "gateway": {"createNamespace": True},
                "dns": {"podSelector": {"k8s-app": "kube-dns"}, "cidrs": ["169.254.20.10/32"]},
                "placement": {"loki": {"nodeSelector": {"pool": "obs"}, "priorityClassName": "high",
                                       "tolerations": [{"key": "dedicated", "value": "obs", "effect": "NoSchedule"}]}},
            }},
            {},
            {},
        ),
    ]
    checked = set()
    for config, secrets, cluster_wide in variants:
        for manifest in manifests(environment, config, secrets, cluster_wide, PEER_PORT):
            checked.add(manifest["kind"])
            try:
                kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                where = ".".join(map(str, error.absolute_path))
                pytest.fail(f"{manifest['kind']}/{manifest['metadata']['name']} at {where}: {error.message}")
    # The scalable profile's objects are among those checked.
    assert ("PodDisruptionBudget" in checked) is (environment == "prod"), checked


def test_a_broken_manifest_fails_validation():
    deployment = next(m for m in manifests("staging") if m["kind"] == "StatefulSet")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True  # a typo strict mode catches
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_restricted_checks_catch_what_the_profile_forbids():
    pod = workloads(manifests("staging"))["prometheus"]["spec"]["template"]["spec"]
    assert restricted_violations(pod) == set()
    bad = json.loads(json.dumps(pod))
    bad["hostNetwork"] = True
    bad["securityContext"]["seccompProfile"]["type"] = "Unconfined"
    bad["securityContext"]["runAsUser"] = 0
    container = bad["containers"][0]
    container["securityContext"].update(privileged=True, allowPrivilegeEscalation=True, capabilities={"add": ["SYS_ADMIN"]})
    container["ports"][0]["hostPort"] = 9090
    bad["volumes"].append({"name": "node", "hostPath": {"path": "/"}})
    assert restricted_violations(bad) == {
        "Host Namespaces", "Seccomp", "Running as Non-root user", "Privileged Containers", "Privilege Escalation",
        "Capabilities", "Host Ports", "HostPath Volumes", "Volume Types",
    }  # fmt: skip


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_pod_meets_the_restricted_profile_except_the_node_log_readers_host_path(environment):
    found = manifests(environment)
    namespaces = of_kind(found, "Namespace")
    main = namespaces["/observability"]["metadata"]["labels"]
    assert main["pod-security.kubernetes.io/enforce"] == "restricted"
    assert main["pod-security.kubernetes.io/enforce-version"] == "v1.33"
    assert main["pod-security.kubernetes.io/audit"] == main["pod-security.kubernetes.io/warn"] == "restricted"
    for name, workload in workloads(found).items():
        pod = workload["spec"]["template"]["spec"]
        namespace = workload["metadata"]["namespace"]
        violations = restricted_violations(pod)
        if workload["kind"] == "DaemonSet":
            # The exemption, explicitly: only the host path that reading node logs needs.
            assert namespace == "observability-node"
            assert namespaces[f"/{namespace}"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
            assert violations == {"HostPath Volumes", "Volume Types"}, violations
            host_mounts = {v["name"] for v in pod["volumes"] if "hostPath" in v}
            assert host_mounts and all(m.get("readOnly") for m in pod["containers"][0]["volumeMounts"] if m["name"] in host_mounts)
        else:
            assert namespace == "observability"
            assert violations == set(), (name, violations)
        container = pod["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert container["resources"]["requests"] == container["resources"]["limits"]
        assert container["readinessProbe"]["httpGet"] and container["livenessProbe"]["httpGet"]


def pod_templates(found: list[dict]) -> dict[str, dict]:
    """Every pod template of a plan (workloads' and CronJobs'), by kind/namespace/name."""
    templates = {}
    for m in found:
        if m["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            templates[f"{m['kind']}/{m['metadata']['namespace']}/{m['metadata']['name']}"] = m["spec"]["template"]["spec"]
        elif m["kind"] == "CronJob":
            template = m["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            templates[f"CronJob/{m['metadata']['namespace']}/{m['metadata']['name']}"] = template
    return templates


ES = {"storage": "elasticsearch", "elasticsearch": {"serverUrls": ["https://es:9200"]}}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_no_pod_runs_as_root(environment):
    templates = pod_templates(manifests(environment, {"traces": ES}))
    assert {"CronJob", "DaemonSet", "StatefulSet"} <= {name.split("/")[0] for name in templates}, sorted(templates)
    for name, pod in templates.items():
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] != 0, name
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            assert container["securityContext"].get("runAsUser", context["runAsUser"]) != 0, name
            assert container["securityContext"]["runAsNonRoot"] is True, name


@pytest.mark.parametrize("user", ["0", "0:0", "0:10001"])
def test_a_spec_or_job_asking_for_root_is_refused_by_name(user):
    # The one check every pod template (components' and CronJobs') goes through.
    with pytest.raises(ValueError) as caught:
        run_as("jaeger-es-index-cleaner", user)
    assert str(caught.value) == "jaeger-es-index-cleaner: runs as uid 0; no pod of the stack runs as root"


def test_a_non_root_user_keeps_its_groups():
    assert run_as("promtail", "10001:0") == (10001, 0)
    assert run_as("loki", "10001") == (10001, 10001)
    assert run_as("grafana", None) == (65534, 65534)


def test_promtail_reads_the_node_logs_through_the_root_group_and_keeps_positions_in_its_pod():
    """The kubelet's log files are root:root 0640: the root group, as a
    supplementary group only, reads them. A node path Promtail could write
    would have to be made by root, so its positions live in an emptyDir."""
    pod = workloads(manifests("staging"))["promtail"]["spec"]["template"]["spec"]
    context = pod["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"], context["supplementalGroups"]) == (10001, 10001, [0])
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["positions"] == {"name": "positions", "emptyDir": {}}
    assert [v["hostPath"]["path"] for v in volumes.values() if "hostPath" in v] == ["/var/log/pods"]
    assert not any("DirectoryOrCreate" in json.dumps(v) for v in pod["volumes"])
    # No other pod carries a supplementary group.
    others = [w for name, w in workloads(manifests("staging")).items() if name != "promtail"]
    assert not any("supplementalGroups" in w["spec"]["template"]["spec"]["securityContext"] for w in others)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_stateful_components_are_statefulsets_with_claim_templates(environment):
    found = workloads(manifests(environment, {"kubernetes": {"storageClass": "fast-ssd", "volumeSize": "20Gi"}}))
    assert {name for name, w in found.items() if w["kind"] == "StatefulSet"} == STATEFUL
    for name in STATEFUL:
        spec = found[name]["spec"]
        claims = spec["volumeClaimTemplates"]
        assert claims, name
        for claim in claims:
            assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
            # Alertmanager's and Grafana's state is small whatever volumeSize says.
            assert claim["spec"]["resources"]["requests"]["storage"] == {"alertmanager": "1Gi", "grafana": "2Gi"}.get(name, "20Gi")
            assert claim["spec"]["storageClassName"] == "fast-ssd"
        replicas = SCALABLE_REPLICAS.get(name, 1) if stack_profile(environment) == "scalable" else 1
        assert spec["serviceName"] == f"obs-{name}-headless" and spec["replicas"] == replicas
    assert found["promtail"]["kind"] == "DaemonSet"


def test_resources_are_quantities_from_the_spec():
    prometheus = workloads(manifests("staging"))["prometheus"]["spec"]["template"]["spec"]["containers"][0]
    assert prometheus["resources"]["limits"] == {"memory": "2Gi", "cpu": "1000m"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_service_names_are_the_topology_hostnames_and_expose_every_port(environment):
    found = manifests(environment)
    settings = parse_settings({"target": "kubernetes", "kubernetes": {"profile": stack_profile(environment)}}, environment, "test")
    services = of_kind(found, "Service")
    for spec in build_services(settings):
        assert spec.hostname == topology.hostname(settings, spec.name)
        namespace = "observability-node" if spec.host_paths else "observability"
        service = services[f"{namespace}/{spec.hostname}"]
        assert service["spec"]["type"] == "ClusterIP"
        # Every port but the ones only the component's own pods use (gossip).
        assert {p["port"] for p in service["spec"]["ports"]} == {p.number for p in spec.ports if p.name not in PEER_PORTS.get(spec.name, {})}
        # Reached by its plain hostname from the other namespace too.
        other = "observability" if spec.host_paths else "observability-node"
        alias = services[f"{other}/{spec.hostname}"]["spec"]
        assert alias == {"type": "ExternalName", "externalName": f"{spec.hostname}.{namespace}.svc.cluster.local"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_selectors_never_carry_the_version(environment):
    found = manifests(environment)
    selectors = [w["spec"]["selector"]["matchLabels"] for w in workloads(found).values()]
    selectors += [s["spec"]["selector"] for s in of_kind(found, "Service").values() if "selector" in s["spec"]]
    selectors += [p["spec"]["podSelector"].get("matchLabels", {}) for p in of_kind(found, "NetworkPolicy").values()]
    assert len(selectors) > 2 * len(COMPONENTS)
    for selector in selectors:
        assert "app.kubernetes.io/version" not in selector
    for name, workload in workloads(found).items():
        template_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert template_labels["app.kubernetes.io/version"] == workload["spec"]["template"]["spec"]["containers"][0]["image"].rpartition(":")[2]
        assert workload["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": f"obs-{environment}"}


def _checksums(config: dict) -> dict[str, str]:
    return {
        name: w["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        for name, w in workloads(manifests("staging", config)).items()
    }


def test_config_checksum_follows_the_rendered_files_only():
    base = _checksums({})
    settings = parse_settings({"target": "kubernetes"}, "staging", "test")
    assert base == {spec.name: config_checksum(dict(spec.files)) for spec in build_services(settings)}
    slower = _checksums({"scrapeInterval": "30s"})
    assert slower["prometheus"] != base["prometheus"]
    # A limit is no file: the pod template changes, the checksum does not.
    bigger = _checksums({"resources": {"prometheus": {"memory": "3Gi", "cpus": 2}}})
    assert bigger == base


# Files whose content is the target's own business: how Prometheus and
# Promtail find what they read (docker_sd vs kubernetes_sd), and Loki's ring
# and Alertmanager's peers once replicated (tests/test_ha_configs.py).
TARGET_SPECIFIC = {"prometheus/etc/prometheus/prometheus.yml", "promtail/etc/promtail/promtail.yaml"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_config_maps_hold_what_render_writes_and_docker_gets_the_same_files(environment):
    """What `python -m stack render <env>` writes is what the ConfigMaps
    carry, file for file; and every file but discovery's is byte-identical
    to the Docker target's for the same settings (single profile)."""
    stack_file = ROOT / f"Pulumi.{environment}.yaml"
    loaded = load_from_stack_file(stack_file, allow_missing_secrets=True)
    rendered = rendered_files(loaded)
    planned = plan_stack(stack_file, loaded.missing_secrets)  # the program `pulumi up` runs, under the mocks
    config_maps = {r.inputs["metadata"]["name"]: _plain(r.inputs)["data"] for r in planned if r.type == "kubernetes:core/v1:ConfigMap"}
    specs = build_services(loaded.settings, loaded.secrets)
    assert set(config_maps) == {f"{spec.hostname}-config" for spec in specs if spec.files}
    for spec in (s for s in specs if s.files):
        expected = {config_key(path): rendered[f"{spec.name}{path}"] for path in spec.files}
        assert config_maps[f"{spec.hostname}-config"] == expected, spec.name
    # Links start at the public URLs, whose defaults differ per target: the same on both here.
    links = {"publicUrls": {c: f"https://{c}.gateway.test" for c in topology.PUBLIC_COMPONENTS}}
    single = {"target": "kubernetes", "kubernetes": {"profile": "single"}, **links}
    docker = {spec.name: spec.files for spec in build_services(parse_settings({"target": "docker", **links}, environment, "t"))}
    on_kubernetes = {spec.name: spec.files for spec in build_services(parse_settings(single, environment, "t")) if spec.name in COMPONENTS}
    # The same files, but the cluster's alerts, which only a cluster has.
    only_kubernetes = {"prometheus": {"/etc/prometheus/rules/kubernetes-alerts.yml"}}
    assert {name: set(files) | only_kubernetes.get(name, set()) for name, files in docker.items()} == {
        name: set(files) for name, files in on_kubernetes.items()
    }
    differing = {f"{name}{path}" for name, files in docker.items() for path, text in files.items() if on_kubernetes[name][path] != text}
    assert differing == TARGET_SPECIFIC


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_traffic_is_denied_by_default_and_allowed_per_flow(environment):
    found = manifests(environment)
    policies = of_kind(found, "NetworkPolicy")
    for namespace in ("observability", "observability-node"):
        deny = policies[f"{namespace}/default-deny"]["spec"]
        assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        dns = policies[f"{namespace}/allow-dns"]["spec"]["egress"][0]
        assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}

    def ingress_ports(component: str, source: str) -> set[int]:
        policy = next(p for p in policies.values() if p["metadata"]["name"] == f"obs-{component}")
        return {
            port["port"]
            for rule in policy["spec"]["ingress"]
            for peer in rule.get("from", [{}])
            if peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") == source
            or (source == "gateway" and peer.get("namespaceSelector", {}).get("matchLabels") == {"kubernetes.io/metadata.name": "ai-gateway"})
            or (source == "anywhere" and not rule.get("from"))
            for port in rule["ports"]
        }

    assert ingress_ports("loki", "promtail") == {3100}
    assert ingress_ports("jaeger", "grafana") == {16686}
    assert ingress_ports("alertmanager", "loki") == {9093}
    assert ingress_ports("jaeger", "prometheus") == {8888, 8889}
    assert ingress_ports("promtail", "prometheus") == {9080}
    assert ingress_ports("jaeger", "gateway") == {4317, 4318}
    assert ingress_ports("loki", "gateway") == {3100}
    # From anywhere only behind an Ingress, which these plans have not (tests/test_kubernetes_flows.py).
    assert ingress_ports("grafana", "anywhere") == set()
    assert ingress_ports("prometheus", "anywhere") == set()


def test_secrets_stay_secret_and_out_of_every_config_map():
    resources, _ = planned("prod", WITH_SECRETS, SECRETS)
    found = manifests("prod", WITH_SECRETS, SECRETS)
    values = [PASSWORD, "AKIAEXAMPLEEXAMPLE12", "very/secret+key", *SECRETS["receiverSecrets"].values()]
    secret_objects = [r for r in resources if r.type == "kubernetes:core/v1:Secret"]
    assert {r.name for r in secret_objects} == {"grafana-secrets", "alertmanager-secrets", "loki-secrets"}
    for resource in secret_objects:
        assert is_rpc_secret(resource.inputs["stringData"])
    in_the_clear = json.dumps([m for m in found if m["kind"] != "Secret"])
    config_maps = json.dumps(list(of_kind(found, "ConfigMap").values()))
    assert '"grafanaAdminPassword"' not in config_maps
    for value in values:
        assert value not in in_the_clear
    loki = workloads(found)["loki"]["spec"]["template"]["spec"]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in loki["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs["LOKI_S3_SECRET_ACCESS_KEY"] == {"name": "obs-loki-secrets", "key": "objectStoreSecretAccessKey"}
    grafana = workloads(found)["grafana"]["spec"]["template"]["spec"]["containers"][0]
    mount = next(m for m in grafana["volumeMounts"] if m["mountPath"] == "/run/secrets/grafana-admin-password")
    assert mount["readOnly"] is True and mount["subPath"] == "grafanaAdminPassword"


def test_only_components_that_discover_get_an_api_token():
    found = manifests("staging")
    for account in of_kind(found, "ServiceAccount").values():
        name = account["metadata"]["labels"]["app.kubernetes.io/name"]
        spec = next(s for s in build_services(parse_settings({"target": "kubernetes"}, "staging", "test")) if s.name == name)
        assert account["automountServiceAccountToken"] is bool(spec.api_access), name
    roles = [*of_kind(found, "Role").values(), *of_kind(found, "ClusterRole").values()]
    for role in roles:
        for rule in role["rules"]:
            assert rule["apiGroups"] in ([""], ["apps"]) and rule["verbs"] == ["get", "list", "watch"]
    # Cluster-wide: only Prometheus, for the kubelets (node discovery, nodes/metrics); no secrets anywhere.
    cluster_roles = of_kind(found, "ClusterRole")
    assert list(cluster_roles) == ["/observability-obs-prometheus-discovery"]
    assert cluster_roles["/observability-obs-prometheus-discovery"]["rules"][0]["resources"] == ["nodes", "nodes/metrics"]
    assert not any("secrets" in rule["resources"] for role in roles for rule in role["rules"])


def test_grafana_gets_an_ingress_only_when_enabled():
    assert not of_kind(manifests("staging"), "Ingress")
    found = of_kind(manifests("prod", {"kubernetes": {"ingress": INGRESS}}), "Ingress")
    spec = found["observability/obs-grafana"]["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["grafana.example.com"], "secretName": "grafana-tls"}]
    assert spec["rules"][0]["http"]["paths"][0]["backend"]["service"] == {"name": "obs-grafana", "port": {"name": "http"}}


def test_endpoints_are_in_cluster_urls_with_the_docker_targets_keys():
    _, target = planned("staging")
    assert target.endpoints == {
        "grafanaUrl": "http://obs-grafana.observability.svc:3000",
        "prometheusUrl": "http://obs-prometheus.observability.svc:9090",
        "alertmanagerUrl": "http://obs-alertmanager.observability.svc:9093",
        "jaegerUrl": "http://obs-jaeger.observability.svc:16686",
        "lokiPushUrl": "http://obs-loki.observability.svc:3100/loki/api/v1/push",
        "otlpGrpcEndpoint": "http://obs-jaeger.observability.svc:4317",
        "otlpHttpEndpoint": "http://obs-jaeger.observability.svc:4318",
    }


def test_cluster_wide_access_is_a_cluster_role_bound_to_the_service_account():
    found = manifests("staging", cluster_wide={"prometheus": ["nodes", "services"]})
    role = of_kind(found, "ClusterRole")["/observability-obs-prometheus-discovery"]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes", "nodes/metrics", "services"], "verbs": ["get", "list", "watch"]}]
    binding = of_kind(found, "ClusterRoleBinding")["/observability-obs-prometheus-discovery"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "observability-obs-prometheus-discovery"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "obs-prometheus", "namespace": "observability"}]


def test_egress_leaves_the_cluster_only_on_the_ports_the_settings_name():
    email = {"name": "ops-mail", "email": {"to": "ops@example.com", "from": "am@example.com", "smarthost": "smtp.example.com:587"}}
    routing = {**ROUTING, "receivers": [*ROUTING["receivers"], email], "warning": ["gateway-slack", "ops-mail"]}
    found = manifests("prod", {"logs": S3, "alerting": {"routing": routing}}, SECRETS)

    def anywhere(component: str) -> set[int]:
        policy = of_kind(found, "NetworkPolicy")[f"observability/obs-{component}"]
        return {p["port"] for rule in policy["spec"]["egress"] if "to" not in rule for p in rule["ports"]}

    assert anywhere("alertmanager") == {443, 587}
    assert anywhere("loki") == {443}  # the object store
    assert anywhere("grafana") == set()
    assert anywhere("prometheus") == {443, 6443, 10250}  # the API server, for discovery; the kubelets
    assert anywhere("kube-state-metrics") == {443, 6443}  # the API server


def test_the_node_agent_knows_its_node_by_hostname():
    """Promtail's pod discovery keeps the pods of spec.nodeName=$HOSTNAME only."""
    daemonsets = [m for m in manifests("staging") if m["kind"] == "DaemonSet"]
    assert daemonsets
    for daemonset in daemonsets:
        env = daemonset["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "HOSTNAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in env


# --- the scalable profile (prod): replicas, disruption budgets, spreading -----------------

POD_IDENTITY = [
    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
]


def test_prod_runs_a_prometheus_pair_and_three_alertmanagers_with_budgets_and_spreading():
    assert SCALABLE_REPLICAS == {"prometheus": 2, "alertmanager": 3}
    found = manifests("prod")
    budgets = {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]: b for b in of_kind(found, "PodDisruptionBudget").values()}
    assert set(budgets) == set(SCALABLE_REPLICAS)
    for name, workload in workloads(found).items():
        spec, pod = workload["spec"], workload["spec"]["template"]["spec"]
        if name not in SCALABLE_REPLICAS:
            assert spec.get("replicas", 1) == 1 and "affinity" not in pod and "topologySpreadConstraints" not in pod, name
            continue
        selector = spec["selector"]
        assert workload["kind"] == "StatefulSet"
        assert spec["replicas"] == SCALABLE_REPLICAS[name]
        assert spec["podManagementPolicy"] == "Parallel"
        budget = budgets[name]
        assert budget["apiVersion"] == "policy/v1"
        assert budget["metadata"]["namespace"] == workload["metadata"]["namespace"]
        assert budget["spec"] == {"maxUnavailable": 1, "selector": selector}
        assert pod["affinity"] == {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}}
                ]
            }
        }
        assert pod["topologySpreadConstraints"] == [
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": selector}
        ]
        # Both from the downward API, before anything that may refer to them as $(VAR).
        assert pod["containers"][0]["env"][:2] == POD_IDENTITY


def test_staging_runs_one_of_each_without_budgets_or_spreading():
    found = manifests("staging")
    assert not of_kind(found, "PodDisruptionBudget")
    for name, workload in workloads(found).items():
        spec, pod = workload["spec"], workload["spec"]["template"]["spec"]
        assert spec.get("replicas", 1) == 1 and "podManagementPolicy" not in spec, name
        assert "affinity" not in pod and "topologySpreadConstraints" not in pod, name
        names = {e["name"] for e in pod["containers"][0].get("env", [])}
        assert not names & {"POD_NAME", "POD_IP"}, name


def _policy(found: list[dict], component: str) -> dict:
    return of_kind(found, "NetworkPolicy")[f"observability/obs-{component}"]["spec"]


def _rule_ports(rules: list[dict], key: str, component: str) -> set[tuple[str, int]]:
    """(protocol, port) the rules open to or from the pods of `component` (by their selector)."""
    return {
        (p["protocol"], p["port"])
        for rule in rules
        for peer in rule.get(key, [])
        if peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") == component
        for p in rule["ports"]
    }


def test_alertmanager_peers_gossip_over_tcp_and_udp_among_themselves_only():
    gossip = {("TCP", 9094), ("UDP", 9094)}
    settings = parse_settings({"target": "kubernetes", "kubernetes": {"profile": "scalable"}}, "prod", "test")
    alertmanager_spec = next(s for s in build_services(settings) if s.name == "alertmanager")
    spec_has_it = "cluster" in {p.name for p in alertmanager_spec.ports}
    # The port comes from the Alertmanager component: the stack as it is, when
    # its spec has the port, and in any case with the port added to the spec.
    for found in [manifests("prod", peer_ports=PEER_PORT)] + ([manifests("prod")] if spec_has_it else []):
        alertmanager = _policy(found, "alertmanager")
        assert _rule_ports(alertmanager["ingress"], "from", "alertmanager") == gossip
        assert _rule_ports(alertmanager["egress"], "to", "alertmanager") == gossip
        # ... and to nobody else: not the gateway, not anywhere, not the other components.
        for rule in alertmanager["ingress"]:
            if {"port": 9094} in [{"port": p["port"]} for p in rule["ports"]]:
                assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "alertmanager", "app.kubernetes.io/instance": "obs-prod"}}}]
        services = of_kind(found, "Service")
        assert 9094 not in {p["port"] for p in services["observability/obs-alertmanager"]["spec"]["ports"]}
        headless = {(p["name"], p["protocol"], p["port"]) for p in services["observability/obs-alertmanager-headless"]["spec"]["ports"]}
        assert {("cluster", "TCP", 9094), ("cluster-udp", "UDP", 9094)} <= headless
        container = workloads(found)["alertmanager"]["spec"]["template"]["spec"]["containers"][0]
        assert {("cluster", "TCP", 9094), ("cluster-udp", "UDP", 9094)} <= {(p["name"], p["protocol"], p["containerPort"]) for p in container["ports"]}
    # One Alertmanager in staging: no gossip to allow.
    assert _rule_ports(_policy(manifests("staging", peer_ports=PEER_PORT), "alertmanager")["ingress"], "from", "alertmanager") == set()


def test_prometheus_and_the_loki_ruler_reach_every_alertmanager_pod():
    """Alerts go to each Alertmanager pod (not through the Service): the rules
    select the pods by the same labels as the StatefulSet, so they cover all of them."""
    found = manifests("prod", peer_ports=PEER_PORT)
    selector = workloads(found)["alertmanager"]["spec"]["selector"]["matchLabels"]
    alertmanager = _policy(found, "alertmanager")
    assert alertmanager["podSelector"]["matchLabels"] == selector
    for sender in ("prometheus", "loki"):
        assert _rule_ports(alertmanager["ingress"], "from", sender) == {("TCP", 9093)}
        egress = [rule for rule in _policy(found, sender)["egress"] if _rule_ports([rule], "to", "alertmanager")]
        assert [peer["podSelector"]["matchLabels"] for rule in egress for peer in rule["to"]] == [selector]
        assert _rule_ports(egress, "to", "alertmanager") == {("TCP", 9093)}


def test_a_prometheus_pair_is_read_as_one_by_each_client():
    """Two replicas scrape at different instants; one plain Service would
    flip Grafana's stats between them on every refresh. Each client sticks to
    one replica (ClientIP affinity, as kube-prometheus' prometheus-k8s), and
    a single Prometheus needs nothing of the kind."""
    for environment, sticky in (("prod", True), ("staging", False)):
        services = of_kind(manifests(environment), "Service")
        prometheus = services["observability/obs-prometheus"]
        assert (prometheus["spec"].get("sessionAffinity") == "ClientIP") is sticky, environment
        others = [s for name, s in services.items() if name != "observability/obs-prometheus"]
        assert not any(s["spec"].get("sessionAffinity") for s in others)


def _claim_sizes(found: list[dict]) -> dict[str, str]:
    return {
        name: w["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
        for name, w in workloads(found).items()
        if w["kind"] == "StatefulSet"
    }


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"([0-9]+)([KMGT])[iB]?B?", size).groups()
    return int(number) * 1024 ** "KMGT".index(unit) * 1024


def test_each_component_gets_its_own_volume_size():
    found = manifests("prod", {"kubernetes": {"volumeSize": "100Gi", "volumeSizes": {"loki": "40Gi", "alertmanager": "512Mi"}}})
    assert _claim_sizes(found) == {"prometheus": "100Gi", "loki": "40Gi", "jaeger": "100Gi", "alertmanager": "512Mi", "grafana": "2Gi"}


@pytest.mark.parametrize("sizes", [{}, {"volumeSize": "100Gi"}, {"volumeSizes": {"prometheus": "750Mi"}}, {"volumeSizes": {"prometheus": "2Ti"}}])
def test_prometheus_retention_is_bounded_by_its_volume(sizes):
    """Time-based retention alone lets a busy Prometheus fill its volume and
    crash-loop on `no space left on device`; the size limit keeps a fifth of
    the volume for the WAL, the head and a compaction's new block."""
    found = manifests("staging", {"kubernetes": sizes})
    volume = _bytes(_claim_sizes(found)["prometheus"])
    args = workloads(found)["prometheus"]["spec"]["template"]["spec"]["containers"][0]["args"]
    retention = next(a.split("=", 1)[1] for a in args if a.startswith("--storage.tsdb.retention.size="))
    assert 0.7 * volume <= _bytes(retention) <= 0.85 * volume, (retention, volume)


def test_placement_settings_reach_each_pod_and_the_node_agent_tolerates_every_taint():
    placement = {
        "loki": {"nodeSelector": {"pool": "observability"}, "priorityClassName": "observability-critical"},
        "prometheus": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "obs", "effect": "NoSchedule"}]},
    }
    pods = {name: w["spec"]["template"]["spec"] for name, w in workloads(manifests("staging", {"kubernetes": {"placement": placement}})).items()}
    assert pods["loki"]["nodeSelector"] == {"pool": "observability"} and pods["loki"]["priorityClassName"] == "observability-critical"
    assert pods["prometheus"]["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "obs", "effect": "NoSchedule"}]
    # Gateway pods on a tainted pool are shipped too: Promtail tolerates every taint unless told otherwise.
    assert pods["promtail"]["tolerations"] == [{"operator": "Exists"}]
    assert not any(key in pods["grafana"] for key in ("nodeSelector", "tolerations", "priorityClassName"))


def test_the_gateways_namespace_can_come_with_the_stack_and_outlive_it():
    """The discovery Roles live in the gateway's namespace: on a first deploy
    before the gateway, `createNamespace` makes it first, and keeps it on destroy."""
    resources, target = planned("staging", {"kubernetes": {"gateway": {"createNamespace": True}}})
    namespaces = {r.name: r for r in resources if r.type == "kubernetes:core/v1:Namespace"}
    assert "namespace-ai-gateway" in namespaces
    roles = [r for r in resources if r.type == "kubernetes:rbac.authorization.k8s.io/v1:Role" and r.inputs["metadata"]["namespace"] == "ai-gateway"]
    assert roles
    # Every object in that namespace is created after it (the mocks do not record dependencies: ask the target).
    assert target._opts("ai-gateway").depends_on == [target.other_namespaces["ai-gateway"]]
    policies = [r for r in resources if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy" and r.inputs["metadata"]["namespace"] == "ai-gateway"]
    assert policies == []  # the gateway's namespace is not the stack's to police
    assert "namespace-ai-gateway" not in {r.name for r in planned("staging")[0] if r.type == "kubernetes:core/v1:Namespace"}
