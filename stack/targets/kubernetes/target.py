"""KubernetesTarget: the Pulumi resources, one method per object kind; the
decisions they apply live in labels.py, pods.py and network.py."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Optional

import pulumi
import pulumi_kubernetes as k8s

from stack import topology
from stack.components.loki import PUSH_PATH as LOKI_PUSH_PATH
from stack.settings import LoadedSettings
from stack.spec import ScheduledJob, ServiceSpec
from stack.targets.kubernetes.labels import (
    CLUSTER_DOMAIN,
    PART_OF,
    POD_SECURITY_VERSION,
    PRIVILEGED,
    RESTRICTED,
    _CONFIG_KEY,
    _CONFIG_MAP_LIMIT,
    config_checksum,
    config_key,
    labels,
    selector_labels,
)
from stack.targets.kubernetes.pods import (
    NODE_TOPOLOGY_KEY,
    STARTUP_PERIOD,
    ZONE_TOPOLOGY_KEY,
    container_resources,
    container_security,
    env_vars,
    http_probe,
    job_labels,
    placement,
    pod_ports,
    pod_security,
    run_as,
    startup_failures,
    workload_kind,
)
from stack.targets.kubernetes.network import (
    FROM_ANYWHERE,
    FROM_GATEWAY,
    _namespace_peer,
    _tcp,
    dns_egress,
    external_ports,
    flows,
    identity_endpoints,
)
from stack.targets.secrets import resolve_secrets


class KubernetesTarget(pulumi.ComponentResource):
    """Namespaces, configuration, workloads, Services, RBAC, NetworkPolicies
    and Grafana's Ingress for every component."""

    def __init__(self, name: str, loaded: LoadedSettings, services: list[ServiceSpec], opts=None):
        super().__init__("gateway-observability:targets:KubernetesTarget", name, None, opts)
        settings = loaded.settings
        self.settings = settings
        self.secrets = resolve_secrets(loaded, self)
        self.services_by_name = {spec.name: spec for spec in services}
        self.provider = k8s.Provider(
            "kubernetes",
            context=settings.kubernetes.context,
            namespace=settings.kubernetes.namespace,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Every Kubernetes object, in creation order: what tests wait on and check.
        self.objects: list[pulumi.CustomResource] = []

        self.namespace_name = settings.kubernetes.namespace
        self.node_namespace_name = topology.node_namespace(settings)
        reads_nodes = any(workload_kind(s) == "DaemonSet" for s in services)
        if reads_nodes and len(self.node_namespace_name) > 63:
            raise ValueError(f"kubernetes.namespace {self.namespace_name!r}: too long to add '-node' (63 characters at most)")
        self.namespaces = {self.namespace_name: self._namespace(self.namespace_name, RESTRICTED)}
        if reads_nodes:
            self.namespaces[self.node_namespace_name] = self._namespace(self.node_namespace_name, PRIVILEGED)
        # Namespaces the stack creates but does not run in (no policies of its own there).
        self.other_namespaces: dict[str, k8s.core.v1.Namespace] = {}
        gateway = settings.kubernetes.gateway
        if gateway.create_namespace and gateway.namespace not in self.namespaces:
            # The discovery Roles live there; `pulumi destroy` leaves it (the gateway's pods may be in it).
            self.other_namespaces[gateway.namespace] = self._add(
                k8s.core.v1.Namespace(
                    f"namespace-{gateway.namespace}",
                    metadata={"name": gateway.namespace},
                    opts=pulumi.ResourceOptions(parent=self, provider=self.provider, retain_on_delete=True),
                )
            )

        self.workloads: dict[str, pulumi.CustomResource] = {}
        self.services: dict[str, k8s.core.v1.Service] = {}
        for spec in services:
            self._component(spec)
        self._cross_namespace_aliases(services)
        for namespace in self.namespaces:
            self._network_baseline(namespace)
        for spec in services:
            self._network_policy(spec, services)
        self.ingress = self._ingress() if settings.kubernetes.ingress.enabled and "grafana" in self.services_by_name else None

        self.endpoints = {
            "grafanaUrl": self.url("grafana"),
            "prometheusUrl": self.url("prometheus"),
            "alertmanagerUrl": self.url("alertmanager"),
            "jaegerUrl": self.url("jaeger", "ui"),
            "lokiPushUrl": self.url("loki") + LOKI_PUSH_PATH,
            "otlpGrpcEndpoint": self.url("jaeger", "otlp-grpc"),
            "otlpHttpEndpoint": self.url("jaeger", "otlp-http"),
        }
        # Where people open them (publicUrls, or the Ingress host for Grafana).
        for component in topology.PUBLIC_COMPONENTS:
            if not topology.public_url_is_in_cluster(settings, component):
                self.endpoints[f"{component}PublicUrl"] = topology.public_url(settings, component)
        self.register_outputs(
            {
                **self.endpoints,
                "namespace": self.namespace_name,
                "workloads": {name: w.urn for name, w in self.workloads.items()},
                "grafanaAdminPassword": self.secrets["grafanaAdminPassword"],
            }
        )

    # --- naming -----------------------------------------------------------

    def url(self, component: str, port_name: str = "http") -> str:
        """The in-cluster URL from any namespace: http://<hostname>.<namespace>.svc:<port>."""
        spec = self.services_by_name[component]
        return f"http://{spec.hostname}.{self.namespace_of(spec)}.svc:{topology.port(component, port_name)}"

    def namespace_of(self, spec: ServiceSpec) -> str:
        return self.node_namespace_name if workload_kind(spec) == "DaemonSet" else self.namespace_name

    def _opts(self, namespace: Optional[str] = None, depends_on: Iterable[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        """Options of every object: our provider, and created after its namespace."""
        known = {**self.namespaces, **self.other_namespaces}
        depends = [known[namespace]] if namespace is not None else []
        return pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[*depends, *depends_on])

    def _add(self, resource):
        self.objects.append(resource)
        return resource

    def _metadata(self, spec: ServiceSpec, name: str, annotations: Optional[dict] = None) -> dict:
        metadata = {"name": name, "namespace": self.namespace_of(spec), "labels": labels(self.settings, spec)}
        if annotations:
            metadata["annotations"] = annotations
        return metadata

    # --- namespaces ---------------------------------------------------------

    def _namespace(self, name: str, level: str) -> k8s.core.v1.Namespace:
        psa = {
            f"pod-security.kubernetes.io/{mode}{suffix}": value
            for mode in ("enforce", "audit", "warn")
            for suffix, value in (("", level), ("-version", POD_SECURITY_VERSION))
        }
        namespace_labels = {
            "app.kubernetes.io/instance": topology.instance(self.settings),
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": "pulumi",
            **psa,
        }
        annotations = {}
        if level == PRIVILEGED:
            annotations["gateway-observability/why-privileged"] = (
                "hostPath volumes (node logs, read-only) are forbidden by the baseline and restricted profiles"
            )
        return self._add(
            k8s.core.v1.Namespace(
                f"namespace-{name}",
                metadata={"name": name, "labels": namespace_labels, "annotations": annotations},
                opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
            )
        )

    # --- one component -----------------------------------------------------

    def _component(self, spec: ServiceSpec) -> None:
        namespace = self.namespace_of(spec)
        needs_api = bool(spec.api_access)
        self._add(
            k8s.core.v1.ServiceAccount(
                f"{spec.name}-serviceaccount",
                # A workload identity's webhook mounts its own token: the API token stays unmounted.
                metadata=self._metadata(spec, spec.hostname, dict(spec.service_account_annotations)),
                automount_service_account_token=needs_api,
                opts=self._opts(namespace),
            )
        )
        if spec.files:
            self._config_map(spec)
        if self._secret_keys(spec):
            self._secret(spec)
        self._rbac(spec)
        kind = workload_kind(spec)
        if spec.replicas < 1 or (kind == "DaemonSet" and spec.replicas != 1):
            raise ValueError(f"{spec.name}: replicas {spec.replicas} (a DaemonSet runs one pod per node; others at least one)")
        template = self._pod_template(spec)
        selector = {"match_labels": selector_labels(self.settings, spec)}
        metadata = self._metadata(spec, spec.hostname)
        replicated = spec.replicas > 1
        if kind == "DaemonSet":
            workload = k8s.apps.v1.DaemonSet(
                spec.name, metadata=metadata, spec={"selector": selector, "template": template}, opts=self._opts(namespace)
            )
        elif kind == "StatefulSet":
            headless = self._service(spec, f"{spec.hostname}-headless", headless=True)
            statefulset = {
                "replicas": spec.replicas,
                "service_name": f"{spec.hostname}-headless",
                "selector": selector,
                "template": template,
                "volume_claim_templates": [self._claim(spec, v.name) for v in spec.volumes],
            }
            if replicated:
                # The default, OrderedReady, creates pod N only once pod N-1 is
                # Ready. Peers need no order (each lists all of them and joins
                # whoever answers) and must start together to form their
                # cluster; in order, one pod stuck Pending (its volume in a
                # lost zone) would hold back every pod after it.
                statefulset["pod_management_policy"] = "Parallel"
            workload = k8s.apps.v1.StatefulSet(
                spec.name, metadata=metadata, spec=statefulset, opts=self._opts(namespace, depends_on=[headless])
            )
        else:
            workload = k8s.apps.v1.Deployment(
                spec.name,
                metadata=metadata,
                spec={"replicas": spec.replicas, "selector": selector, "template": template},
                opts=self._opts(namespace),
            )
        self.workloads[spec.name] = self._add(workload)
        self.services[spec.name] = self._service(spec, spec.hostname, headless=False)
        if replicated:
            self._disruption_budget(spec, depends_on=[workload])
        for job in spec.jobs:
            self._cron_job(spec, job)

    def _disruption_budget(self, spec: ServiceSpec, depends_on: list[pulumi.Resource]) -> None:
        """Voluntary evictions (a node drain, a cluster upgrade) take one
        replica at a time, so the others keep serving."""
        self._add(
            k8s.policy.v1.PodDisruptionBudget(
                f"{spec.name}-pdb",
                metadata=self._metadata(spec, spec.hostname),
                spec={"max_unavailable": 1, "selector": {"match_labels": selector_labels(self.settings, spec)}},
                opts=self._opts(self.namespace_of(spec), depends_on=depends_on),
            )
        )

    def _config_map(self, spec: ServiceSpec) -> None:
        data = {}
        for path, text in spec.files.items():
            key = config_key(path)
            if key in data:
                raise ValueError(f"{spec.name}: two files map to ConfigMap key {key!r}")
            data[key] = text
        size = sum(len(k) + len(v.encode()) for k, v in data.items())
        if size > _CONFIG_MAP_LIMIT:
            raise ValueError(f"{spec.name}: its files ({size} bytes) exceed a ConfigMap's 1 MiB")
        self._add(
            k8s.core.v1.ConfigMap(
                f"{spec.name}-config",
                metadata=self._metadata(spec, f"{spec.hostname}-config"),
                data=dict(sorted(data.items())),
                opts=self._opts(self.namespace_of(spec)),
            )
        )

    def _secret_keys(self, spec: ServiceSpec) -> list[str]:
        keys = sorted(
            {s.secret for s in spec.secret_files}
            | set(spec.secret_env.values())
            | {key for job in spec.jobs for key in job.secret_env.values()}
        )
        for key in keys:
            if not _CONFIG_KEY.fullmatch(key):
                raise ValueError(f"{spec.name}: secret {key!r} is not a valid Secret key")
        return keys

    def _secret(self, spec: ServiceSpec) -> None:
        self._add(
            k8s.core.v1.Secret(
                f"{spec.name}-secrets",
                metadata=self._metadata(spec, f"{spec.hostname}-secrets"),
                type="Opaque",
                # Secret Outputs: encrypted in the state, never in a ConfigMap.
                string_data={key: self.secrets[key] for key in self._secret_keys(spec)},
                opts=self._opts(self.namespace_of(spec)),
            )
        )

    def _rbac(self, spec: ServiceSpec) -> None:
        # namespace -> API group -> resources
        by_namespace: dict[Optional[str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for access in spec.api_access:
            by_namespace[access.namespace][access.api_group].update(access.resources)
        subject = {"kind": "ServiceAccount", "name": spec.hostname, "namespace": self.namespace_of(spec)}
        for namespace, groups in sorted(by_namespace.items(), key=lambda item: item[0] or ""):
            rules = [
                {"api_groups": [group], "resources": sorted(resources), "verbs": ["get", "list", "watch"]}
                for group, resources in sorted(groups.items())
            ]
            # Cluster-scoped names, and names in the gateway's namespace, are
            # shared with other stacks: prefix our namespace.
            name = f"{self.namespace_of(spec)}-{spec.hostname}-discovery"
            # A namespace's Role, or a ClusterRole for access in every namespace.
            kind, suffix = ("Role", f"-{namespace}") if namespace else ("ClusterRole", "")
            metadata = {"name": name, "labels": labels(self.settings, spec), **({"namespace": namespace} if namespace else {})}
            role_type, binding_type = (
                (k8s.rbac.v1.Role, k8s.rbac.v1.RoleBinding) if namespace else (k8s.rbac.v1.ClusterRole, k8s.rbac.v1.ClusterRoleBinding)
            )
            # After our own namespace when the access is to it (the gateway's is not ours).
            ours = namespace if namespace in self.namespaces or namespace in self.other_namespaces else None
            role = self._add(role_type(f"{spec.name}-{kind.lower()}{suffix}", metadata=metadata, rules=rules, opts=self._opts(ours)))
            self._add(
                binding_type(
                    f"{spec.name}-{kind.lower()}binding{suffix}",
                    metadata=metadata,
                    role_ref={"api_group": "rbac.authorization.k8s.io", "kind": kind, "name": name},
                    subjects=[subject],
                    opts=self._opts(ours, depends_on=[role]),
                )
            )

    def _claim(self, spec: ServiceSpec, volume: str) -> dict:
        storage = self.settings.kubernetes
        claim = {
            "access_modes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": storage.volume_size_of(spec.name)}},
        }
        if storage.storage_class is not None:
            claim["storage_class_name"] = storage.storage_class
        return {"metadata": {"name": volume, "labels": selector_labels(self.settings, spec)}, "spec": claim}

    def _service(self, spec: ServiceSpec, name: str, headless: bool) -> k8s.core.v1.Service:
        # Peer ports only on the headless Service: peers reach each other pod by pod.
        ports = [
            {"name": p.name, "port": p.number, "target_port": p.name, "protocol": p.protocol}
            for p in pod_ports(spec)
            if headless or not p.peer_only
        ]
        service_spec = {"type": "ClusterIP", "selector": selector_labels(self.settings, spec), "ports": ports}
        if spec.sticky_clients and not headless:
            service_spec["session_affinity"] = "ClientIP"
        if headless:
            # Per-pod DNS names for the StatefulSet, ready or not (peers find each other while starting).
            service_spec.update(cluster_ip="None", publish_not_ready_addresses=True)
        return self._add(
            k8s.core.v1.Service(
                f"{spec.name}-service{'-headless' if headless else ''}",
                metadata=self._metadata(spec, name),
                spec=service_spec,
                opts=self._opts(self.namespace_of(spec)),
            )
        )

    # --- the pod -----------------------------------------------------------

    def _pod_template(self, spec: ServiceSpec) -> dict:
        uid, gid = run_as(spec.name, spec.user)
        volumes: list[dict] = [{"name": "tmp", "empty_dir": {}}]
        mounts: list[dict] = [{"name": "tmp", "mount_path": "/tmp"}]
        if spec.files:
            volumes.append({"name": "config", "config_map": {"name": f"{spec.hostname}-config"}})
            mounts += [
                {"name": "config", "mount_path": path, "sub_path": config_key(path), "read_only": True}
                for path in sorted(spec.files)
            ]
        if spec.secret_files:
            # 0440: kubelet makes the files group-owned by fsGroup, the process's group.
            volumes.append({"name": "secrets", "secret": {"secret_name": f"{spec.hostname}-secrets", "default_mode": 0o440}})
            mounts += [
                {"name": "secrets", "mount_path": s.mount_path, "sub_path": s.secret, "read_only": True}
                for s in spec.secret_files
            ]
        for volume in spec.volumes:
            if workload_kind(spec) == "DaemonSet":
                # No claim templates, and a node path it could write would be
                # root's: the pod's own, which outlives container restarts.
                volumes.append({"name": volume.name, "empty_dir": {}})
            mounts.append({"name": volume.name, "mount_path": volume.mount_path})
        for index, host in enumerate(spec.host_paths):
            volumes.append({"name": f"host-{index}", "host_path": {"path": host.host_path}})
            mounts.append({"name": f"host-{index}", "mount_path": host.mount_path, "read_only": True})

        ready, alive = http_probe(spec.readiness), http_probe(spec.liveness or spec.readiness)
        container = {
            "name": spec.name,
            "image": spec.image,
            "image_pull_policy": "IfNotPresent",
            "args": list(spec.args),
            "ports": [{"name": p.name, "container_port": p.number, "protocol": p.protocol} for p in pod_ports(spec)],
            "env": self._env(spec),
            # Liveness and startup ask only whether the process serves at all
            # (ServiceSpec.liveness): a replay, a missing peer or a node
            # with nothing to do never restarts a pod; readiness gates traffic.
            "startup_probe": {**alive, "period_seconds": STARTUP_PERIOD, "failure_threshold": startup_failures(spec)},
            "readiness_probe": {**ready, "period_seconds": 10, "failure_threshold": 3},
            "liveness_probe": {**alive, "period_seconds": 20, "failure_threshold": 6},
            "resources": container_resources(spec.memory_bytes, spec.cpus),
            "security_context": container_security(uid),
            "volume_mounts": mounts,
        }
        pod = {
            "service_account_name": spec.hostname,
            "automount_service_account_token": bool(spec.api_access),
            "enable_service_links": False,  # no FOO_SERVICE_HOST variables in the environment
            "security_context": pod_security(uid, gid, spec.supplemental_groups),
            "containers": [container],
            "volumes": volumes,
        }
        if spec.replicas > 1:
            pod.update(self._spreading(spec))
        pod.update(placement(self.settings, spec))
        return {
            "metadata": {
                "labels": {**labels(self.settings, spec), **spec.pod_labels},
                "annotations": {"checksum/config": config_checksum(dict(spec.files))},
            },
            "spec": pod,
        }

    # --- scheduled jobs ---------------------------------------------------------

    def _cron_job(self, spec: ServiceSpec, job: ScheduledJob) -> None:
        """`job` as a CronJob in `spec`'s namespace (UTC schedule, one run at
        a time, a short history) and the NetworkPolicy of its pods."""
        uid, gid = run_as(job.name, job.user)
        namespace = self.namespace_of(spec)
        own = job_labels(self.settings, job)
        container = {
            "name": job.name,
            "image": job.image,
            "image_pull_policy": "IfNotPresent",
            "args": list(job.args),
            "env": env_vars(job.env, job.secret_env, f"{spec.hostname}-secrets"),
            "resources": container_resources(job.memory_bytes, job.cpus),
            "security_context": container_security(uid),
            "volume_mounts": [{"name": "tmp", "mount_path": "/tmp"}],
        }
        pod = {
            "service_account_name": spec.hostname,
            "automount_service_account_token": False,
            "enable_service_links": False,
            "security_context": pod_security(uid, gid),
            # A failed run is retried by the Job (backoff_limit), not in place.
            "restart_policy": "Never",
            "containers": [container],
            "volumes": [{"name": "tmp", "empty_dir": {}}],
        }
        job_spec = {
            "backoff_limit": 2,
            # A run that hangs on an unreachable cluster ends before the next one.
            "active_deadline_seconds": 3600,
            "template": {"metadata": {"labels": own}, "spec": pod},
        }
        metadata = {"name": job.name, "namespace": namespace, "labels": own}
        self._add(
            k8s.batch.v1.CronJob(
                f"{job.name}-cronjob",
                metadata=metadata,
                spec={
                    "schedule": job.schedule,
                    "time_zone": "Etc/UTC",
                    "concurrency_policy": "Forbid",
                    # A run missed by more than an hour (controller down) waits for the next day.
                    "starting_deadline_seconds": 3600,
                    "successful_jobs_history_limit": 1,
                    "failed_jobs_history_limit": 3,
                    "job_template": {"metadata": {"labels": own}, "spec": job_spec},
                },
                opts=self._opts(namespace),
            )
        )
        # Nothing reaches the job's pods; they reach what their component reaches outside the cluster.
        outside = external_ports(self.settings, spec)
        selector = {k: own[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}
        self._add(
            k8s.networking.v1.NetworkPolicy(
                f"{job.name}-networkpolicy",
                metadata=metadata,
                spec={
                    "pod_selector": {"match_labels": selector},
                    "policy_types": ["Ingress", "Egress"],
                    "ingress": [],
                    "egress": [{"ports": _tcp(outside)}] if outside else [],
                },
                opts=self._opts(namespace),
            )
        )

    def _spreading(self, spec: ServiceSpec) -> dict:
        """Replicas on different nodes and zones when the cluster has them.
        Both are preferences: a one-node or one-zone cluster still runs every replica."""
        selector = {"match_labels": selector_labels(self.settings, spec)}
        term = {"label_selector": selector, "topology_key": NODE_TOPOLOGY_KEY}
        return {
            "affinity": {
                "pod_anti_affinity": {
                    "preferred_during_scheduling_ignored_during_execution": [{"weight": 100, "pod_affinity_term": term}]
                }
            },
            "topology_spread_constraints": [
                {"max_skew": 1, "topology_key": ZONE_TOPOLOGY_KEY, "when_unsatisfiable": "ScheduleAnyway", "label_selector": selector}
            ],
        }

    def _env(self, spec: ServiceSpec) -> list[dict]:
        """The container's environment: the pod's own identity first (when
        replicated), then the spec's variables, its secrets, the node's name."""
        pod = []
        if spec.replicas > 1:
            # Replicas tell themselves apart: Prometheus's `replica` external
            # label (POD_NAME), Alertmanager's gossip advertise address
            # (POD_IP). First, because $(VAR) in a value sees earlier entries only.
            pod = [
                {"name": "POD_NAME", "value_from": {"field_ref": {"field_path": "metadata.name"}}},
                {"name": "POD_IP", "value_from": {"field_ref": {"field_path": "status.podIP"}}},
            ]
        node = []
        if workload_kind(spec) == "DaemonSet":
            # A node agent finds its node's pods by HOSTNAME: Promtail 3.6's
            # pod discovery adds spec.nodeName=$HOSTNAME to its selector
            # (clients/pkg/promtail/targets/file/filetargetmanager.go), and a
            # pod's own HOSTNAME is its pod name, which matches no node.
            node = [{"name": "HOSTNAME", "value_from": {"field_ref": {"field_path": "spec.nodeName"}}}]
        return pod + env_vars(spec.env, spec.secret_env, f"{spec.hostname}-secrets") + node

    # --- addressing across the two namespaces ---------------------------------

    def _cross_namespace_aliases(self, services: list[ServiceSpec]) -> None:
        """In each namespace, an ExternalName Service per component living in
        the other one, so `topology.address` resolves everywhere."""
        if len(self.namespaces) < 2:
            return
        for spec in services:
            home = self.namespace_of(spec)
            other = self.node_namespace_name if home == self.namespace_name else self.namespace_name
            metadata = {"name": spec.hostname, "namespace": other, "labels": labels(self.settings, spec)}
            self._add(
                k8s.core.v1.Service(
                    f"{spec.name}-alias",
                    metadata=metadata,
                    spec={"type": "ExternalName", "external_name": f"{spec.hostname}.{home}.svc.{CLUSTER_DOMAIN}"},
                    opts=self._opts(other),
                )
            )

    # --- network policies -----------------------------------------------------

    def _policy_metadata(self, name: str, namespace: str) -> dict:
        return {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"},
        }

    def _network_baseline(self, namespace: str) -> None:
        self._add(
            k8s.networking.v1.NetworkPolicy(
                f"default-deny-{namespace}",
                metadata=self._policy_metadata("default-deny", namespace),
                spec={"pod_selector": {}, "policy_types": ["Ingress", "Egress"]},
                opts=self._opts(namespace),
            )
        )
        self._add(
            k8s.networking.v1.NetworkPolicy(
                f"allow-dns-{namespace}",
                metadata=self._policy_metadata("allow-dns", namespace),
                spec={"pod_selector": {}, "policy_types": ["Egress"], "egress": [dns_egress(self.settings)]},
                opts=self._opts(namespace),
            )
        )

    def _peer(self, spec: ServiceSpec, from_namespace: str) -> dict:
        peer = {"pod_selector": {"match_labels": selector_labels(self.settings, spec)}}
        if self.namespace_of(spec) != from_namespace:
            peer["namespace_selector"] = _namespace_peer(self.namespace_of(spec))
        return peer

    def _gateway_peer(self) -> dict:
        gateway = self.settings.kubernetes.gateway
        return {"namespace_selector": _namespace_peer(gateway.namespace), "pod_selector": {"match_labels": dict(gateway.selector)}}

    def _network_policy(self, spec: ServiceSpec, services: list[ServiceSpec]) -> None:
        """What may reach `spec`'s pods and what they may reach; nothing else moves."""
        namespace = self.namespace_of(spec)
        by_name = {s.name: s for s in services}
        ingress, egress = [], []
        for flow in flows(services):
            if flow.destination == spec.name:
                numbers = [topology.port(flow.destination, p) for p in flow.ports]
                ingress.append({"from": [self._peer(by_name[flow.source], namespace)], "ports": _tcp(numbers)})
            if flow.source == spec.name:
                numbers = [topology.port(flow.destination, p) for p in flow.ports]
                egress.append({"to": [self._peer(by_name[flow.destination], namespace)], "ports": _tcp(numbers)})
        if spec.name in FROM_GATEWAY:
            numbers = [topology.port(spec.name, p) for p in FROM_GATEWAY[spec.name]]
            ingress.append({"from": [self._gateway_peer()], "ports": _tcp(numbers)})
        if spec.name in FROM_ANYWHERE and self.settings.kubernetes.ingress.enabled:
            ingress.append({"ports": _tcp(topology.port(spec.name, p) for p in FROM_ANYWHERE[spec.name])})
        if spec.name == "prometheus":
            # Scrapes land on the pods' own ports, the gateway services' ports.
            numbers = [int(s.address.rpartition(":")[2]) for s in self.settings.gateway_services]
            egress.append({"to": [self._gateway_peer()], "ports": _tcp(numbers)})
        peer_ports = [{"protocol": p.protocol, "port": p.number} for p in pod_ports(spec) if p.peer_only]
        if spec.replicas > 1 and peer_ports:
            # The pods of one component among themselves (Alertmanager's gossip).
            ingress.append({"from": [self._peer(spec, namespace)], "ports": peer_ports})
            egress.append({"to": [self._peer(spec, namespace)], "ports": peer_ports})
        outside = external_ports(self.settings, spec)
        if outside:
            egress.append({"ports": _tcp(outside)})  # no `to`: any address
        for cidr, number in identity_endpoints(self.settings, spec):
            egress.append({"to": [{"ip_block": {"cidr": cidr}}], "ports": _tcp([number])})
        self._add(
            k8s.networking.v1.NetworkPolicy(
                f"{spec.name}-networkpolicy",
                metadata=self._metadata(spec, spec.hostname),
                spec={
                    "pod_selector": {"match_labels": selector_labels(self.settings, spec)},
                    "policy_types": ["Ingress", "Egress"],
                    "ingress": ingress,
                    "egress": egress,
                },
                opts=self._opts(namespace),
            )
        )

    # --- Grafana from outside ------------------------------------------------------

    def _ingress(self) -> k8s.networking.v1.Ingress:
        settings = self.settings.kubernetes.ingress
        grafana = self.services_by_name["grafana"]
        backend = {"service": {"name": grafana.hostname, "port": {"name": "http"}}}
        spec: dict = {
            "rules": [{"host": settings.host, "http": {"paths": [{"path": "/", "path_type": "Prefix", "backend": backend}]}}]
        }
        if settings.class_name is not None:
            spec["ingress_class_name"] = settings.class_name
        if settings.tls_secret is not None:
            spec["tls"] = [{"hosts": [settings.host], "secret_name": settings.tls_secret}]
        return self._add(
            k8s.networking.v1.Ingress(
                "grafana-ingress",
                metadata=self._metadata(grafana, grafana.hostname),
                spec=spec,
                opts=self._opts(self.namespace_of(grafana)),
            )
        )
