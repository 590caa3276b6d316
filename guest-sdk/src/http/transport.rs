//! One request/response exchange over `wasi:http/outgoing-handler`.
//!
//! Order of operations (the one wasmtime's host expects): build the request with its
//! headers, hand it to `handle`, stream the body in, `finish` it, wait for the response
//! head, then read the body to its end. Child resources (pollables, streams) are dropped
//! before their parents. One [`Deadline`] covers the whole exchange; the per-phase
//! timeouts of `request-options` are set from it too, so the host gives up at the same
//! time. Failures come back as a sentence without the request prefix, which
//! [`super::Request::send`] adds.

use std::time::{Duration, Instant};

use super::Method;
use super::error_code::describe;
use super::url::{Scheme as UrlScheme, Url};
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    self as wasi_http, Fields, HeaderError, IncomingBody, OutgoingBody, OutgoingRequest,
    RequestOptions, Scheme,
};
use crate::bindings::wasi::io::streams::{InputStream, OutputStream, StreamError};
use crate::format_duration;
use crate::wait::Deadline;

/// What came back.
pub(crate) struct Exchange {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) elapsed: Duration,
}

/// What to send.
pub(crate) struct Outgoing<'a> {
    pub(crate) method: &'a Method,
    pub(crate) url: &'a Url,
    pub(crate) headers: &'a [(String, String)],
    pub(crate) body: &'a [u8],
    pub(crate) timeout: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
}

/// Largest chunk read from the response body at once.
const READ_CHUNK: u64 = 64 * 1024;

/// Send `out` and read the whole response.
pub(crate) fn exchange(out: &Outgoing<'_>) -> Result<Exchange, String> {
    let started = Instant::now();
    let deadline = Deadline::after(out.timeout);
    let timed_out = |phase: &str| {
        let timeout = out.timeout.map(format_duration).unwrap_or_default();
        format!("timed out after {timeout} {phase}")
    };

    let request = build_request(out)?;
    // No body resource at all for an empty body: the host then sends a request with a
    // known length of zero, where an opened-but-empty body would go out as
    // `Transfer-Encoding: chunked` (hyper does that for DELETE, for example).
    let outgoing_body = if out.body.is_empty() {
        None
    } else {
        let body = request
            .body()
            .map_err(|()| "the host refused to open the request body".to_owned())?;
        Some(body)
    };
    let options = request_options(out);
    let pending = outgoing_handler::handle(request, Some(options))
        .map_err(|code| describe(&code, &out.url.host_port()))?;

    if let Some(body) = outgoing_body {
        write_body(body, out.body, &deadline, &out.url.host_port()).map_err(|e| match e {
            WriteError::TimedOut => timed_out("sending the request body"),
            WriteError::Failed(text) => text,
        })?;
    }

    let response = {
        let ready = pending.subscribe();
        if !deadline.wait(&ready) {
            return Err(timed_out("waiting for the response"));
        }
        drop(ready);
        match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(describe(&code, &out.url.host_port())),
            Some(Err(())) => return Err("the response was already taken".to_owned()),
            None => return Err("the host said the response was ready but had none".to_owned()),
        }
    };
    drop(pending);

    let status = response.status();
    let headers = {
        let fields = response.headers();
        fields
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect()
    };
    let incoming_body = response
        .consume()
        .map_err(|()| "the response body was already taken".to_owned())?;
    let body = read_body(&incoming_body, &deadline, out.url).map_err(|e| match e {
        ReadError::TimedOut(got) => timed_out(&format!(
            "reading the response body (status {status}, {got} bytes received)"
        )),
        ReadError::Failed(text) => text,
    })?;
    drop(IncomingBody::finish(incoming_body));
    drop(response);

    Ok(Exchange {
        status,
        headers,
        body,
        elapsed: started.elapsed(),
    })
}

fn build_request(out: &Outgoing<'_>) -> Result<OutgoingRequest, String> {
    let fields = Fields::new();
    let mut has_length = false;
    for (name, value) in out.headers {
        has_length |= name.eq_ignore_ascii_case("content-length");
        fields
            .append(name, value.as_bytes())
            .map_err(|e| header_error(name, &e))?;
    }
    // Without a length hyper would use chunked encoding, which some small servers cannot
    // read. Bodyless GET/HEAD/DELETE/OPTIONS send no length at all, as browsers do;
    // bodyless POST/PUT/PATCH say `Content-Length: 0`.
    let wants_length =
        !out.body.is_empty() || matches!(out.method, Method::Post | Method::Put | Method::Patch);
    if wants_length && !has_length {
        fields
            .append("content-length", out.body.len().to_string().as_bytes())
            .map_err(|e| header_error("content-length", &e))?;
    }

    let request = OutgoingRequest::new(fields);
    let method = match out.method {
        Method::Get => wasi_http::Method::Get,
        Method::Head => wasi_http::Method::Head,
        Method::Post => wasi_http::Method::Post,
        Method::Put => wasi_http::Method::Put,
        Method::Delete => wasi_http::Method::Delete,
        Method::Patch => wasi_http::Method::Patch,
        Method::Options => wasi_http::Method::Options,
        Method::Other(other) => wasi_http::Method::Other(other.clone()),
    };
    request
        .set_method(&method)
        .map_err(|()| format!("the host rejected the method `{}`", out.method))?;
    let scheme = match out.url.scheme() {
        UrlScheme::Http => Scheme::Http,
        UrlScheme::Https => Scheme::Https,
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "the host rejected the URL scheme".to_owned())?;
    request
        .set_authority(Some(out.url.authority()))
        .map_err(|()| format!("the host rejected the authority `{}`", out.url.authority()))?;
    request
        .set_path_with_query(Some(out.url.path_and_query()))
        .map_err(|()| format!("the host rejected the path `{}`", out.url.path_and_query()))?;
    Ok(request)
}

