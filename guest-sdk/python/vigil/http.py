"""HTTP for probes, over `wasi:http` (Python's `urllib` and `http.client` cannot run
inside a probe: there are no raw sockets behind them).

    resp = http.get("http://shop.internal/health", headers={"accept": "text/plain"})
    resp.expect_status(200)

    resp = http.post(f"{base}/login", json={"user": "probe", "password": pw}, timeout=5)
    token = resp.expect_status(200).json()["token"]

Every call blocks until the whole response body has arrived (vigil caps its size) and
returns a `Response`; a failure to get one raises `HttpError`, a `ProbeError` whose
message names the request: `"GET http://127.0.0.1:8080/: connection refused"`. A
response with any status is returned as is; check it with `expect_status` and friends,
whose errors quote the start of the body.
"""

import base64
import json as _json
import time
from urllib.parse import unquote, urlsplit

from ._errors import ProbeError, describe_error_code

# Imported once, when componentize-py snapshots the probe, not on every request.
try:
    from componentize_py_types import Err, Ok  # type: ignore[import-not-found]
    from wit_world.imports import (  # type: ignore[import-not-found]
        monotonic_clock,
        outgoing_handler,
        poll,
        streams,
    )
    from wit_world.imports import wasi_http_types as wasi  # type: ignore[import-not-found]

    _bindings_missing = None
except ImportError as _exc:  # plain CPython: only the pure parts work
    _bindings_missing = _exc

__all__ = [
    "HttpError",
    "Response",
    "delete",
    "get",
    "head",
    "patch",
    "post",
    "put",
    "request",
]

SNIPPET_BYTES = 200
READ_CHUNK = 64 * 1024


class HttpError(ProbeError):
    """A request that got no response: `"<METHOD> <URL>: <what went wrong>"`.

    `method` and `url` say which request; `reason` is the part after them.
    """

    def __init__(self, method: str, url: str, reason: str):
        super().__init__(f"{method} {url}: {reason}")
        self.method = method
        self.url = url
        self.reason = reason


class Response:
    """A complete HTTP response.

    Attributes: `method` and `url` of the request, `status` (int), `headers` (dict of
    lower-case name to value, repeated headers joined with `", "`), `header_list`
    (the `(name, value)` pairs as received), `body` (bytes) and `elapsed` (seconds from
    sending the request to the end of the body).
    """

    def __init__(self, method, url, status, header_list, body, elapsed):
        self.method = method
        self.url = url
        self.status = int(status)
        self.header_list = list(header_list)
        self.headers = {}
        for name, value in self.header_list:
            key = name.lower()
            self.headers[key] = f"{self.headers[key]}, {value}" if key in self.headers else value
        self.body = bytes(body)
        self.elapsed = float(elapsed)

    def __repr__(self):
        return f"<Response {self.method} {self.url}: {self.status}, {len(self.body)} bytes>"

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        """The body parsed as JSON; a `ProbeError` quoting the body when it is not JSON."""
        try:
            return _json.loads(self.body)
        except ValueError as exc:
            raise self.fail(f"body is not JSON ({exc})") from None

    def header(self, name: str, default=None):
        """The value of header `name` (any case), else `default`."""
        return self.headers.get(name.lower(), default)

    def expect_status(self, *expected: int) -> "Response":
        """Return self when the status is one of `expected`; else raise
        `"GET http://...: expected status 200, got 503 (body: ...)"`."""
        if self.status in expected:
            return self
        wanted = " or ".join(str(s) for s in expected)
        raise self.fail(f"expected status {wanted}, got {self.status}")

    def expect_success(self) -> "Response":
        """Return self when the status is 2xx; else raise
        `"GET http://...: expected a 2xx status, got 503 (body: ...)"`."""
        if self.ok:
            return self
        raise self.fail(f"expected a 2xx status, got {self.status}")

    def expect_body_contains(self, needle: str) -> "Response":
        """Return self when the body contains `needle`; else raise
        `'GET http://...: body does not contain "Welcome" (status 200, body: ...)'`."""
        if needle.encode("utf-8") in self.body:
            return self
        raise ProbeError(
            f"{self.method} {self.url}: body does not contain {_json.dumps(needle)} "
            f"(status {self.status}, {self.body_snippet()})"
        )

    def fail(self, what: str) -> ProbeError:
        """An error about this response, `"<METHOD> <URL>: <what> (body: ...)"`, for your
        own checks: `raise resp.fail("the cart is empty")`."""
        return ProbeError(f"{self.method} {self.url}: {what} ({self.body_snippet()})")

    def body_snippet(self) -> str:
        """`"body: <first 200 bytes, whitespace collapsed>"`, `"… (N bytes)"` when cut,
        or `"empty body"`."""
        if not self.body:
            return "empty body"
        head = self.body[:SNIPPET_BYTES]
        text = " ".join(head.decode("utf-8", errors="ignore").split())
        if len(self.body) > SNIPPET_BYTES:
            text += f"… ({len(self.body)} bytes)"
        return f"body: {text}"


