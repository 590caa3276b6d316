"""Log lines into the run's record (`vigil probe run`, the API, the status page).

`log.info("GET /: 200 in 12ms")` and friends. `print()` works too (stdout and stderr
are captured at level info and warn). The bytes a run may log are capped (64 KiB by
default, captured output included); a probe that logs past the cap is stopped and
fails with reason `limit_exceeded`, so log what helps on call, not every byte received.
"""

from . import _host

LEVELS = ("trace", "debug", "info", "warn", "error")


def log(level: str, message: str) -> None:
    """Append `message` to the run's log at `level` (one of `LEVELS`)."""
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(LEVELS)}")
    raw = _host.get()
    raw.log(getattr(raw.Level, level.upper()), str(message))


def trace(message: str) -> None:
    """Log at level trace."""
    log("trace", message)


def debug(message: str) -> None:
    """Log at level debug."""
    log("debug", message)


def info(message: str) -> None:
    """Log at level info."""
    log("info", message)


def warn(message: str) -> None:
    """Log at level warn."""
    log("warn", message)


def error(message: str) -> None:
    """Log at level error."""
    log("error", message)
