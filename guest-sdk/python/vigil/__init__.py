"""Write vigil probes in Python.

A probe is a WebAssembly component that acts like a user of your service and tells
vigil whether that worked. This package is the Python side of the contract in
`wit/probe.wit` (world `vigil:probe/probe@0.1.0`); componentize-py turns a module that
uses it into a component. See README.md next to this package for the full reference.

    import vigil
    from vigil import http, log, step

    @vigil.probe
    def run():
        url = vigil.require_config("url")
        with step("fetch"):
            resp = http.get(url)
            vigil.metric("body_bytes", len(resp.body))
            log.info(f"GET {url}: status {resp.status}")
            resp.expect_status(200)
"""

import contextlib
import sys
import traceback

from . import _host, http, log
from ._errors import ProbeError, message_of

__all__ = [
    "ProbeError",
    "config",
    "degraded",
    "http",
    "log",
    "message_of",
    "metric",
    "probe",
    "require_config",
    "require_secret",
    "secret",
    "step",
]

try:
    from componentize_py_types import Err  # type: ignore[import-not-found]
except ImportError:  # plain CPython (unit tests): same shape as the generated class

    class Err(Exception):
        """Stand-in for `componentize_py_types.Err` outside a componentize-py build."""

        def __init__(self, value):
            super().__init__(value)
            self.value = value


def probe(run):
    """Make `run` the probe's entry point (use as a decorator, once per probe).

    `run` takes no arguments. Returning (anything) means the scenario worked; raising
    means it failed, and the exception's message becomes the run's failure reason:
    `ProbeError`s (which every SDK error is) as they are, any other exception as
    `"TypeName: message"`, with its traceback in the run's log (level debug), since
    it is probably a bug in the probe.

    The decorator defines `WitWorld` in `run`'s module, the class componentize-py
    exports, and returns `run` unchanged.
    """

    class WitWorld:
        """The `probe` world's exports, as componentize-py expects them."""

        def run(self) -> None:
            _call(run)

    module = sys.modules.get(getattr(run, "__module__", None) or "")
    if module is not None:
        module.WitWorld = WitWorld
    return run


def _call(run) -> None:
    """Run the probe once and turn any exception into the `err` string of `run`."""
    try:
        run()
    except BaseException as exc:  # noqa: BLE001 - every failure must become a clean `err`
        root = exc
        while root.__cause__ is not None:
            root = root.__cause__
        if not isinstance(root, (ProbeError, Err)):
            with contextlib.suppress(Exception):
                lines = traceback.format_exception(type(root), root, root.__traceback__)
                log.debug("".join(lines).rstrip())
        raise Err(message_of(exc)) from None


class step(contextlib.ContextDecorator):
    """A named, timed phase of the scenario: `with step("login"): ...`.

    vigil times it and reports `probe_step_success{step="login"}` and
    `probe_step_duration_seconds{step="login"}`; HTTP requests made inside are
    attributed to it. An exception leaving the block ends the step as failed, with the
    exception's message as its detail, and is raised again as a `ProbeError` whose
    message starts with the step's name (`"login: POST http://...: connection
    refused"`). Steps nest. Also usable as a decorator: `@step("login")`.
    """

    def __init__(self, name: str):
        self.name = str(name)

    def __enter__(self):
        _host.get().step_start(self.name)
        return self

    def __exit__(self, exc_type, exc, tb):
        raw = _host.get()
        if exc is None:
            raw.step_end(True, "")
            return False
        message = message_of(exc)
        raw.step_end(False, message)
        raise ProbeError(f"{self.name}: {message}") from exc


def metric(name: str, value: float, labels=None) -> None:
    """Record a sample: `metric("cart_items", 3, {"shop": "eu"})`.

    `labels` is a dict or a list of `(name, value)` pairs. The name must be a valid
    Prometheus metric name and label names valid label names; invalid ones are dropped
    by vigil with a warning in the run's log. The same name and labels recorded twice
    keep the last value.
    """
    if labels is None:
        pairs = []
    elif isinstance(labels, dict):
        pairs = [(str(k), str(v)) for k, v in labels.items()]
    else:
        pairs = [(str(k), str(v)) for k, v in labels]
    _host.get().metric(str(name), float(value), pairs)


def config(key: str, default=None):
    """The value of `key` in the probe's `config:` (or `--set key=...`), else `default`."""
    value = _host.get().config(str(key))
    return default if value is None else value


def require_config(key: str) -> str:
    """The value of `key` in the probe's `config:`; a `ProbeError` saying how to set it
    when it is missing or blank."""
    value = _host.get().config(str(key))
    if value is None:
        raise ProbeError(
            f"missing config key `{key}`: set it under the probe's `config:` in vigil.yaml "
            f"(or `--set {key}=...`)"
        )
    if not value.strip():
        raise ProbeError(
            f"config key `{key}` is empty: give it a value under the probe's `config:` in "
            f"vigil.yaml (or `--set {key}=...`)"
        )
    return value


def secret(name: str, default=None):
    """The secret `name` given to this probe (`secrets:` in vigil.yaml, or
    `--secret name=...`), else `default`. Never log it: vigil keeps secrets out of
    records, but not text you build from them."""
    value = _host.get().secret(str(name))
    return default if value is None else value


def require_secret(name: str) -> str:
    """The secret `name`; a `ProbeError` saying how to give it when it is missing."""
    value = _host.get().secret(str(name))
    if value is None:
        raise ProbeError(
            f"missing secret `{name}`: give it to this probe under `secrets:` in vigil.yaml "
            f"(or `--secret {name}=...`)"
        )
    return value


def degraded(reason: str) -> None:
    """Mark this run degraded: it worked, but not well. If the probe then succeeds its
    outcome is `degraded` with this reason (the last call wins)."""
    _host.get().degraded(str(reason))
