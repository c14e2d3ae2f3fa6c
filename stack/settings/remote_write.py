"""Remote write: Prometheus also sends every sample to a long-term metrics store
(Grafana Mimir, Thanos Receive, Cortex, VictoriaMetrics or any endpoint of the
Prometheus remote-write protocol). The credential is never a setting: with
auth bearer or basic it is the `remoteWriteCredential` secret, mounted into
Prometheus as a file (stack.settings.secrets, stack.components.prometheus)."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field

from stack.settings.errors import config_key, show
from stack.settings.partial import Failed
from stack.settings.values import StrictModel, WholeNumber, accepts, matching

# Headers Prometheus sets on every remote-write request and refuses to take
# from `headers` (config.reservedHeaders in prometheus/config/config.go);
# Authorization is refused there too, with a pointer to the auth settings.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-encoding",
        "content-length",
        "content-type",
        "user-agent",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "www-authenticate",
        "accept-encoding",
        "x-prometheus-remote-write-version",
        "x-prometheus-remote-read-version",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
    }
)
# Header names that carry credentials: their values would sit in plain text
# in prometheus.yml (a ConfigMap, a rendered folder), so they are refused.
_SECRET_WORDS = ("auth", "token", "secret", "password", "passwd", "key", "credential", "cookie", "session", "signature")

_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s?#@]*)?")


@accepts("an http(s) URL")
def _check_url(value: str) -> str:
    if not _URL.fullmatch(value):
        raise ValueError(
            "expected the http(s) URL of a remote-write endpoint, such as 'https://mimir.example.com/api/v1/push' "
            "(no user:password@, query or fragment: a credential goes in remoteWrite.auth)"
        )
    return value


@accepts("a header name of letters, digits, '-' and '_' (no credential header, none Prometheus sets)")
def _check_header_name(name: str) -> str:
    lowered = name.lower()
    if lowered == "authorization" or any(word in lowered for word in _SECRET_WORDS):
        raise ValueError(
            "a header that carries a credential would stand in plain text in prometheus.yml; set remoteWrite.auth "
            "(bearer or basic) and the remoteWriteCredential secret instead"
        )
    if lowered in RESERVED_HEADERS:
        raise ValueError("a header Prometheus sets itself on every remote-write request; it refuses to override it")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}", name):
        raise ValueError("expected a header name of letters, digits, '-' and '_', such as 'X-Scope-OrgID'")
    return name


HeaderName = Annotated[str, AfterValidator(_check_header_name)]
HeaderValue = Annotated[
    str,
    matching(
        r"[!-~]([ -~]{0,1022}[!-~])?",
        "expected a header value of printable ASCII, 1 to 1024 characters, no leading or trailing space",
    ),
]
# A basic-auth user id: no ':' (it ends the user id in the header) and nothing unprintable.
Username = Annotated[
    str, matching(r"[!-9;-~]{1,256}", "expected a user name of printable ASCII without spaces or ':', 1 to 256 characters")
]


class RemoteWriteQueue(StrictModel):
    """Prometheus' per-shard queue (queue_config); unset fields keep Prometheus'
    own defaults (capacity 10000, max_samples_per_send 2000)."""

    capacity: Optional[Annotated[WholeNumber, Field(ge=1, le=1_000_000)]] = None
    """Samples each shard buffers before Prometheus stops reading more from its
    WAL (`capacity`); unset, Prometheus' own default (10000)."""
    max_samples_per_send: Optional[Annotated[WholeNumber, Field(ge=1, le=100_000)]] = None
    """Most samples in one request (`max_samples_per_send`); unset, Prometheus'
    own default (2000)."""


class RemoteWrite(StrictModel):
    """Where Prometheus also writes its samples, and how it authenticates there."""

    url: Annotated[str, AfterValidator(_check_url)]
    """The remote-write endpoint, such as `https://mimir.example.com/api/v1/push`;
    no credential in it: that is `auth`'s."""
    auth: Literal["none", "bearer", "basic"] = "none"
    """How Prometheus authenticates: `bearer` and `basic` need the
    `remoteWriteCredential` secret (the token, or the password of `username`),
    mounted as a file, never in `prometheus.yml`."""
    username: Optional[Username] = None
    """The basic-auth user: required with `auth: basic`, refused with any other."""
    headers: dict[HeaderName, HeaderValue] = {}
    """Headers sent with every request, plain values only, such as Mimir's
    tenant `X-Scope-OrgID` or `THANOS-TENANT`; they stand in plain text in
    `prometheus.yml`, so credential headers are refused."""
    queue: RemoteWriteQueue = RemoteWriteQueue()
    """Prometheus' per-shard queue (`queue_config`); unset fields keep its defaults."""

    @property
    def needs_credential(self) -> bool:
        """Whether the remoteWriteCredential secret is sent (bearer token or basic password)."""
        return self.auth != "none"


def remote_write_problems(remote: Optional[RemoteWrite], failed: Failed) -> list[str]:
    """`username` against `auth`, checked here rather than in the model so the
    problem is reported in the same run as a bad header or queue value of the
    section (a model check would wait until they are fixed)."""
    if remote is None or failed.touches("remoteWrite", "auth") or failed.touches("remoteWrite", "username"):
        return []
    if remote.auth == "basic" and remote.username is None:
        return [
            f"{config_key(('remoteWrite', 'auth'))}: given 'basic'; needs remoteWrite.username "
            "(the password is the remoteWriteCredential secret)"
        ]
    if remote.auth != "basic" and remote.username is not None:
        return [
            f"{config_key(('remoteWrite', 'username'))}: given {show(remote.username)}; only auth 'basic' reads it "
            f"(remoteWrite.auth is '{remote.auth}'): remove it or set remoteWrite.auth to basic"
        ]
    return []
