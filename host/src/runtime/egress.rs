//! Outgoing network policy: the `allow` list, and the `wasi:http` sender that enforces it.
//!
//! Deny by default: a probe reaches only `host:port` pairs named in its allow list. HTTP
//! goes through [`Egress`] (a `WasiHttpHooks` impl — wasi:http bypasses the socket checks,
//! so this hook is the only HTTP gate); raw sockets go through [`AllowList::allows_addr`].
//! Every request is timed here (DNS, connect, TLS, first byte, total), counted against the
//! run's request cap, and its response body metered against the body cap.

use super::recorder::SharedRecorder;
use crate::record::Reason;
use crate::units::format_size;
use bytes::Bytes;
use http::uri::Scheme;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::future::{Future, poll_fn};
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// An allow-list entry that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid allow entry {entry:?}: {why} (expected host:port, host:* for any port, \
     *.domain:port, or [ipv6]:port)"
)]
pub struct AllowError {
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub why: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// `*`: any host (an explicit opt-out of the sandbox's network policy).
    Any,
    /// An exact name or IP, lowercased, IPv6 without brackets.
    Exact(String),
    /// `*.example.com`: any subdomain (stored as `.example.com`).
    Suffix(String),
}

/// One `host:port` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    host: HostPattern,
    /// `None` = any port.
    port: Option<u16>,
}

/// The set of `host:port` a probe may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    rules: Vec<Rule>,
    entries: Vec<String>,
}

impl AllowList {
    /// Parse entries such as `127.0.0.1:8080`, `api.example.com:443`, `localhost:*`,
    /// `*.example.com:443`, `[::1]:9090`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AllowError> {
        let mut list = AllowList::default();
        for entry in entries {
            let entry = entry.as_ref().trim();
            list.rules.push(parse_rule(entry)?);
            list.entries.push(entry.to_string());
        }
        Ok(list)
    }

    /// The entries as written.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Whether any entry names a host (rather than an IP), so DNS lookups are needed.
    pub fn needs_dns(&self) -> bool {
        self.rules.iter().any(|r| match &r.host {
            HostPattern::Any | HostPattern::Suffix(_) => true,
            HostPattern::Exact(h) => h.parse::<IpAddr>().is_err(),
        })
    }

    /// Whether a request to `host:port` (as the guest wrote the host) is allowed.
    pub fn allows_name(&self, host: &str, port: u16) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.rules.iter().any(|r| {
            r.port.is_none_or(|p| p == port)
                && match &r.host {
                    HostPattern::Any => true,
                    HostPattern::Exact(h) => *h == host || same_ip(h, &host),
                    HostPattern::Suffix(s) => host.ends_with(s.as_str()),
                }
        })
    }

    /// Whether a socket connection to `addr` is allowed: an entry names that IP, or names a
    /// host that resolves to it.
    pub async fn allows_addr(&self, addr: SocketAddr) -> bool {
        for rule in &self.rules {
            if rule.port.is_some_and(|p| p != addr.port()) {
                continue;
            }
            match &rule.host {
                HostPattern::Any => return true,
                HostPattern::Exact(h) => match h.parse::<IpAddr>() {
                    Ok(ip) if ip == addr.ip() => return true,
                    Ok(_) => {}
                    Err(_) => {
                        if let Ok(mut resolved) = tokio::net::lookup_host((h.as_str(), 0)).await
                            && resolved.any(|a| a.ip() == addr.ip())
                        {
                            return true;
                        }
                    }
                },
                // A wildcard domain cannot be checked against a bare address.
                HostPattern::Suffix(_) => {}
            }
        }
        false
    }
}

fn same_ip(a: &str, b: &str) -> bool {
    matches!((a.parse::<IpAddr>(), b.parse::<IpAddr>()), (Ok(x), Ok(y)) if x == y)
}

fn parse_rule(entry: &str) -> Result<Rule, AllowError> {
    let err = |why| AllowError {
        entry: entry.to_string(),
        why,
    };
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (ip, port) = rest.split_once("]:").ok_or_else(|| err("missing ]:port"))?;
        ip.parse::<std::net::Ipv6Addr>()
            .map_err(|_| err("not an IPv6 address inside [ ]"))?;
        (ip.to_string(), port)
    } else {
        let (host, port) = entry
            .rsplit_once(':')
            .ok_or_else(|| err("missing :port (use host:* to allow any port)"))?;
        if host.contains(':') {
            return Err(err("IPv6 addresses must be written in brackets"));
        }
        (host.to_ascii_lowercase(), port)
    };
    if host.is_empty() {
        return Err(err("empty host"));
    }
    let port = match port {
        "*" => None,
        p => Some(
            p.parse::<u16>()
                .map_err(|_| err("port must be a number 0-65535 or *"))?,
        ),
    };
    let host = if host == "*" {
        HostPattern::Any
    } else if let Some(domain) = host.strip_prefix("*.") {
        if domain.is_empty() || domain.contains('*') {
            return Err(err("wildcard must be *.domain"));
        }
        HostPattern::Suffix(format!(".{domain}"))
    } else if host.contains('*') {
        return Err(err("wildcard must be *.domain"));
    } else {
        HostPattern::Exact(host)
    };
    Ok(Rule { host, port })
}

