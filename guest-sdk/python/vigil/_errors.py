"""Turn failures into the one line an on-call engineer reads in the alert.

`describe_error_code` puts `wasi:http` error codes into words (the same words as the
Rust SDK); `message_of` gives the text of any exception.
"""


class ProbeError(Exception):
    """A probe failure whose message is shown as is (no exception type in front).

    Raise it for your own checks: `raise ProbeError("cart is empty")`. Every error the
    SDK raises (HTTP failures, failed steps, missing config) is a `ProbeError`.
    """


def message_of(exc: BaseException) -> str:
    """The message for `exc`: `ProbeError`s as they are, anything else with its type.

    A bare `KeyError('user')` says `'user'`, which pages nobody usefully; with the type
    in front it reads `KeyError: 'user'`.
    """
    if isinstance(exc, ProbeError):
        return str(exc)
    value = getattr(exc, "value", None)
    if type(exc).__name__ == "Err" and isinstance(value, str):
        # componentize_py_types.Err("message") raised by hand: the message is meant as is.
        return value
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _kind(code) -> str:
    """`ErrorCode_ConnectionRefused` -> `ConnectionRefused`."""
    name = type(code).__name__
    return name.split("_", 1)[1] if "_" in name else name


def _with_size(text: str, size) -> str:
    return f"{text} (at {size} bytes)" if size is not None else text


def _field_too_large(what: str, field) -> str:
    name = getattr(field, "field_name", None) if field is not None else None
    return f"{what} `{name}` too large" if name else f"{what} too large"


_PLAIN = {
    "DnsTimeout": "DNS lookup timed out",
    "DestinationNotFound": "host not found",
    "DestinationUnavailable": "destination unavailable",
    "DestinationIpProhibited": "destination IP address is prohibited",
    "DestinationIpUnroutable": "destination IP address is unroutable",
    "ConnectionRefused": "connection refused",
    "ConnectionTerminated": "connection closed by the server",
    "ConnectionTimeout": "timed out connecting",
    "ConnectionReadTimeout": "timed out waiting for the server to answer",
    "ConnectionWriteTimeout": "timed out sending the request",
    "ConnectionLimitReached": "connection limit reached",
    "TlsProtocolError": "TLS handshake failed",
    "TlsCertificateError": "TLS certificate rejected",
    "HttpRequestLengthRequired": "the server wants a Content-Length header (411)",
    "HttpRequestMethodInvalid": "invalid HTTP method",
    "HttpRequestUriInvalid": "invalid request URL",
    "HttpRequestUriTooLong": "request URL too long",
    "HttpRequestHeaderSectionSize": "request headers too large",
    "HttpRequestTrailerSectionSize": "request trailers too large",
    "HttpResponseIncomplete": "the server closed the connection before the response was complete",
    "HttpResponseHeaderSectionSize": "response headers too large",
    "HttpResponseTrailerSectionSize": "response trailers too large",
    "HttpResponseTimeout": "timed out waiting for the response",
    "HttpUpgradeFailed": "HTTP upgrade failed",
    "HttpProtocolError": "HTTP protocol error (the server's answer was not valid HTTP/1.1)",
    "LoopDetected": "loop detected",
    "ConfigurationError": "HTTP configuration error in the host",
}


def describe_error_code(code, host_port: str) -> str:
    """Describe a `wasi:http` `error-code` value for a request to `host_port`."""
    kind = _kind(code)
    value = getattr(code, "value", None)
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind == "DnsError":
        rcode = getattr(value, "rcode", None)
        info = getattr(value, "info_code", None)
        if rcode is not None and info is not None:
            return f"DNS lookup failed ({rcode}, code {info})"
        if rcode is not None:
            return f"DNS lookup failed ({rcode})"
        if info is not None:
            return f"DNS lookup failed (code {info})"
        return "DNS lookup failed"
    if kind == "TlsAlertReceived":
        message = getattr(value, "alert_message", None)
        alert_id = getattr(value, "alert_id", None)
        if message:
            return f"TLS alert from the server: {message}"
        if alert_id is not None:
            return f"TLS alert {alert_id} from the server"
        return "TLS alert from the server"
    if kind == "HttpRequestDenied":
        return (
            f"request denied by vigil's sandbox (is {host_port} in the probe's "
            "`allow` list?)"
        )
    if kind == "HttpRequestBodySize":
        return _with_size("request body does not match its Content-Length header", value)
    if kind == "HttpRequestHeaderSize":
        return _field_too_large("request header", value)
    if kind == "HttpRequestTrailerSize":
        return _field_too_large("request trailer", value)
    if kind == "HttpResponseHeaderSize":
        return _field_too_large("response header", value)
    if kind == "HttpResponseTrailerSize":
        return _field_too_large("response trailer", value)
    if kind == "HttpResponseBodySize":
        return _with_size("response body over the size limit", value)
    if kind == "HttpResponseTransferCoding":
        if value:
            return f"unsupported transfer coding `{value}` in the response"
        return "invalid transfer coding in the response"
    if kind == "HttpResponseContentCoding":
        if value:
            return f"unsupported content coding `{value}` in the response"
        return "invalid content coding in the response"
    if kind == "InternalError":
        return f"HTTP error: {value}" if value else "internal HTTP error in the host"
    return f"HTTP error {kind}"
