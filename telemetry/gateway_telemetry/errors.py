"""Where a failure happened: the `error_type` and `error_source` every error
log line and the error metrics carry (contract.LOG_FIELDS, ERROR_SOURCES).

error_source says where it failed: `timeout` (an upstream did not answer in
time), `rate_limit` (HTTP 429, from a provider or the gateway's own limit),
`provider` (an LLM provider answered with an error or could not be reached),
`client` (the request was invalid: validation error, HTTP 4xx) or `internal`
(anything else: a bug in the gateway). error_type is the exception's class
name (OTel's `error.type`), a provider's own error code, or the HTTP status of
an HTTPException.

The FastAPI, Starlette and httpx classes are looked up in sys.modules, not
imported: an exception of a library that was never imported cannot exist, and
a service logging without FastAPI does not pay for importing it.
"""

from __future__ import annotations

import re
import sys

from gateway_telemetry.contract import provider_name

# A provider's 4xx that the caller's request caused (too long, refused
# content, malformed): the client's error, not the provider's. 401, 403 and
# 404 say the gateway's own key or model mapping is wrong (the gateway's
# fault); 408 is a timeout and 429 a rate limit (classified before these).
CLIENT_CAUSED_PROVIDER_STATUSES = frozenset({400, 413, 422})


class ProviderError(Exception):
    """An LLM provider call failed.

    provider: the provider; kept as `gen_ai.provider.name` spells it
        (contract.provider_name: "bedrock" becomes "aws.bedrock").
    status: the HTTP status the provider answered, None when it never
        answered (connection refused, reset).
    error_type: the provider's own error code when it sent one
        ("rate_limit_exceeded", "overloaded_error"); else the status as a
        string ("503", OTel's `error.type` for HTTP), else "ProviderError".
        It becomes a metric label and a log field, so a code that is not
        one (free text, more than 64 characters) or that holds a secret is
        replaced the same way: what an upstream sends never widens a
        label or carries a secret.

    Raise it `from` the original exception, so a timeout behind it is
    classified as one.
    """

    def __init__(self, message: str = "", *, provider: str, status: int | None = None, error_type: str | None = None):
        super().__init__(message or f"{provider} call failed" + (f" with HTTP {status}" if status is not None else ""))
        self.provider = provider_name(provider)
        self.status = status
        self.error_type = error_type if _is_error_code(error_type) else (str(status) if status is not None else type(self).__name__)


_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def _is_error_code(text: str | None) -> bool:
    if not isinstance(text, str) or not _ERROR_CODE.fullmatch(text):
        return False
    from gateway_telemetry.masking import holds_secret  # the runtime kit's; this module loads without it

    return not holds_secret(text)


def _classes(module: str, *names: str) -> tuple[type, ...]:
    """The named classes of `module` if it was imported, else none."""
    loaded = sys.modules.get(module)
    return tuple(getattr(loaded, name) for name in names if hasattr(loaded, name)) if loaded else ()


def _is_timeout(exc: BaseException | None) -> bool:
    # asyncio.TimeoutError is the builtin TimeoutError since Python 3.11.
    return isinstance(exc, (TimeoutError, *_classes("httpx", "TimeoutException")))


def _http_status(exc: BaseException) -> int | None:
    """The status of an HTTPException (what the gateway answers) or of an
    httpx.HTTPStatusError (what an upstream answered)."""
    if isinstance(exc, _classes("starlette.exceptions", "HTTPException")):
        return exc.status_code
    if isinstance(exc, _classes("httpx", "HTTPStatusError")):
        return exc.response.status_code
    return None


def classify(exc: BaseException) -> tuple[str, str]:
    """(error_type, error_source) of an exception; error_source is one of
    contract.ERROR_SOURCES (tests/kit/test_errors.py holds them to it). First
    match wins:

    timeout     TimeoutError (asyncio's too), httpx.TimeoutException, or a
                ProviderError raised from one
    rate_limit  HTTP 429: ProviderError, httpx.HTTPStatusError, HTTPException
    client      a ProviderError whose status the caller's request caused
                (CLIENT_CAUSED_PROVIDER_STATUSES: 400, 413, 422), FastAPI's
                RequestValidationError, HTTPException with a 4xx
    provider    ProviderError, httpx.HTTPStatusError, httpx.TransportError
                (the gateway's upstreams are the LLM providers)
    internal    anything else, HTTPException 5xx included
    """
    error_type = exc.error_type if isinstance(exc, ProviderError) else type(exc).__name__
    status = exc.status if isinstance(exc, ProviderError) else _http_status(exc)
    if isinstance(exc, _classes("starlette.exceptions", "HTTPException")):
        error_type = str(status)
    if _is_timeout(exc) or (isinstance(exc, ProviderError) and _is_timeout(exc.__cause__)):
        source = "timeout"
    elif status == 429:
        source = "rate_limit"
    elif isinstance(exc, ProviderError) and status in CLIENT_CAUSED_PROVIDER_STATUSES:
        source = "client"
    elif isinstance(exc, (ProviderError, *_classes("httpx", "HTTPStatusError", "TransportError"))):
        source = "provider"
    elif isinstance(exc, _classes("fastapi.exceptions", "RequestValidationError")) or (
        status is not None and 400 <= status < 500
    ):
        source = "client"
    else:
        source = "internal"
    return error_type, source


def error_fields(exc: BaseException) -> dict[str, object]:
    """The log fields of a failure: error_type and error_source (classify),
    plus `provider` and `upstream_status` when a provider or another upstream
    answered (ProviderError, httpx.HTTPStatusError)."""
    error_type, source = classify(exc)
    fields: dict[str, object] = {"error_type": error_type, "error_source": source}
    if isinstance(exc, ProviderError):
        fields["provider"] = exc.provider
        if exc.status is not None:
            fields["upstream_status"] = exc.status
    elif isinstance(exc, _classes("httpx", "HTTPStatusError")):
        fields["upstream_status"] = exc.response.status_code
    return fields
