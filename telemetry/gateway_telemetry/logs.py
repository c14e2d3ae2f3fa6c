"""Logs: one JSON object per line on stdout, the fields of
contract.LOG_FIELDS, masked before they are written.

A log call flows through a short chain of small structlog processors:

    merge_contextvars      request context bound with structlog.contextvars
                           (request_id, ...)
    add_error_fields       error_type, error_source (errors.error_fields) and
                           the formatted exception, for error records
    MaskingProcessor       masking.py: secrets and personal data, once every
                           field that can hold text is there
    LineFields             timestamp (UTC, ISO 8601, microseconds, `Z`),
                           level (lower case), service, environment, version,
                           logger, message (structlog's `event`), first
    add_trace_context      trace_id, span_id of the current OpenTelemetry span
    render_json            orjson, to bytes (or structlog's ConsoleRenderer)

The service's own loggers (get_logger) are structlog's filtering loggers
writing bytes straight to stdout: a call below the level is a no-op and no
logging.LogRecord is built. Records of the standard `logging` module
(uvicorn, httpx, any library) reach the same chain through structlog's
ProcessorFormatter on the root logger's one handler, with their logger name
and `extra` fields. Both write through one lock, so lines never interleave.

configure_logging() is the only entry point and does everything; importing
this module configures nothing.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Literal, cast

import orjson
import structlog
from concurrent_log_handler import ConcurrentRotatingFileHandler
from opentelemetry import trace
from opentelemetry.semconv.attributes.error_attributes import ErrorTypeValues

from gateway_telemetry import workers
from gateway_telemetry.errors import error_fields
from gateway_telemetry.masking import MaskingProcessor, as_text

# The contract's levels (contract.LOG_FIELDS: "debug, info, warning, error or
# critical"), in the lower case the lines carry.
LEVELS = ("debug", "info", "warning", "error", "critical")
RENDERERS = ("json", "console")
# The methods that write an error or critical line (structlog's names and
# the stdlib's level names in lower case).
_ERROR_METHODS = frozenset({"error", "exception", "critical", "fatal"})
# structlog passes the method's name; stdlib records come as their level name
# in lower case. Two methods are aliases (structlog's add_log_level maps them alike).
_LEVEL_OF_METHOD = {"warn": "warning", "exception": "error"}
# uvicorn's default log config gives these their own handlers and turns
# propagation off; the kit takes them back so their records are JSON too.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# uvicorn adds an ANSI-coloured copy of some messages as an `extra`.
_DROPPED_EXTRAS = ("color_message",)


# --- processors ---------------------------------------------------------------

_second: tuple[int, str] = (-1, "")


def utc_timestamp() -> str:
    """Now, UTC, ISO 8601 with microseconds and `Z`
    (`2026-11-30T12:00:00.123456Z`, contract.LOG_FIELDS). The date and time
    of the current second are formatted once per second."""
    global _second
    microseconds = time.time_ns() // 1000
    seconds = microseconds // 1_000_000
    if _second[0] != seconds:
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds)))
    return f"{_second[1]}{microseconds % 1_000_000:06d}Z"


class LineFields:
    """The fields every line starts with, in the contract's order: timestamp
    (utc_timestamp), level (the method's name in lower case, `warn` and
    `exception` mapped as structlog maps them), service, environment,
    version, logger (get_logger's name, or the stdlib record's) and message
    (structlog's `event`). They are the kit's, so they win over a call's
    own. One processor rather than six: each step of the chain costs a call
    per line, and these are plain assignments."""

    def __init__(self, service: str, environment: str, version: str):
        self.service, self.environment, self.version = service, environment, version

    def __call__(self, logger: Any, method_name: str, event_dict: dict) -> dict:
        header = {
            "timestamp": utc_timestamp(),
            "level": _LEVEL_OF_METHOD.get(method_name, method_name),
            "service": self.service,
            "environment": self.environment,
            "version": self.version,
            # ProcessorFormatter passes no logger for a stdlib record.
            "logger": logger.name if logger is not None else event_dict["_record"].name,
            "message": event_dict.pop("event", None),
        }
        line = header.copy()
        line.update(event_dict)
        if len(line) != len(header) + len(event_dict):
            line.update(header)  # a call named a header field: the kit's value wins, in the header's place
        return line


_last_span: tuple[Any, str, str] = (None, "", "")
_get_current_span = trace.get_current_span  # a module lookup less per line


def add_trace_context(logger: Any, method_name: str, event_dict: dict) -> dict:
    """`trace_id` (32 hex digits) and `span_id` (16) of the current span, when
    there is a valid one and the call did not name a trace itself. A span
    logs several lines: its ids are formatted once (a SpanContext is
    immutable, so the last one seen is remembered by identity)."""
    global _last_span
    context = _get_current_span().get_span_context()
    if context.is_valid and "trace_id" not in event_dict:
        last = _last_span
        if last[0] is not context:
            last = _last_span = (context, trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id))
        event_dict["trace_id"] = last[1]
        event_dict["span_id"] = last[2]
    return event_dict


def _exception_of(exc_info: Any) -> BaseException | None:
    """The exception structlog's `exc_info` stands for: True (the one being
    handled), an exc_info tuple, or an exception."""
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple):
        return exc_info[1]
    return sys.exc_info()[1] if exc_info else None


def add_error_fields(logger: Any, method_name: str, event_dict: dict) -> dict:
    """Where it failed: a record with an exception gets errors.error_fields
    (error_type, error_source, and provider and upstream_status for provider
    errors; a call's own values win) and the formatted traceback as
    `exception`. An error or critical record without one says `_OTHER`
    (OTel's error.type fallback) from `internal`, so every error line has
    both fields."""
    if "exc_info" in event_dict:
        exc = _exception_of(event_dict["exc_info"])
        if exc is not None:
            for key, value in error_fields(exc).items():
                event_dict.setdefault(key, value)
        event_dict = structlog.processors.format_exc_info(logger, method_name, event_dict)
    if method_name in _ERROR_METHODS:
        event_dict.setdefault("error_type", ErrorTypeValues.OTHER.value)
        event_dict.setdefault("error_source", "internal")
    return event_dict


def _add_record_extras(logger: Any, method_name: str, event_dict: dict) -> dict:
    event_dict = _EXTRAS(logger, method_name, event_dict)
    for key in _DROPPED_EXTRAS:
        event_dict.pop(key, None)
    return event_dict


_EXTRAS = structlog.stdlib.ExtraAdder()


def _within_orjson(value: Any) -> Any:
    """`value` with what orjson refuses (ints beyond 64 bits, lone surrogates,
    keys that are not strings) turned into text."""
    if isinstance(value, dict):
        return {_within_orjson(as_text(key)): _within_orjson(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_within_orjson(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def render_json(logger: Any, method_name: str, event_dict: dict) -> bytes:
    """One JSON object, orjson's bytes (NaN and infinities as null). A value
    orjson refuses (an int beyond 64 bits, a lone surrogate in a field
    masking does not read) is written as text rather than failing the call."""
    try:
        return orjson.dumps(event_dict, default=as_text)
    except TypeError:
        return orjson.dumps(_within_orjson(event_dict), default=as_text)


def _render_json_text(logger: Any, method_name: str, event_dict: dict) -> str:
    # ProcessorFormatter wants text.
    return render_json(logger, method_name, event_dict).decode()


# --- output -------------------------------------------------------------------


class _Output:
    """Where every rendered line goes: stdout and, when asked, a rotating
    file. structlog calls it as its logger (one method per level, all alike,
    as structlog.BytesLogger); the root handler calls `msg` too.

    Correct with several worker processes on one stdout and one file
    (uvicorn --workers, gunicorn): each line is one write(2) of the whole
    line. On a pipe (a container's stdout) POSIX makes that atomic only up
    to PIPE_BUF bytes (pipe(7)): a longer line goes in pieces as the reader
    drains the pipe, and another process's line, however short, can land
    between them. So where several workers share the pipe
    (workers.pre_fork_server, or PROMETHEUS_MULTIPROC_DIR set) every line is
    written under an flock(2) that all of them share (a lock file named
    after the pipe's device and inode, in PROMETHEUS_MULTIPROC_DIR, which
    every worker must be able to write, else in the temporary directory),
    about 1.4 us a line; one process takes no lock. A lock that cannot be
    opened or taken never fails a log call: the line is written unlocked.
    The file is concurrent-log-handler's
    ConcurrentRotatingFileHandler, which locks and rolls over across
    processes (the standard RotatingFileHandler, one per process, renames
    the file under the others and loses their lines). One thread lock, so
    lines of concurrent threads never interleave either."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._text_stream: Any = None
        self._pipe_lock_path: str | None = None
        self._pipe_lock_fd: int | None = None
        self._file: logging.Handler | None = None
        self._file_factory: Any = None

    def after_fork(self) -> None:
        """In a forked child: a lock file descriptor and a file handler of
        its own (see _fork_hook_registered), and a new thread lock: another
        thread of the parent may have held it as the process forked."""
        self._lock = threading.Lock()
        if self._pipe_lock_fd is not None:
            # The parent's lock stays held while the parent's own descriptor
            # is open (flock(2)): closing the child's copy releases nothing.
            os.close(self._pipe_lock_fd)
        self._pipe_lock_fd = None
        if self._file is not None and self._file_factory is not None:
            self._file = self._file_factory()

    def open(self, stdout: Any, file: logging.Handler | None, file_factory: Any = None) -> None:
        previous, previous_lock = self._file, self._pipe_lock_fd
        with self._lock:
            try:
                stdout.flush()  # what was printed before comes first
                self._fd, self._text_stream = stdout.fileno(), None
            except (AttributeError, OSError, ValueError):
                # A stdout without a file descriptor (some test runners' stand-ins) gets text.
                self._fd, self._text_stream = None, stdout
            shared = workers.pre_fork_server() is not None or workers.multiprocess_dir() is not None
            self._pipe_lock_path = _pipe_lock_path(self._fd) if self._fd is not None and shared else None
            self._pipe_lock_fd = None
            self._file, self._file_factory = file, file_factory
        if previous is not None:
            previous.close()
        if previous_lock is not None:
            os.close(previous_lock)

    def msg(self, message: bytes | str) -> None:
        line = message if type(message) is bytes else message.encode()
        data = line + b"\n"
        with self._lock:
            if self._fd is not None:
                if self._pipe_lock_path is not None:
                    self._write_locked(data)
                else:
                    _write_all(self._fd, data)
            elif self._text_stream is not None:
                self._text_stream.write(data.decode())
                self._text_stream.flush()
            if self._file is not None:
                # The handler's own formatter (%(message)s) writes the line as
                # it is; it decides when to roll over.
                self._file.handle(logging.makeLogRecord({"msg": line.decode()}))

    def _write_locked(self, data: bytes) -> None:
        try:
            if self._pipe_lock_fd is None:
                # 0o666 less the umask: workers that run as another user than
                # the process that made the file (gunicorn --user) open it too.
                self._pipe_lock_fd = os.open(self._pipe_lock_path, os.O_RDWR | os.O_CREAT, 0o666)
            fcntl.flock(self._pipe_lock_fd, fcntl.LOCK_EX)
        except OSError:
            self._pipe_lock_path = None  # unlocked from now on, rather than a failing log call
            _write_all(self._fd, data)
            return
        try:
            _write_all(self._fd, data)
        finally:
            fcntl.flock(self._pipe_lock_fd, fcntl.LOCK_UN)

    debug = info = warning = warn = error = exception = critical = fatal = log = msg


def _write_all(fd: int, data: bytes) -> None:
    """write(2) until all of `data` is out (a pipe may take part of a long line)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _pipe_lock_path(fd: int) -> str | None:
    """The lock file every process writing to the pipe `fd` shares (named
    after the pipe's device and inode), or None when `fd` is not a pipe:
    a file opened for appending and a terminal need no lock."""
    try:
        status = os.fstat(fd)
    except OSError:
        return None
    if not stat.S_ISFIFO(status.st_mode):
        return None
    # Not a *.db file: prometheus_client's MultiProcessCollector reads only those.
    folder = workers.multiprocess_dir() or tempfile.gettempdir()
    return os.path.join(folder, f"gateway-telemetry-pipe-{status.st_dev}-{status.st_ino}.lock")


class _NamedOutput:
    """What structlog wraps for get_logger(name): the name LineFields writes
    (as a stdlib logger has one), and every level method bound straight to
    the process's output (no extra call)."""

    _METHODS = ("msg", "debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log")
    __slots__ = ("name", *_METHODS)

    def __init__(self, name: str = ""):
        self.name = name
        for method in self._METHODS:
            setattr(self, method, _OUTPUT.msg)


class _KitHandler(logging.Handler):
    """The root logger's one handler: a stdlib record, formatted by the chain,
    into the same output as everything else."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _OUTPUT.msg(self.format(record))
        except Exception:
            self.handleError(record)


_OUTPUT = _Output()
# One list object for the whole process: configure_logging changes its
# content, so loggers bound before a second call follow the new chain.
_PROCESSORS: list = []
# What configure_logging last set: the filtering logger class of its level,
# and a count of calls, so get_logger's loggers rebuild after each.
_wrapper_class: type | None = None
_generation = 0


class _KitLogger:
    """What get_logger returns. structlog's own lazy proxy, once cached,
    keeps the level it was first used with (its filtering loggers are built
    for one level); this one rebuilds the real logger (make_filtering_bound_
    logger's class for the configured level, the kit's chain, the process's
    output) on its first use after each configure_logging, so module-level
    loggers follow a second call, level included. Before any call it is
    structlog's default logger."""

    __slots__ = ("_name", "_logger", "_generation")

    def __init__(self, name: str):
        self._name = name
        self._logger: Any = None
        self._generation = -1

    def __getattr__(self, attribute: str) -> Any:
        if self._generation != _generation:
            self._logger = (
                _wrapper_class(_NamedOutput(self._name), processors=_PROCESSORS, context={})
                if _wrapper_class is not None
                else structlog.get_logger(self._name)
            )
            self._generation = _generation
        return getattr(self._logger, attribute)

    def __repr__(self) -> str:
        return f"<gateway_telemetry logger {self._name!r}>"


# --- configuration ------------------------------------------------------------


def _check(name: str, value: Any, ok: bool, allowed: str) -> None:
    if not ok:
        raise ValueError(f"configure_logging: {name}={value!r} is not allowed; {allowed}")


def _file_handler(file: Path, max_bytes: int, backups: int) -> logging.Handler:
    path = Path(file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return ConcurrentRotatingFileHandler(str(path), maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    except OSError as error:
        raise ValueError(
            f"configure_logging: file={str(path)!r} cannot be written ({error.strerror}); give a writable path"
        ) from None


def configure_logging(
    *,
    service: str,
    environment: str,
    version: str,
    level: str = "INFO",
    renderer: Literal["json", "console"] = "json",
    file: Path | None = None,
    file_max_bytes: int = 50 * 2**20,
    file_backups: int = 5,
) -> None:
    """Configure structlog and the standard library's logging for the process.

    service, environment, version: written on every line (non-empty strings).
    level: DEBUG, INFO, WARNING, ERROR or CRITICAL, any case; records below it
        are dropped, the service's and every library's alike.
    renderer: "json" (one object per line, what Promtail parses) or "console"
        (structlog's human-readable lines, for local development; coloured
        only on a terminal without `file`).
    file: also write every line to this file (its directory is created),
        rolled over once it reaches `file_max_bytes` bytes (it may pass
        them by its last line) keeping `file_backups` old files;
        several worker processes may share it (concurrent-log-handler's
        ConcurrentRotatingFileHandler locks and rolls over across them).

    Takes over the root logger (its handlers are replaced by the kit's one,
    like logging.basicConfig(force=True)) and uvicorn's loggers (their
    handlers removed, propagation on; run uvicorn with `log_config=None` to
    keep it from configuring them again). Calling it again replaces the
    previous configuration, level included: never two handlers, never a line
    twice, and get_logger's loggers (module-level ones too) follow it.

    Raises ValueError naming the argument, its value and what is allowed.
    """
    for name, value in (("service", service), ("environment", environment), ("version", version)):
        _check(name, value, isinstance(value, str) and value.strip() != "", "give a non-empty string")
    _check(
        "level", level, isinstance(level, str) and level.lower() in LEVELS, "use one of " + ", ".join(LEVELS) + " (any case)"
    )
    _check("renderer", renderer, renderer in RENDERERS, "use 'json' or 'console'")
    for name, value in (("file_max_bytes", file_max_bytes), ("file_backups", file_backups)):
        _check(name, value, type(value) is int and value >= 1, "give a whole number of at least 1")
    _check("file", file, file is None or isinstance(file, (str, Path)), "give a path or None")

    stdout = sys.stdout
    if renderer == "console":
        colors = file is None and hasattr(stdout, "isatty") and stdout.isatty()
        render, render_text = (structlog.dev.ConsoleRenderer(colors=colors, event_key="message"),) * 2
    else:
        render, render_text = render_json, _render_json_text
    line_fields, masking = LineFields(service, environment, version), MaskingProcessor()
    file_factory = (lambda: _file_handler(file, file_max_bytes, file_backups)) if file is not None else None
    _OUTPUT.open(stdout, file_factory() if file_factory is not None else None, file_factory)
    # Masking runs once every field that can hold text is there (the call's,
    # the request context, the formatted exception); the two steps after it
    # add only the kit's own fields, all in masking.NEVER_TEXT (tested), so
    # it does not walk them on every line.
    _PROCESSORS[:] = [
        structlog.contextvars.merge_contextvars,
        add_error_fields,
        masking,
        line_fields,
        add_trace_context,
        render,
    ]
    global _wrapper_class, _generation
    _wrapper_class = structlog.make_filtering_bound_logger(level.lower())
    _generation += 1
    # structlog.get_logger() elsewhere in the process gets the same chain.
    structlog.configure(
        processors=_PROCESSORS,
        wrapper_class=_wrapper_class,
        logger_factory=_NamedOutput,
        cache_logger_on_first_use=True,
    )

    handler = _KitHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                _add_record_extras,
                structlog.contextvars.merge_contextvars,
                add_error_fields,
                line_fields,
                add_trace_context,
            ],
            # The LogRecord leaves the dict before masking and rendering.
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, masking, render_text],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if isinstance(old, _KitHandler):
            old.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
    _take_uvicorn_loggers()
    global _fork_hook_registered
    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook_registered = True


def _after_fork_in_child() -> None:
    _OUTPUT.after_fork()
    _take_uvicorn_loggers()


# Under gunicorn --preload the app (and configure_logging) runs in the
# arbiter, which builds each worker object before it forks: uvicorn-worker's
# UvicornWorker.__init__ (0.4.0) then gives uvicorn's loggers gunicorn's
# plain-text handlers, in the arbiter, and every forked worker inherits
# them. Taking them back right after each fork, in the child, comes before
# the worker's first line. The output's locks are reopened there too: an
# flock belongs to an open file description, which a forked child shares
# with its parent (flock(2)), so inherited ones would exclude nothing.
_fork_hook_registered = False


def _take_uvicorn_loggers() -> None:
    """Route uvicorn's loggers through the kit (their handlers removed,
    propagation on, the root's level)."""
    for name in UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
        uvicorn_logger.setLevel(logging.NOTSET)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """The logger for `name` (written as the line's `logger` field): a
    structlog filtering logger (make_filtering_bound_logger), never one
    routed through the standard library, whose LogRecord and handler locks
    would cost more than the whole chain. Safe to call at import time (see
    _KitLogger). Methods: debug, info, warning, error, exception, critical
    (and async `a`-prefixed twins), bind/unbind/new; keyword arguments
    become fields; below the level a call is a no-op."""
    return cast(structlog.typing.FilteringBoundLogger, _KitLogger(name))