fn header_error(name: &str, error: &HeaderError) -> String {
    match error {
        HeaderError::InvalidSyntax => format!("invalid header `{name}` (bad name or value)"),
        HeaderError::Forbidden if name.eq_ignore_ascii_case("host") => {
            "the Host header cannot be set: it comes from the URL".to_owned()
        }
        HeaderError::Forbidden => format!("header `{name}` may not be set by a probe"),
        HeaderError::Immutable => format!("header `{name}` cannot be changed"),
    }
}

/// Connect/first-byte/between-bytes timeouts for the host, all from the one deadline.
/// A host that does not support one of them is fine: our own deadline still holds.
fn request_options(out: &Outgoing<'_>) -> RequestOptions {
    let options = RequestOptions::new();
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let connect = match (out.connect_timeout, out.timeout) {
        (Some(c), Some(t)) => Some(c.min(t)),
        (c, t) => c.or(t),
    };
    // `Err(())` only means "this host does not support that timeout": the deadline
    // still bounds the exchange, so there is nothing to report.
    if let Some(connect) = connect {
        options
            .set_connect_timeout(Some(nanos(connect)))
            .unwrap_or(());
    }
    if let Some(total) = out.timeout {
        options
            .set_first_byte_timeout(Some(nanos(total)))
            .unwrap_or(());
        options
            .set_between_bytes_timeout(Some(nanos(total)))
            .unwrap_or(());
    }
    options
}

enum WriteError {
    TimedOut,
    Failed(String),
}

fn write_body(
    body: OutgoingBody,
    bytes: &[u8],
    deadline: &Deadline,
    host_port: &str,
) -> Result<(), WriteError> {
    let stream = body
        .write()
        .map_err(|()| WriteError::Failed("could not open the request body".to_owned()))?;
    write_all(&stream, bytes, deadline, host_port)?;
    drop(stream);
    OutgoingBody::finish(body, None).map_err(|code| WriteError::Failed(describe(&code, host_port)))
}

/// Write `bytes` to the request body and flush.
///
/// `Closed` is not an error here: the host closes the body stream as soon as the server
/// stops reading it — after the last byte of a `Content-Length` body, or early when the
/// server answers without reading everything (a 413, a 401 before the upload). Either
/// way the response, or `finish`'s length check, tells the real story.
fn write_all(
    stream: &OutputStream,
    mut bytes: &[u8],
    deadline: &Deadline,
    host_port: &str,
) -> Result<(), WriteError> {
    let ready = stream.subscribe();
    let step = |result: Result<u64, StreamError>| -> Result<Option<u64>, WriteError> {
        match result {
            Ok(n) => Ok(Some(n)),
            Err(StreamError::Closed) => Ok(None),
            Err(StreamError::LastOperationFailed(e)) => {
                Err(WriteError::Failed(match wasi_http::http_error_code(&e) {
                    Some(code) => describe(&code, host_port),
                    None => format!("sending the request body failed: {}", e.to_debug_string()),
                }))
            }
        }
    };
    while !bytes.is_empty() {
        let Some(permit) = step(stream.check_write())? else {
            return Ok(());
        };
        if permit == 0 {
            if !deadline.wait(&ready) {
                return Err(WriteError::TimedOut);
            }
            continue;
        }
        let len = bytes
            .len()
            .min(usize::try_from(permit).unwrap_or(usize::MAX));
        let (chunk, rest) = bytes.split_at(len);
        if step(stream.write(chunk).map(|()| 0))?.is_none() {
            return Ok(());
        }
        bytes = rest;
    }
    if step(stream.flush().map(|()| 0))?.is_none() {
        return Ok(());
    }
    loop {
        // `check-write` succeeds again once the flush has completed.
        match step(stream.check_write())? {
            None => return Ok(()),
            Some(permit) if permit > 0 => return Ok(()),
            Some(_) => {}
        }
        if !deadline.wait(&ready) {
            return Err(WriteError::TimedOut);
        }
    }
}

enum ReadError {
    /// Bytes received before the deadline.
    TimedOut(usize),
    Failed(String),
}

fn read_body(body: &IncomingBody, deadline: &Deadline, url: &Url) -> Result<Vec<u8>, ReadError> {
    let stream: InputStream = body
        .stream()
        .map_err(|()| ReadError::Failed("the response body stream was already taken".to_owned()))?;
    let ready = stream.subscribe();
    let mut bytes = Vec::new();
    loop {
        match stream.read(READ_CHUNK) {
            Ok(chunk) if chunk.is_empty() => {
                if !deadline.wait(&ready) {
                    return Err(ReadError::TimedOut(bytes.len()));
                }
            }
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(bytes),
            Err(StreamError::LastOperationFailed(e)) => {
                let text = match wasi_http::http_error_code(&e) {
                    Some(code) => describe(&code, &url.host_port()),
                    None => e.to_debug_string(),
                };
                return Err(ReadError::Failed(format!(
                    "reading the response body failed after {} bytes: {text}",
                    bytes.len()
                )));
            }
        }
    }
}
