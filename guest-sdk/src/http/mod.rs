//! A small blocking HTTP client over `wasi:http`, with assertions that fail well.
//!
//! ```no_run
//! use std::time::Duration;
//! use vigil_guest::http;
//!
//! fn run() -> vigil_guest::Result<()> {
//!     let resp = http::get("http://127.0.0.1:8080/health")
//!         .header("Accept", "application/json")
//!         .timeout(Duration::from_secs(2))
//!         .send()?;
//!     resp.expect_status(200)?.expect_body_contains("\"status\":\"ok\"")?;
//!     vigil_guest::info!("health answered in {:?}", resp.elapsed());
//!     Ok(())
//! }
//! vigil_guest::probe!(run);
//! ```
//!
//! Every error names the request, so it can go straight into an alert:
//!
//! - `GET http://127.0.0.1:1/: connection refused`
//! - `GET http://10.0.0.7/: request denied by vigil's sandbox (is 10.0.0.7:80 in the
//!   probe's `allow` list?)`
//! - `GET http://127.0.0.1:8080/slow: timed out after 2s waiting for the response`
//! - `POST http://127.0.0.1:8080/login: expected status 200, got 503 (body: upstream
//!   unavailable)`
//!
//! The host enforces the probe's `allow` list, a per-request timeout and a response
//! size cap whatever the probe asks for; [`Request::timeout`] lets a probe give up
//! sooner, with its own message. Redirects are not followed: a 3xx is returned as is.
//! TLS (`https://`) is done by the host.

mod error_code;
mod transport;
mod url;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use self::url::{Scheme, Url};
use crate::{Error, Result};

/// How many bytes of the body failure messages quote.
const SNIPPET_BYTES: usize = 200;

/// An HTTP method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `PATCH`
    Patch,
    /// `OPTIONS`
    Options,
    /// Any other method token, in upper case (`PURGE`).
    Other(String),
}

impl Method {
    /// The method as sent on the wire (`"GET"`).
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Other(other) => other,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = Error;

    /// Case-insensitive: `"get"` and `"GET"` are both [`Method::Get`].
    ///
    /// ```
    /// use vigil_guest::http::Method;
    ///
    /// assert_eq!("post".parse::<Method>().unwrap(), Method::Post);
    /// assert_eq!("purge".parse::<Method>().unwrap(), Method::Other("PURGE".into()));
    /// assert!("GET /".parse::<Method>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Method> {
        let upper = s.trim().to_ascii_uppercase();
        Ok(match upper.as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            "" => return Err(Error::msg("empty HTTP method")),
            other => {
                let is_token = other
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                if !is_token {
                    return Err(Error::msg(format!("invalid HTTP method `{}`", s.trim())));
                }
                Method::Other(upper)
            }
        })
    }
}

/// Start a `GET` request.
pub fn get(url: impl Into<String>) -> Request {
    Request::new(Method::Get, url)
}

/// Start a `HEAD` request.
pub fn head(url: impl Into<String>) -> Request {
    Request::new(Method::Head, url)
}

/// Start a `POST` request.
pub fn post(url: impl Into<String>) -> Request {
    Request::new(Method::Post, url)
}

/// Start a `PUT` request.
pub fn put(url: impl Into<String>) -> Request {
    Request::new(Method::Put, url)
}

/// Start a `DELETE` request.
pub fn delete(url: impl Into<String>) -> Request {
    Request::new(Method::Delete, url)
}

/// Start a `PATCH` request.
pub fn patch(url: impl Into<String>) -> Request {
    Request::new(Method::Patch, url)
}

/// Start a request with any method.
pub fn request(method: Method, url: impl Into<String>) -> Request {
    Request::new(method, url)
}

/// A request being built; [`Request::send`] sends it.
///
/// Problems found while building (a body that does not serialize) are kept and
/// reported by `send`, so the builder methods chain without `?`.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until `.send()` is called"]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    deferred: Option<String>,
}