/// Per-run caps on outgoing HTTP.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EgressLimits {
    /// Requests one run may send.
    pub max_requests: usize,
    /// Bytes of one response body.
    pub max_body_bytes: u64,
    /// Default for connect / first-byte timeouts when the guest sets none.
    pub request_timeout: Duration,
}

/// The `wasi:http` hooks of one run.
pub(crate) struct Egress {
    pub(crate) allow: Arc<AllowList>,
    pub(crate) rec: SharedRecorder,
    pub(crate) limits: EgressLimits,
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
)>;

impl WasiHttpHooks for Egress {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let uri = request.uri();
        let use_tls = uri.scheme() == Some(&Scheme::HTTPS);
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16().unwrap_or(if use_tls { 443 } else { 80 });
        let target = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut rec = self.rec.lock();
        let count = rec.http_count();
        let index = rec.http_start(request.method().to_string(), uri.to_string());
        if !self.allow.allows_name(&host, port) {
            let why = format!("denied: {target} is not in the allow list");
            rec.http_mut(index).expect("just pushed").error = Some(why.clone());
            rec.violate(Reason::Denied, format!("denied: {target}"));
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        if count >= self.limits.max_requests {
            let max = self.limits.max_requests;
            let why = format!("outgoing request cap of {max} per run exceeded");
            rec.http_mut(index).expect("just pushed").error = Some(why.clone());
            rec.violate(Reason::LimitExceeded, why);
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        drop(rec);
        let exchange = Exchange {
            rec: self.rec.clone(),
            index,
            started: Instant::now(),
        };
        let limits = self.limits;
        Box::new(async move {
            let result = send(request, options, &exchange, limits, use_tls, &host, port).await;
            if let Err(e) = &result {
                exchange.fail(describe(e));
            }
            result
        })
    }
}

/// Where the timings of one request are written.
#[derive(Clone)]
struct Exchange {
    rec: SharedRecorder,
    index: usize,
    started: Instant,
}

impl Exchange {
    fn update(&self, f: impl FnOnce(&mut crate::record::HttpExchange, Duration)) {
        let elapsed = self.started.elapsed();
        if let Some(x) = self.rec.lock().http_mut(self.index) {
            f(x, elapsed);
        }
    }

    fn fail(&self, why: String) {
        self.update(|x, t| {
            x.error.get_or_insert(why);
            x.total.get_or_insert(t);
        });
    }
}

/// A readable description of a send failure for the run record.
fn describe(e: &HttpError) -> String {
    match e {
        HttpError::Connect(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
            _ => format!("connect failed: {io}"),
        },
        other => other.to_string(),
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> Stream for T {}

/// TLS settings shared by all runs: webpki roots, ring as the one rustls provider.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// Send one request, recording each phase. Modelled on wasmtime-wasi-http's
/// `default_send_request`, with timings, the body cap and readable errors added.
async fn send(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    exchange: &Exchange,
    limits: EgressLimits,
    use_tls: bool,
    host: &str,
    port: u16,
) -> SendResult {
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(limits.request_timeout);
    let first_byte_timeout = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(limits.request_timeout);
    let between_bytes_timeout = options
        .and_then(|o| o.between_bytes_timeout)
        .unwrap_or(limits.request_timeout)
        .max(Duration::from_nanos(1));

    let lookup_host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match lookup_host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            let found = tokio::time::timeout(
                connect_timeout,
                tokio::net::lookup_host((lookup_host, port)),
            )
            .await
            .map_err(|_| HttpError::DnsTimeout)?
            .map_err(|e| HttpError::DnsError {
                rcode: Some(e.to_string()),
                info_code: None,
            })?;
            let addrs: Vec<_> = found.collect();
            exchange.update(|x, t| x.dns = Some(t));
            addrs
        }
    };
    if addrs.is_empty() {
        return Err(HttpError::DestinationNotFound);
    }
    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(&addrs[..]))
        .await
        .map_err(|_| HttpError::ConnectionTimeout)?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
            _ => HttpError::Connect(e),
        })?;
    // Probes measure latency; Nagle's algorithm would only add to it.
    let _ = tcp.set_nodelay(true);
    exchange.update(|x, t| x.connect = Some(t));

    let stream: Box<dyn Stream> = if use_tls {
        let name = rustls::pki_types::ServerName::try_from(lookup_host.to_string())
            .map_err(|_| HttpError::InvalidDnsNameError(rustls::pki_types::InvalidDnsNameError))?;
        let tls = tokio_rustls::TlsConnector::from(tls_config());
        let stream = tokio::time::timeout(connect_timeout, tls.connect(name, tcp))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(HttpError::Tls)?;
        exchange.update(|x, t| x.tls = Some(t));
        Box::new(stream)
    } else {
        Box::new(tcp)
    };

    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await?;

    // The request holds scheme and authority; on the wire only path and query go in the
    // request line (hyper does not strip them for us).
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;

    let send = async move {
        tokio::time::timeout(first_byte_timeout, sender.send_request(request))
            .await
            .map_err(|_| HttpError::ConnectionReadTimeout)?
            .map_err(HttpError::from)
    };
    let mut send = pin!(send);
    let mut conn = Some(conn);
    // Wait for the response while driving the connection's I/O.
    let response = poll_fn(|cx| match send.as_mut().poll(cx) {
        Poll::Ready(r) => Poll::Ready(r),
        Poll::Pending => {
            let Some(fut) = conn.as_mut() else {
                return Poll::Pending;
            };
            let res = ready!(Pin::new(fut).poll(cx));
            conn = None;
            match res {
                Ok(()) => send.as_mut().poll(cx),
                Err(e) => Poll::Ready(Err(HttpError::from(e))),
            }
        }
    })
    .await?;
    let status = response.status().as_u16();
    exchange.update(|x, t| {
        x.status = Some(status);
        x.first_byte = Some(t);
    });

    let mut timeout = tokio::time::interval(between_bytes_timeout);
    timeout.reset();
    let response = response.map(|incoming| {
        MeteredBody {
            incoming,
            exchange: exchange.clone(),
            cap: limits.max_body_bytes,
            read: 0,
            done: false,
            timeout,
        }
        .boxed_unsync()
    });
    let io = async move {
        match conn {
            Some(conn) => conn.await.map_err(HttpError::from),
            None => Ok(()),
        }
    };
    Ok((response, Box::new(io)))
}

