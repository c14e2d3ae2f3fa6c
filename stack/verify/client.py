"""The HTTP calls of `python -m stack verify`: bounded in time, and every
failure turned into one short sentence (CheckFailed) instead of a traceback."""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

# Per request: a healthy component answers in milliseconds; a hung one must
# not hold the whole run (which stays well under a minute).
REQUEST_TIMEOUT_SECONDS = 5.0
_EXCERPT = 160


class CheckFailed(Exception):
    """A check's FAIL reason: one line, shown as is."""


class Unreachable(CheckFailed):
    """Nothing listens at the address (connection refused)."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)

    def json(self, url: str) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise CheckFailed(f"{url} answered {self.status} with something that is not JSON: {excerpt(self.body)}") from None


def excerpt(body: bytes | str) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def request(
    method: str,
    url: str,
    *,
    body: Optional[bytes] = None,
    headers: Optional[Mapping[str, str]] = None,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
) -> Response:
    """One HTTP request; any status is returned (the caller judges it).

    Raises Unreachable when the connection is refused and CheckFailed for
    every other transport problem (timeout, reset, bad URL), worded with the URL."""
    req = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            return Response(answer.status, dict(answer.headers), answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, dict(error.headers or {}), error.read() or b"")
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, ConnectionRefusedError):
            raise Unreachable(f"connection refused at {url}") from None
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise CheckFailed(f"no answer from {url} within {timeout:g}s") from None
        raise CheckFailed(f"cannot reach {url}: {reason}") from None
    except (socket.timeout, TimeoutError):
        raise CheckFailed(f"no answer from {url} within {timeout:g}s") from None
    except ConnectionError as error:
        raise CheckFailed(f"connection to {url} failed: {error.strerror or error}") from None
    except ValueError as error:  # a malformed URL
        raise CheckFailed(f"cannot request {url}: {error}") from None


def get_ok(url: str, **kwargs: Any) -> Response:
    """GET that must answer 2xx; anything else is a CheckFailed naming the status."""
    answer = request("GET", url, **kwargs)
    if not 200 <= answer.status < 300:
        raise CheckFailed(f"{url} answered {answer.status}: {excerpt(answer.body)}")
    return answer


def get_json(url: str, **kwargs: Any) -> Any:
    return get_ok(url, **kwargs).json(url)


def post(url: str, body: bytes, content_type: str, **kwargs: Any) -> Response:
    """POST that must answer 2xx."""
    answer = request("POST", url, body=body, headers={"Content-Type": content_type}, **kwargs)
    if not 200 <= answer.status < 300:
        raise CheckFailed(f"{url} answered {answer.status}: {excerpt(answer.body)}")
    return answer