impl Request {
    /// A request for `method` and `url` with no headers and no body.
    pub fn new(method: Method, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            connect_timeout: None,
            deferred: None,
        }
    }

    /// Add a header. Adding the same name twice sends both values.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Add several headers.
    pub fn headers<N, V>(mut self, headers: impl IntoIterator<Item = (N, V)>) -> Request
    where
        N: Into<String>,
        V: Into<String>,
    {
        self.headers
            .extend(headers.into_iter().map(|(n, v)| (n.into(), v.into())));
        self
    }

    /// Add `Authorization: Bearer <token>`.
    pub fn bearer(self, token: impl fmt::Display) -> Request {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// Set the body (bytes or text). No `Content-Type` is added; see [`Request::json`].
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Serialize `value` as the JSON body and set `Content-Type: application/json`
    /// (unless a content type was already set).
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Request {
        match serde_json::to_vec(value) {
            Ok(body) => self.body = body,
            Err(e) => self.deferred = Some(format!("could not serialize the JSON body: {e}")),
        }
        let has_type = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        if has_type {
            self
        } else {
            self.header("Content-Type", "application/json")
        }
    }

    /// Give up when the whole exchange — connecting, sending, waiting for the answer
    /// and reading the body — takes longer than `timeout`. Without it only the host's
    /// limits apply.
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = Some(timeout);
        self
    }

    /// Give up when connecting takes longer than `timeout` (also bounded by
    /// [`Request::timeout`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Request {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Send the request and read the whole response.
    ///
    /// Any status is a response, not an error: check it with
    /// [`Response::expect_status`] or [`Response::expect_success`]. Errors are about
    /// the exchange itself and read `"<METHOD> <URL>: <what went wrong>"`.
    pub fn send(self) -> Result<Response> {
        let fail = |what: &str| Error::msg(format!("{} {}: {what}", self.method, self.url));
        if let Some(problem) = &self.deferred {
            return Err(fail(problem));
        }
        let url = Url::parse(&self.url).map_err(|e| fail(e.message()))?;
        let exchange = transport::exchange(&transport::Outgoing {
            method: &self.method,
            url: &url,
            headers: &self.headers,
            body: &self.body,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
        })
        .map_err(|what| fail(&what))?;
        Ok(Response {
            method: self.method,
            url: url.to_string(),
            status: exchange.status,
            headers: exchange.headers,
            body: exchange.body,
            elapsed: exchange.elapsed,
        })
    }
}

/// A complete response: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct Response {
    method: Method,
    url: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    elapsed: Duration,
}

impl Response {
    /// A response as if received — for testing code that inspects responses.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vigil_guest::http::{Method, Response};
    ///
    /// let resp = Response::new(Method::Get, "http://127.0.0.1:8080/", 503, vec![],
    ///     "upstream down", Duration::from_millis(3));
    /// assert_eq!(
    ///     resp.expect_status(200).unwrap_err().to_string(),
    ///     "GET http://127.0.0.1:8080/: expected status 200, got 503 (body: upstream down)",
    /// );
    /// ```
    pub fn new(
        method: Method,
        url: impl Into<String>,
        status: u16,
        headers: Vec<(String, String)>,
        body: impl Into<Vec<u8>>,
        elapsed: Duration,
    ) -> Response {
        Response {
            method,
            url: url.into(),
            status,
            headers,
            body: body.into(),
            elapsed,
        }
    }

