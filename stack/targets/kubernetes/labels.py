"""Names, labels and the config checksum of every object the kubernetes
target creates: one place for what identifies an object and what rolls it."""

from __future__ import annotations

import hashlib
import json
import re

from stack import topology
from stack.settings import Settings
from stack.spec import ServiceSpec

PART_OF = "gateway-observability"
# ExternalName aliases need a fully qualified target; this is the default
# cluster domain of kubeadm, EKS, GKE, AKS, kind and k3s.
CLUSTER_DOMAIN = "cluster.local"
# The image's own user is unknown to the target; "nobody" owns nothing.
DEFAULT_UID = 65534
# The API server is not a pod, so NetworkPolicy cannot select it: components
# that discover through the API may reach these ports anywhere.
API_SERVER_PORTS = (443, 6443)
RESTRICTED, PRIVILEGED = "restricted", "privileged"
# The Pod Security Standards release the namespaces enforce: pinned, so a
# cluster upgrade that tightens the profile cannot stop pods without a
# change here (the oldest Kubernetes the stack supports).
POD_SECURITY_VERSION = "v1.33"
# Kubernetes limits: ConfigMap keys and the whole object (etcd's 1 MiB).
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")
_CONFIG_MAP_LIMIT = 2**20
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")



def selector_labels(settings: Settings, spec: ServiceSpec) -> dict[str, str]:
    """What selectors match: never the version, so an upgrade keeps its pods."""
    return {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/instance": topology.instance(settings)}


def image_tag(image: str) -> str:
    """`app.kubernetes.io/version`: the tag of a pinned image ('v3.13.4').

    Raises ValueError for an image without a tag or one no label can hold."""
    name = image.rsplit("/", 1)[-1]
    tag = name.rpartition(":")[2] if ":" in name else ""
    if not tag or len(tag) > 63 or not _LABEL_VALUE.fullmatch(tag):
        raise ValueError(f"image {image!r}: expected an exact tag usable as a label value")
    return tag


def labels(settings: Settings, spec: ServiceSpec) -> dict[str, str]:
    return {
        **selector_labels(settings, spec),
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/version": image_tag(spec.image),
    }


def config_key(path: str) -> str:
    """The ConfigMap key of a container path: '/etc/loki/loki.yaml' -> 'etc_loki_loki.yaml'.

    Raises ValueError when the path holds characters a key may not."""
    key = path.strip("/").replace("/", "_")
    if not _CONFIG_KEY.fullmatch(key):
        raise ValueError(f"{path!r}: a ConfigMap key takes letters, digits, '-', '_' and '.' only")
    return key


def config_checksum(files: dict[str, str]) -> str:
    """sha256 (hex) over the rendered files, paths included: the pod template's `checksum/config`."""
    return hashlib.sha256(json.dumps(dict(sorted(files.items())), ensure_ascii=False).encode()).hexdigest()
