"""The demo gateway: the Unified LLM API, the Intelligent Router and the
Optimization Service as small FastAPI apps instrumented with the telemetry kit,
a fake OpenAI-style provider with run-time fault injection, a load generator,
a launcher (`run.py`) and a one-request trace printer (`trace_one.py`).

Each service module has a `create_app()` factory (uvicorn `--factory`): nothing
is configured at import time.
"""
