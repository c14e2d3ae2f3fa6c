"""Error classification (gateway_telemetry.errors): every failure says where
it happened, in the contract's vocabulary, from the real exception classes of
httpx, FastAPI and Starlette."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway_telemetry.contract import ERROR_SOURCES
from gateway_telemetry.errors import ProviderError, classify, error_fields

REQUEST = httpx.Request("POST", "https://api.openai.com/v1/chat/completions")


def status_error(status: int) -> httpx.HTTPStatusError:
    response = httpx.Response(status, request=REQUEST)
    return httpx.HTTPStatusError(f"HTTP {status}", request=REQUEST, response=response)


def raised_from(exc: BaseException, cause: BaseException) -> BaseException:
    try:
        raise exc from cause
    except BaseException as raised:
        return raised


CASES = [
    (httpx.ReadTimeout("read timed out", request=REQUEST), ("ReadTimeout", "timeout")),
    (httpx.ConnectTimeout("connect timed out", request=REQUEST), ("ConnectTimeout", "timeout")),
    (asyncio.TimeoutError(), ("TimeoutError", "timeout")),
    (raised_from(ProviderError(provider="openai"), httpx.ReadTimeout("slow", request=REQUEST)),
     ("ProviderError", "timeout")),
    (ProviderError(provider="openai", status=429), ("429", "rate_limit")),
    (ProviderError(provider="anthropic", status=429, error_type="rate_limit_error"), ("rate_limit_error", "rate_limit")),
    (status_error(429), ("HTTPStatusError", "rate_limit")),
    (HTTPException(status_code=429), ("429", "rate_limit")),
    (ProviderError(provider="anthropic", status=529, error_type="overloaded_error"), ("overloaded_error", "provider")),
    (ProviderError(provider="openai", status=503), ("503", "provider")),
    (ProviderError(provider="openai"), ("ProviderError", "provider")),
    (status_error(502), ("HTTPStatusError", "provider")),
    (httpx.ConnectError("refused", request=REQUEST), ("ConnectError", "provider")),
    (RequestValidationError([{"loc": ("body", "model"), "msg": "field required", "type": "missing"}]),
     ("RequestValidationError", "client")),
    (HTTPException(status_code=404), ("404", "client")),
    (StarletteHTTPException(status_code=401), ("401", "client")),
    (HTTPException(status_code=503), ("503", "internal")),
    (ValueError("bad"), ("ValueError", "internal")),
    (KeyError("model"), ("KeyError", "internal")),
]


@pytest.mark.parametrize("exc,expected", CASES, ids=lambda x: type(x).__name__ if isinstance(x, BaseException) else str(x))
def test_each_failure_is_classified_where_it_happened(exc, expected):
    assert classify(exc) == expected


def test_every_error_source_of_the_contract_is_reached_and_no_other():
    assert {classify(exc)[1] for exc, _ in CASES} == set(ERROR_SOURCES)


def test_a_provider_error_names_the_provider_and_its_upstream_status():
    exc = ProviderError("quota", provider="openai", status=429, error_type="insufficient_quota")
    assert error_fields(exc) == {"error_type": "insufficient_quota", "error_source": "rate_limit", "provider": "openai",
                                 "upstream_status": 429}
    assert error_fields(ProviderError(provider="openai")) == {"error_type": "ProviderError", "error_source": "provider",
                                                              "provider": "openai"}
    assert error_fields(status_error(502))["upstream_status"] == 502
    assert str(ProviderError(provider="openai", status=503)) == "openai call failed with HTTP 503"


def test_an_internal_error_carries_no_provider_fields():
    assert error_fields(ValueError("bad")) == {"error_type": "ValueError", "error_source": "internal"}


def test_classifying_imports_neither_httpx_nor_fastapi():
    """A service logging without FastAPI must not pay for importing it."""
    code = (
        "import sys\n"
        "from gateway_telemetry.errors import classify\n"
        "assert classify(ValueError()) == ('ValueError', 'internal')\n"
        "assert classify(TimeoutError()) == ('TimeoutError', 'timeout')\n"
        "print(sorted(m for m in ('httpx', 'fastapi', 'starlette') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "code, error_type",
    [
        ("rate_limit_exceeded", "rate_limit_exceeded"),
        ("overloaded_error", "overloaded_error"),
        ("invalid_request_error.context_length", "invalid_request_error.context_length"),
        # Not a code: free text, too long, or a secret an upstream echoed.
        ("Incorrect API key provided: sk-proj-abc", "401"),
        ("x" * 65, "401"),
        ("sk-ant-api03-" + "A" * 40, "401"),
        ("", "401"),
        (None, "401"),
    ],
)
def test_a_providers_error_code_becomes_error_type_only_when_it_is_a_code(code, error_type):
    """error_type is a metric label and a log field the kit does not mask:
    what an upstream sends must neither widen the label nor carry a secret."""
    assert ProviderError(provider="openai", status=401, error_type=code).error_type == error_type


def test_a_provider_error_names_the_provider_as_the_conventions_do():
    assert error_fields(ProviderError(provider="AWS Bedrock", status=500))["provider"] == "aws.bedrock"
    assert error_fields(ProviderError(provider="openrouter", status=500))["provider"] == "openrouter"