class _Target:
    """The parts of a URL that `wasi:http` wants, or `ValueError` saying what is wrong."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            if not scheme:
                raise ValueError("not an absolute URL (expected http://host/... or https://host/...)")
            raise ValueError(f"unsupported scheme `{scheme}` (expected http or https)")
        if not parts.hostname:
            raise ValueError("no host in the URL")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("invalid port in the URL") from None
        self.scheme = scheme
        netloc = parts.netloc.rpartition("@")[2]
        self.authority = netloc
        host = netloc if port is None else netloc.rsplit(":", 1)[0]
        self.host_port = f"{host}:{port if port is not None else (443 if scheme == 'https' else 80)}"
        self.path_with_query = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.basic_auth = None
        if parts.username is not None:
            user, password = unquote(parts.username), unquote(parts.password or "")
            credentials = f"{user}:{password}".encode("utf-8")
            self.basic_auth = "Basic " + base64.b64encode(credentials).decode("ascii")


def _header_pairs(headers):
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(name), str(value)) for name, value in items]


def request(method: str, url: str, *, headers=None, body=None, json=None, timeout=None,
            connect_timeout=None) -> Response:
    """Send one request and return the complete `Response` (any status).

    - `headers`: dict or list of `(name, value)` pairs.
    - `body`: bytes or str (sent as UTF-8); or `json`: any value, sent as JSON with
      `content-type: application/json` unless you set one.
    - `timeout`: seconds for the whole exchange, sending to the last body byte;
      `connect_timeout`: seconds for the connection alone. Without them only vigil's
      own limits apply.

    Raises `HttpError` when there is no response (refused, denied by the `allow`
    list, timed out, ...).
    """
    method = str(method).upper()
    pairs = _header_pairs(headers)
    if json is not None:
        if body is not None:
            raise ValueError("give either body= or json=, not both")
        body = _json.dumps(json).encode("utf-8")
        if not any(name.lower() == "content-type" for name, _ in pairs):
            pairs.append(("content-type", "application/json"))
    if isinstance(body, str):
        body = body.encode("utf-8")
    body = bytes(body) if body is not None else b""
    try:
        target = _Target(url)
    except ValueError as exc:
        raise HttpError(method, url, str(exc)) from None
    if target.basic_auth and not any(n.lower() == "authorization" for n, _ in pairs):
        pairs.append(("authorization", target.basic_auth))
    if (body or method in ("POST", "PUT", "PATCH")) and not any(
        name.lower() == "content-length" for name, _ in pairs
    ):
        pairs.append(("content-length", str(len(body))))
    started = time.monotonic()
    try:
        status, header_list, data = _exchange(
            method, target, pairs, body, timeout, connect_timeout
        )
    except _Failure as exc:
        raise HttpError(method, url, str(exc)) from None
    return Response(method, url, status, header_list, data, time.monotonic() - started)


def get(url: str, **options) -> Response:
    """`request("GET", url, ...)`."""
    return request("GET", url, **options)


def head(url: str, **options) -> Response:
    """`request("HEAD", url, ...)`."""
    return request("HEAD", url, **options)


def post(url: str, body=None, **options) -> Response:
    """`request("POST", url, body=..., ...)`; pass `json=` for a JSON body."""
    return request("POST", url, body=body, **options)


def put(url: str, body=None, **options) -> Response:
    """`request("PUT", url, body=..., ...)`."""
    return request("PUT", url, body=body, **options)


def patch(url: str, body=None, **options) -> Response:
    """`request("PATCH", url, body=..., ...)`."""
    return request("PATCH", url, body=body, **options)


def delete(url: str, **options) -> Response:
    """`request("DELETE", url, ...)`."""
    return request("DELETE", url, **options)


class _Failure(Exception):
    """Why an exchange produced no response (the text after `"<METHOD> <URL>: "`)."""


def _exchange(method, target, pairs, body, timeout, connect_timeout):
    """Do the `wasi:http` exchange: `(status, [(name, value)], body bytes)`."""
    if _bindings_missing is not None:
        raise _Failure(f"vigil.http only works inside a probe run by vigil ({_bindings_missing})")

    def describe(code):
        return describe_error_code(code, target.host_port)

    deadline = None if timeout is None else monotonic_clock.now() + int(timeout * 1e9)

    def timed_out(phase):
        return _Failure(f"timed out after {_seconds(timeout)} {phase}")

    def wait(pollable):
        """Block on `pollable` until ready (True) or the deadline passes (False)."""
        if deadline is None:
            pollable.block()
            return True
        if pollable.ready():
            return True
        with monotonic_clock.subscribe_instant(deadline) as timer:
            return 0 in poll.poll([pollable, timer])

    try:
        fields = wasi.Fields.from_list([(n, v.encode("utf-8")) for n, v in pairs])
    except Err as exc:
        raise _Failure(_header_error(pairs, exc.value)) from None
    request = wasi.OutgoingRequest(fields)
    methods = {
        "GET": wasi.Method_Get, "HEAD": wasi.Method_Head, "POST": wasi.Method_Post,
        "PUT": wasi.Method_Put, "DELETE": wasi.Method_Delete, "PATCH": wasi.Method_Patch,
        "OPTIONS": wasi.Method_Options, "CONNECT": wasi.Method_Connect,
        "TRACE": wasi.Method_Trace,
    }
    wasi_method = methods[method]() if method in methods else wasi.Method_Other(method)
    try:
        request.set_method(wasi_method)
    except Err:
        raise _Failure(f"the host rejected the method `{method}`") from None
    scheme = wasi.Scheme_Https() if target.scheme == "https" else wasi.Scheme_Http()
    try:
        request.set_scheme(scheme)
        request.set_authority(target.authority)
        request.set_path_with_query(target.path_with_query)
    except Err:
        raise _Failure("the host rejected the URL") from None
    outgoing_body = request.body() if body else None

    options = wasi.RequestOptions()
    connect = connect_timeout
    if timeout is not None:
        connect = timeout if connect is None else min(connect, timeout)
    # A host that does not support an option says so; the deadline still applies.
    if connect is not None:
        _try(lambda: options.set_connect_timeout(int(connect * 1e9)), Err)
    if timeout is not None:
        _try(lambda: options.set_first_byte_timeout(int(timeout * 1e9)), Err)
        _try(lambda: options.set_between_bytes_timeout(int(timeout * 1e9)), Err)

    try:
        pending = outgoing_handler.handle(request, options)
    except Err as exc:
        raise _Failure(describe(exc.value)) from None

    if outgoing_body is not None:
        _write_body(outgoing_body, body, wait, timed_out, describe)

    with pending:
        with pending.subscribe() as ready:
            if not wait(ready):
                raise timed_out("waiting for the response")
        answer = pending.get()
    if answer is None:
        raise _Failure("the host said the response was ready but had none")
    if isinstance(answer, Err) or not isinstance(answer, Ok):
        raise _Failure("the response was already taken")
    inner = answer.value
    if isinstance(inner, Err):
        raise _Failure(describe(inner.value))
    response = inner.value

    with response:
        status = response.status()
        with response.headers() as fields:
            header_list = [
                (name, value.decode("utf-8", errors="replace"))
                for name, value in fields.entries()
            ]
        incoming = response.consume()
        data = bytearray()
        with incoming.stream() as stream:
            with stream.subscribe() as ready:
                while True:
                    try:
                        chunk = stream.read(READ_CHUNK)
                    except Err as exc:
                        if isinstance(exc.value, streams.StreamError_Closed):
                            break
                        code = wasi.http_error_code(exc.value.value)
                        text = describe(code) if code is not None else exc.value.value.to_debug_string()
                        raise _Failure(
                            f"reading the response body failed after {len(data)} bytes: {text}"
                        ) from None
                    if chunk:
                        data.extend(chunk)
                    elif not wait(ready):
                        raise timed_out(
                            f"reading the response body (status {status}, "
                            f"{len(data)} bytes received)"
                        )
        with wasi.IncomingBody.finish(incoming):
            pass
    return status, header_list, bytes(data)


def _write_body(outgoing_body, data, wait, timed_out, describe):
    """Send `data` as the request body, then finish it."""

    def failed(exc):
        if isinstance(exc.value, streams.StreamError_Closed):
            return None
        code = wasi.http_error_code(exc.value.value)
        if code is not None:
            return _Failure(describe(code))
        return _Failure(f"sending the request body failed: {exc.value.value.to_debug_string()}")

    with outgoing_body.write() as stream:
        with stream.subscribe() as ready:
            view = memoryview(data)
            closed = False
            while view and not closed:
                try:
                    permit = stream.check_write()
                    if permit == 0:
                        if not wait(ready):
                            raise timed_out("sending the request body")
                        continue
                    stream.write(bytes(view[:permit]))
                    view = view[permit:]
                except Err as exc:
                    error = failed(exc)
                    if error is not None:
                        raise error from None
                    closed = True
            if not closed:
                try:
                    stream.flush()
                    while stream.check_write() == 0:
                        if not wait(ready):
                            raise timed_out("sending the request body")
                except Err as exc:
                    error = failed(exc)
                    if error is not None:
                        raise error from None
    try:
        wasi.OutgoingBody.finish(outgoing_body, None)
    except Err as exc:
        raise _Failure(describe(exc.value)) from None


def _try(call, error_type):
    try:
        call()
    except error_type:
        pass


def _seconds(seconds) -> str:
    """`2.0` -> `"2s"`, `0.25` -> `"250ms"`."""
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"


def _header_error(pairs, error) -> str:
    kind = type(error).__name__.split("_", 1)[-1]
    names = ", ".join(f"`{name}`" for name, _ in pairs)
    if kind == "Forbidden":
        if any(name.lower() == "host" for name, _ in pairs):
            return "the Host header cannot be set: it comes from the URL"
        return f"one of the headers {names} may not be set by a probe"
    if kind == "InvalidSyntax":
        return f"invalid header among {names} (bad name or value)"
    return f"headers {names} cannot be changed"