/// A response body that counts bytes, enforces the body cap and the between-bytes
/// timeout, and records the total time when it ends (or is dropped half-read).
struct MeteredBody {
    incoming: hyper::body::Incoming,
    exchange: Exchange,
    cap: u64,
    read: u64,
    done: bool,
    timeout: tokio::time::Interval,
}

impl MeteredBody {
    fn finish(&mut self, error: Option<String>) {
        if self.done {
            return;
        }
        self.done = true;
        let read = self.read;
        self.exchange.update(|x, t| {
            x.body_bytes = read;
            x.total = Some(t);
            if let Some(e) = error {
                x.error.get_or_insert(e);
            }
        });
    }
}

impl Body for MeteredBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                self.finish(None);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                let e = if e.is_timeout() {
                    HttpError::HttpResponseTimeout
                } else {
                    HttpError::from(e)
                };
                self.finish(Some(e.to_string()));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.read += data.len() as u64;
                }
                if self.read > self.cap {
                    let why = format!("response body cap of {} exceeded", format_size(self.cap));
                    self.exchange
                        .rec
                        .lock()
                        .violate(Reason::LimitExceeded, why.clone());
                    self.finish(Some(why));
                    return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(self.cap)))));
                }
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timeout.poll_tick(cx));
                let e = HttpError::ConnectionReadTimeout;
                self.finish(Some(e.to_string()));
                Poll::Ready(Some(Err(e)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        self.finish(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        let list = AllowList::parse(&[
            "127.0.0.1:8080",
            "API.example.com:443",
            "localhost:*",
            "*.corp.example:8443",
            "[::1]:9090",
        ])
        .unwrap();
        assert!(list.allows_name("127.0.0.1", 8080));
        assert!(!list.allows_name("127.0.0.1", 8081));
        assert!(list.allows_name("api.example.com", 443));
        assert!(list.allows_name("localhost", 1));
        assert!(list.allows_name("a.b.corp.example", 8443));
        assert!(!list.allows_name("corp.example", 8443));
        assert!(list.allows_name("[::1]", 9090));
        assert!(list.allows_name("0:0:0:0:0:0:0:1", 9090));
        assert!(!list.allows_name("evil.example", 443));
        assert!(list.needs_dns());
    }

    #[test]
    fn rejects_malformed_entries_with_a_reason() {
        for (entry, why) in [
            ("example.com", "missing :port"),
            ("example.com:http", "port must be"),
            ("::1:80", "brackets"),
            ("ex*mple.com:80", "wildcard"),
            ("[nope]:80", "IPv6"),
            (":80", "empty host"),
        ] {
            let err = AllowList::parse(&[entry]).unwrap_err();
            assert!(err.to_string().contains(why), "{entry}: {err}");
        }
    }

    #[test]
    fn empty_list_allows_nothing() {
        let list = AllowList::default();
        assert!(!list.allows_name("127.0.0.1", 80));
        assert!(!list.needs_dns());
    }

    #[tokio::test]
    async fn socket_addresses_match_ips_and_resolved_names() {
        let list = AllowList::parse(&["127.0.0.1:80", "localhost:9000"]).unwrap();
        assert!(list.allows_addr("127.0.0.1:80".parse().unwrap()).await);
        assert!(!list.allows_addr("127.0.0.2:80".parse().unwrap()).await);
        assert!(list.allows_addr("127.0.0.1:9000".parse().unwrap()).await);
        assert!(!list.allows_addr("127.0.0.1:9001".parse().unwrap()).await);
    }
}
