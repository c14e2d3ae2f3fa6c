"""The staging and prod target: the whole stack on a Kubernetes cluster.

Translates ServiceSpecs into Kubernetes objects through an explicit
pulumi_kubernetes Provider (kubeconfig context and namespace from
`kubernetes` settings); decides nothing about what runs in the pods.

Per component: a ServiceAccount (no API token unless the spec asks for API
access), a ConfigMap with its rendered files, a Secret with its secret files
and secret environment, a workload, a ClusterIP Service named after the
component's hostname (so `topology.address` resolves) and, for API access,
a Role or ClusterRole with its binding. The workload's kind follows the spec:
node paths make a DaemonSet, data volumes a StatefulSet (volumeClaimTemplates
and a `<hostname>-headless` Service for stable pod names), anything else a
Deployment. Each of the spec's scheduled jobs (Jaeger's index cleaner) is a
CronJob beside it, with the same security profile, its secrets from the
component's Secret, and a NetworkPolicy of its own. A spec with `replicas` > 1 (the `scalable` profile) also gets
POD_NAME and POD_IP in its environment, a PodDisruptionBudget, soft
anti-affinity across nodes and a soft spread across zones, and its
StatefulSet starts the pods in parallel.

Files: one ConfigMap per component, one key per file (the path with '/'
turned into '_'), each mounted with `subPath` at its exact path. Mounting
directories instead would hide what the image ships beside our files
(Grafana's /etc/grafana holds grafana.ini). subPath mounts do not see a
ConfigMap change, which does not matter here: the pod template carries
`checksum/config`, the sha256 of the rendered files, so a changed file rolls
the pods.

Security profile: the namespace enforces Pod Security `restricted` (audit
and warn too). Every pod runs as non-root (the spec's uid:gid, else 65534),
no privilege escalation, all capabilities dropped, a read-only root file
system with an emptyDir at /tmp, seccomp RuntimeDefault. The one exception is
a component that reads node paths (Promtail tailing pod logs): hostPath
volumes are forbidden by `restricted` AND by `baseline` (Pod Security
Standards, "HostPath Volumes"), so it runs in a namespace of its own,
`<namespace>-node`, labelled `privileged`, and keeps every other restriction
that its job allows (caps dropped, read-only root, host paths read-only,
seccomp RuntimeDefault, no host network/PID/ports); it too runs as non-root,
reading the node's files through a supplementary group (the spec's
supplemental_groups), and keeps its state in its pod, since a node path it
could write would have to be made by root. ExternalName
Services in each namespace point at the other namespace's Services, so
every component still reaches every other by its plain hostname.

Network: in both namespaces a default deny of all ingress and egress, DNS
to the cluster's resolvers (`kubernetes.dns`), and one NetworkPolicy per
component naming what may reach it and what it may reach (network.FLOWS, the
gateway namespace, external ports derived from the settings). This needs a
CNI that enforces NetworkPolicy.

Where each decision lives: labels.py (names, labels, the config checksum),
pods.py (the pod template: probes, resources, security, environment, ports,
placement), network.py (every flow of the NetworkPolicies), target.py (the
Pulumi resources, one method per object kind, applying them).
"""

from __future__ import annotations

from stack.targets.kubernetes.labels import PART_OF, config_checksum, config_key, labels, selector_labels  # noqa: F401
from stack.targets.kubernetes.network import FLOWS, PEER_PORTS, external_ports, flows  # noqa: F401
from stack.targets.kubernetes.pods import run_as, workload_kind  # noqa: F401
from stack.targets.kubernetes.target import KubernetesTarget  # noqa: F401

__all__ = [
    "FLOWS", "KubernetesTarget", "PART_OF", "PEER_PORTS", "config_checksum", "config_key", "external_ports",
    "flows", "labels", "run_as", "selector_labels", "workload_kind",
]