    /// The request's method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request's URL (normalized: `http://host:port/path?query`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// All headers in the order received (names in lower case; values decoded lossily
    /// as UTF-8).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced by `�`).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON into `T` (`serde_json::Value` for anything).
    ///
    /// The error names the request and quotes the body:
    /// `"POST http://...: response is not the expected JSON: missing field `token` at line 1
    /// column 15 (body: {\"error\":\"nope\"})"`.
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| self.fail(format!("response is not the expected JSON: {e}")))
    }

    /// Time from sending the request to the end of the body.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// `Ok` when the status is `expected`; else an error like
    /// `"GET http://127.0.0.1:8080/login: expected status 200, got 503 (body: ...)"`
    /// quoting the first 200 bytes of the body.
    pub fn expect_status(&self, expected: u16) -> Result<&Response> {
        if self.status == expected {
            Ok(self)
        } else {
            Err(self.fail(format!("expected status {expected}, got {}", self.status)))
        }
    }

    /// `Ok` when the status is 2xx; else an error like
    /// `"GET http://...: expected a 2xx status, got 503 (body: ...)"`.
    pub fn expect_success(&self) -> Result<&Response> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(self.fail(format!("expected a 2xx status, got {}", self.status)))
        }
    }

    /// `Ok` when the body contains `needle`; else an error like
    /// `"GET http://...: body does not contain \"Welcome\" (status 200, body: ...)"`.
    pub fn expect_body_contains(&self, needle: &str) -> Result<&Response> {
        let found = !needle.is_empty()
            && self
                .body
                .windows(needle.len())
                .any(|w| w == needle.as_bytes());
        if found || needle.is_empty() {
            Ok(self)
        } else {
            Err(Error::msg(format!(
                "{} {}: body does not contain {needle:?} (status {}, {})",
                self.method,
                self.url,
                self.status,
                self.body_snippet()
            )))
        }
    }

    /// An error about this response: `"<METHOD> <URL>: <what> (body: <first 200 bytes>)"`.
    /// Use it for your own checks so they read like the built-in ones.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vigil_guest::http::{Method, Response};
    ///
    /// let resp = Response::new(Method::Get, "http://127.0.0.1:8080/cart", 200, vec![],
    ///     "[]", Duration::ZERO);
    /// assert_eq!(
    ///     resp.fail("the cart is empty").to_string(),
    ///     "GET http://127.0.0.1:8080/cart: the cart is empty (body: [])",
    /// );
    /// ```
    pub fn fail(&self, what: impl fmt::Display) -> Error {
        Error::msg(format!(
            "{} {}: {what} ({})",
            self.method,
            self.url,
            self.body_snippet()
        ))
    }

    /// The body quoted for an error message: `"body: <first 200 bytes>"` with
    /// whitespace collapsed and `"… (N bytes)"` when cut, or `"empty body"`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vigil_guest::http::{Method, Response};
    ///
    /// let resp = Response::new(Method::Get, "http://127.0.0.1:8080/", 401, vec![],
    ///     "{\"error\":\n  \"bad password\"}", Duration::ZERO);
    /// assert_eq!(resp.body_snippet(), r#"body: {"error": "bad password"}"#);
    /// ```
    pub fn body_snippet(&self) -> String {
        if self.body.is_empty() {
            return "empty body".to_owned();
        }
        let mut end = self.body.len().min(SNIPPET_BYTES);
        let text = loop {
            // Do not cut a UTF-8 character in half (at most 3 steps back).
            match std::str::from_utf8(&self.body[..end]) {
                Ok(text) => break text.to_owned(),
                Err(e) if e.error_len().is_none() && end - e.valid_up_to() < 4 => {
                    end = e.valid_up_to();
                }
                Err(_) => break String::from_utf8_lossy(&self.body[..end]).into_owned(),
            }
        };
        let mut snippet = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if end < self.body.len() {
            snippet.push_str(&format!("… ({} bytes)", self.body.len()));
        }
        format!("body: {snippet}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> Response {
        Response::new(
            Method::Get,
            "http://127.0.0.1:8080/login",
            status,
            vec![("content-type".into(), "text/plain".into())],
            body,
            Duration::from_millis(5),
        )
    }

    #[test]
    fn status_failures_quote_the_body() {
        assert_eq!(
            resp(503, "upstream\n  down")
                .expect_status(200)
                .unwrap_err()
                .message(),
            "GET http://127.0.0.1:8080/login: expected status 200, got 503 (body: upstream down)"
        );
        assert_eq!(
            resp(503, "").expect_success().unwrap_err().message(),
            "GET http://127.0.0.1:8080/login: expected a 2xx status, got 503 (empty body)"
        );
        assert!(resp(204, "").expect_success().is_ok());
    }

    #[test]
    fn long_bodies_are_cut_at_200_bytes() {
        let body = "é".repeat(150); // 300 bytes
        let err = resp(500, &body)
            .expect_status(200)
            .unwrap_err()
            .into_message();
        assert!(
            err.ends_with(&format!("{}… (300 bytes))", "é".repeat(100))),
            "{err}"
        );
    }

    #[test]
    fn body_contains() {
        let r = resp(200, "Welcome back, probe");
        assert!(r.expect_body_contains("Welcome").is_ok());
        assert_eq!(
            r.expect_body_contains("Goodbye").unwrap_err().message(),
            "GET http://127.0.0.1:8080/login: body does not contain \"Goodbye\" \
             (status 200, body: Welcome back, probe)"
        );
    }

    #[test]
    fn headers_are_case_insensitive() {
        assert_eq!(resp(200, "").header("Content-Type"), Some("text/plain"));
        assert_eq!(resp(200, "").header("x-missing"), None);
    }

    #[test]
    fn send_rejects_bad_urls_before_touching_the_host() {
        let err = get("localhost:8080/").send().unwrap_err();
        assert_eq!(
            err.message(),
            "GET localhost:8080/: invalid URL `localhost:8080/`: it must start with \
             http:// or https://"
        );
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_errors_name_the_request() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Login {
            token: String,
        }
        let err = resp(200, r#"{"error":"nope"}"#)
            .json::<Login>()
            .unwrap_err()
            .into_message();
        assert!(
            err.starts_with(
                "GET http://127.0.0.1:8080/login: response is not the expected JSON: \
                 missing field `token`"
            ),
            "{err}"
        );
    }
}
