"""Unit tests for the parts of the Python SDK that need no host: messages, URL checks,
responses, and `probe`/`step` against a recording stand-in for the host bindings.

Run with: python3 -m unittest discover -s guest-sdk/python/tests
(the end-to-end behaviour inside vigil is covered by tests/languages.rs).
"""

import dataclasses
import os
import sys
import unittest
from enum import Enum

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import vigil  # noqa: E402
from vigil import _host, http  # noqa: E402
from vigil._errors import ProbeError, describe_error_code, message_of  # noqa: E402


class Level(Enum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


class FakeHost:
    """Records every host call, like vigil would."""

    Level = Level

    def __init__(self, config=None, secrets=None):
        self.calls = []
        self._config = config or {}
        self._secrets = secrets or {}

    def log(self, level, message):
        self.calls.append(("log", level.name.lower(), message))

    def step_start(self, name):
        self.calls.append(("step_start", name))

    def step_end(self, ok, detail):
        self.calls.append(("step_end", ok, detail))

    def metric(self, name, value, labels):
        self.calls.append(("metric", name, value, labels))

    def config(self, key):
        return self._config.get(key)

    def secret(self, name):
        return self._secrets.get(name)

    def degraded(self, reason):
        self.calls.append(("degraded", reason))


def error_code(name, value=None):
    """An object shaped like componentize-py's `ErrorCode_<name>` dataclasses."""
    fields = [] if value is None else [("value", object)]
    cls = dataclasses.make_dataclass(f"ErrorCode_{name}", fields)
    return cls() if value is None else cls(value)


class WithHost(unittest.TestCase):
    def setUp(self):
        self.saved = _host.raw
        self.host = FakeHost(config={"url": "http://x/", "blank": "  "}, secrets={"pw": "s3"})
        _host.raw = self.host

    def tearDown(self):
        _host.raw = self.saved


class Messages(unittest.TestCase):
    def test_probe_errors_are_shown_as_they_are(self):
        self.assertEqual(message_of(ProbeError("cart is empty")), "cart is empty")

    def test_other_exceptions_carry_their_type(self):
        self.assertEqual(message_of(KeyError("user")), "KeyError: 'user'")
        self.assertEqual(message_of(AssertionError()), "AssertionError")

    def test_error_codes_read_like_the_rust_sdk(self):
        at = "127.0.0.1:1"
        self.assertEqual(describe_error_code(error_code("ConnectionRefused"), at), "connection refused")
        self.assertEqual(
            describe_error_code(error_code("HttpRequestDenied"), at),
            "request denied by vigil's sandbox (is 127.0.0.1:1 in the probe's `allow` list?)",
        )
        dns = dataclasses.make_dataclass("DnsErrorPayload", ["rcode", "info_code"])
        self.assertEqual(
            describe_error_code(error_code("DnsError", dns("address not available", None)), at),
            "DNS lookup failed (address not available)",
        )
        self.assertEqual(
            describe_error_code(error_code("HttpResponseBodySize", 1024), at),
            "response body over the size limit (at 1024 bytes)",
        )


class Urls(unittest.TestCase):
    def test_target_parts(self):
        t = http._Target("http://127.0.0.1:8080/a/b?x=1#frag")
        self.assertEqual((t.scheme, t.authority, t.path_with_query, t.host_port),
                         ("http", "127.0.0.1:8080", "/a/b?x=1", "127.0.0.1:8080"))
        t = http._Target("https://user:pa%20ss@[::1]")
        self.assertEqual((t.authority, t.path_with_query, t.host_port), ("[::1]", "/", "[::1]:443"))
        self.assertEqual(t.basic_auth, "Basic dXNlcjpwYSBzcw==")

    def test_bad_urls_say_what_is_wrong(self):
        for url, want in [
            ("ftp://x/", "unsupported scheme `ftp`"),
            ("/relative", "not an absolute URL"),
            ("http://x:99999/", "invalid port"),
        ]:
            with self.assertRaises(ValueError) as caught:
                http._Target(url)
            self.assertIn(want, str(caught.exception))

    def test_requests_fail_cleanly_outside_vigil(self):
        with self.assertRaises(http.HttpError) as caught:
            http.get("http://127.0.0.1:1/")
        self.assertTrue(str(caught.exception).startswith("GET http://127.0.0.1:1/: vigil.http only works"))


class Responses(unittest.TestCase):
    def resp(self, status, body, headers=()):
        return http.Response("GET", "http://127.0.0.1:8080/login", status, headers, body, 0.005)

    def test_status_failures_quote_the_body(self):
        with self.assertRaises(ProbeError) as caught:
            self.resp(401, b'{"error":\n  "bad password"}').expect_status(200)
        self.assertEqual(
            str(caught.exception),
            'GET http://127.0.0.1:8080/login: expected status 200, got 401 (body: {"error": "bad password"})',
        )
        self.assertIs(self.resp(204, b"").expect_status(200, 204).expect_success().status, 204)

    def test_long_bodies_are_cut(self):
        snippet = self.resp(200, b"a" * 300).body_snippet()
        self.assertEqual(snippet, "body: " + "a" * 200 + "… (300 bytes)")
        self.assertEqual(self.resp(200, b"").body_snippet(), "empty body")

    def test_headers_json_and_contains(self):
        r = self.resp(200, b'{"n": 3}', [("X-Multi", "a"), ("x-multi", "b")])
        self.assertEqual(r.header("x-MULTI"), "a, b")
        self.assertEqual(r.json(), {"n": 3})
        with self.assertRaises(ProbeError) as caught:
            r.expect_body_contains("Welcome")
        self.assertIn('body does not contain "Welcome" (status 200, body: {"n": 3})', str(caught.exception))
        with self.assertRaises(ProbeError):
            self.resp(200, b"<html>").json()


class ProbeAndSteps(WithHost):
    def run_probe(self, fn):
        """Run `fn` the way componentize-py would: through the exported WitWorld."""
        vigil.probe(fn)
        return sys.modules[fn.__module__].WitWorld().run()

    def test_probe_registers_the_export_and_succeeds(self):
        def run():
            vigil.metric("answer", 42, {"kind": "x"})
            vigil.degraded("slow")

        self.assertIsNone(self.run_probe(run))
        self.assertIn(("metric", "answer", 42.0, [("kind", "x")]), self.host.calls)
        self.assertIn(("degraded", "slow"), self.host.calls)

    def test_any_exception_becomes_an_err_string(self):
        def run():
            {}["user"]

        with self.assertRaises(vigil.Err) as caught:
            self.run_probe(run)
        self.assertEqual(caught.exception.value, "KeyError: 'user'")
        # A bug's traceback goes to the log at level debug.
        self.assertTrue(any(c[0] == "log" and c[1] == "debug" and "KeyError" in c[2] for c in self.host.calls))

    def test_steps_end_failed_and_prefix_the_error(self):
        def run():
            with vigil.step("outer"):
                with vigil.step("inner"):
                    raise ProbeError("boom")

        with self.assertRaises(vigil.Err) as caught:
            self.run_probe(run)
        self.assertEqual(caught.exception.value, "outer: inner: boom")
        self.assertEqual(
            self.host.calls,
            [("step_start", "outer"), ("step_start", "inner"), ("step_end", False, "boom"),
             ("step_end", False, "inner: boom")],
        )

    def test_successful_step(self):
        with vigil.step("ok"):
            pass
        self.assertEqual(self.host.calls, [("step_start", "ok"), ("step_end", True, "")])

    def test_config_and_secrets(self):
        self.assertEqual(vigil.require_config("url"), "http://x/")
        self.assertEqual(vigil.config("nope", "dflt"), "dflt")
        self.assertEqual(vigil.secret("pw"), "s3")
        with self.assertRaises(ProbeError) as caught:
            vigil.require_config("nope")
        self.assertEqual(
            str(caught.exception),
            "missing config key `nope`: set it under the probe's `config:` in vigil.yaml (or `--set nope=...`)",
        )
        with self.assertRaises(ProbeError) as caught:
            vigil.require_config("blank")
        self.assertIn("config key `blank` is empty", str(caught.exception))
        with self.assertRaises(ProbeError) as caught:
            vigil.require_secret("nope")
        self.assertIn("missing secret `nope`", str(caught.exception))

    def test_log_levels(self):
        vigil.log.warn("careful")
        self.assertEqual(self.host.calls, [("log", "warn", "careful")])
        with self.assertRaises(ValueError):
            vigil.log.log("loud", "x")


class OutsideVigil(unittest.TestCase):
    def test_host_calls_say_where_they_work(self):
        saved = _host.raw
        _host.raw = None
        try:
            with self.assertRaises(RuntimeError) as caught:
                vigil.metric("x", 1)
            self.assertIn("only available inside a probe", str(caught.exception))
        finally:
            _host.raw = saved


if __name__ == "__main__":
    unittest.main()
