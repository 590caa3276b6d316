//! `wasi:http` error codes in words an on-call engineer understands.
//!
//! The host reports transport failures as a `wasi:http/types.error-code` variant. Its
//! derived `Debug` ("ErrorCode::ConnectionRefused") is not something to page anyone
//! with, so every case gets a short sentence here; the caller puts the request
//! (`"GET http://127.0.0.1:1/: "`) in front.

use crate::bindings::wasi::http::types::{ErrorCode, FieldSizePayload};

/// Describe `code` for a request to `host_port` (used by the "denied" message).
pub(crate) fn describe(code: &ErrorCode, host_port: &str) -> String {
    match code {
        ErrorCode::DnsTimeout => "DNS lookup timed out".to_owned(),
        ErrorCode::DnsError(payload) => {
            let mut text = "DNS lookup failed".to_owned();
            match (&payload.rcode, payload.info_code) {
                (Some(rcode), Some(info)) => text.push_str(&format!(" ({rcode}, code {info})")),
                (Some(rcode), None) => text.push_str(&format!(" ({rcode})")),
                (None, Some(info)) => text.push_str(&format!(" (code {info})")),
                (None, None) => {}
            }
            text
        }
        ErrorCode::DestinationNotFound => "host not found".to_owned(),
        ErrorCode::DestinationUnavailable => "destination unavailable".to_owned(),
        ErrorCode::DestinationIpProhibited => "destination IP address is prohibited".to_owned(),
        ErrorCode::DestinationIpUnroutable => "destination IP address is unroutable".to_owned(),
        ErrorCode::ConnectionRefused => "connection refused".to_owned(),
        ErrorCode::ConnectionTerminated => "connection closed by the server".to_owned(),
        ErrorCode::ConnectionTimeout => "timed out connecting".to_owned(),
        ErrorCode::ConnectionReadTimeout => "timed out waiting for the server to answer".to_owned(),
        ErrorCode::ConnectionWriteTimeout => "timed out sending the request".to_owned(),
        ErrorCode::ConnectionLimitReached => "connection limit reached".to_owned(),
        ErrorCode::TlsProtocolError => "TLS handshake failed".to_owned(),
        ErrorCode::TlsCertificateError => "TLS certificate rejected".to_owned(),
        ErrorCode::TlsAlertReceived(alert) => match (&alert.alert_message, alert.alert_id) {
            (Some(message), _) => format!("TLS alert from the server: {message}"),
            (None, Some(id)) => format!("TLS alert {id} from the server"),
            (None, None) => "TLS alert from the server".to_owned(),
        },
        ErrorCode::HttpRequestDenied => format!(
            "request denied by vigil's sandbox (is {host_port} in the probe's `allow` list?)"
        ),
        ErrorCode::HttpRequestLengthRequired => {
            "the server wants a Content-Length header (411)".to_owned()
        }
        ErrorCode::HttpRequestBodySize(size) => with_size(
            "request body does not match its Content-Length header",
            *size,
        ),
        ErrorCode::HttpRequestMethodInvalid => "invalid HTTP method".to_owned(),
        ErrorCode::HttpRequestUriInvalid => "invalid request URL".to_owned(),
        ErrorCode::HttpRequestUriTooLong => "request URL too long".to_owned(),
        ErrorCode::HttpRequestHeaderSectionSize(_) => "request headers too large".to_owned(),
        ErrorCode::HttpRequestHeaderSize(field) => {
            field_too_large("request header", field.as_ref())
        }
        ErrorCode::HttpRequestTrailerSectionSize(_) => "request trailers too large".to_owned(),
        ErrorCode::HttpRequestTrailerSize(field) => field_too_large("request trailer", Some(field)),
        ErrorCode::HttpResponseIncomplete => {
            "the server closed the connection before the response was complete".to_owned()
        }
        ErrorCode::HttpResponseHeaderSectionSize(_) => "response headers too large".to_owned(),
        ErrorCode::HttpResponseHeaderSize(field) => field_too_large("response header", Some(field)),
        ErrorCode::HttpResponseBodySize(size) => {
            with_size("response body over the size limit", *size)
        }
        ErrorCode::HttpResponseTrailerSectionSize(_) => "response trailers too large".to_owned(),
        ErrorCode::HttpResponseTrailerSize(field) => {
            field_too_large("response trailer", Some(field))
        }
        ErrorCode::HttpResponseTransferCoding(coding) => match coding {
            Some(coding) => format!("unsupported transfer coding `{coding}` in the response"),
            None => "invalid transfer coding in the response".to_owned(),
        },
        ErrorCode::HttpResponseContentCoding(coding) => match coding {
            Some(coding) => format!("unsupported content coding `{coding}` in the response"),
            None => "invalid content coding in the response".to_owned(),
        },
        ErrorCode::HttpResponseTimeout => "timed out waiting for the response".to_owned(),
        ErrorCode::HttpUpgradeFailed => "HTTP upgrade failed".to_owned(),
        ErrorCode::HttpProtocolError => {
            "HTTP protocol error (the server's answer was not valid HTTP/1.1)".to_owned()
        }
        ErrorCode::LoopDetected => "loop detected".to_owned(),
        ErrorCode::ConfigurationError => "HTTP configuration error in the host".to_owned(),
        ErrorCode::InternalError(Some(detail)) if !detail.is_empty() => {
            format!("HTTP error: {detail}")
        }
        ErrorCode::InternalError(_) => "internal HTTP error in the host".to_owned(),
    }
}

fn with_size(text: &str, size: Option<u64>) -> String {
    match size {
        Some(size) => format!("{text} (at {size} bytes)"),
        None => text.to_owned(),
    }
}

fn field_too_large(what: &str, field: Option<&FieldSizePayload>) -> String {
    match field.and_then(|f| f.field_name.as_deref()) {
        Some(name) => format!("{what} `{name}` too large"),
        None => format!("{what} too large"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::wasi::http::types::DnsErrorPayload;

    #[test]
    fn common_failures_read_well() {
        let at = "127.0.0.1:1";
        assert_eq!(
            describe(&ErrorCode::ConnectionRefused, at),
            "connection refused"
        );
        assert_eq!(
            describe(&ErrorCode::HttpRequestDenied, at),
            "request denied by vigil's sandbox (is 127.0.0.1:1 in the probe's `allow` list?)"
        );
        assert_eq!(
            describe(
                &ErrorCode::DnsError(DnsErrorPayload {
                    rcode: Some("address not available".into()),
                    info_code: None,
                }),
                at
            ),
            "DNS lookup failed (address not available)"
        );
        assert_eq!(
            describe(&ErrorCode::HttpResponseBodySize(Some(1024)), at),
            "response body over the size limit (at 1024 bytes)"
        );
    }
}
