//! Sending one notification over HTTP(S): the request for each notifier kind, the verdict
//! on the answer (accepted, retry later, or rejected for good, as Alertmanager's notifiers
//! decide), and the backoff between attempts.

use crate::config::{NotifierConfig, NotifierKind};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// The HTTP client notifiers share (HTTP/1.1, rustls with the ring provider, webpki roots).
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Build the shared client.
pub fn client() -> HttpClient {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)
        .expect("ring supports the default protocol versions")
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(https)
}

/// What became of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: delivered.
    Accepted,
    /// 5xx, 429, timeout, refused or reset connection: try again later.
    Retry(String),
    /// Any other answer (4xx: the receiver will never take this body): give up, log it.
    Rejected(String),
}

/// The body to send to `cfg` for queued bodies (Alertmanager takes several at once as one
/// array; every other kind one body per request). Secrets are added here, not stored.
pub fn request_body(cfg: &NotifierConfig, bodies: &[&str]) -> Vec<u8> {
    match cfg.kind {
        NotifierKind::Alertmanager => {
            let mut all = Vec::new();
            for b in bodies {
                if let Ok(serde_json::Value::Array(items)) = serde_json::from_str(b) {
                    all.extend(items);
                }
            }
            serde_json::to_vec(&all).unwrap_or_default()
        }
        NotifierKind::Pagerduty => {
            let mut v: serde_json::Value = serde_json::from_str(bodies[0]).unwrap_or_default();
            if let Some(key) = &cfg.routing_key {
                v["routing_key"] = serde_json::Value::String(key.expose().to_string());
            }
            serde_json::to_vec(&v).unwrap_or_default()
        }
        _ => bodies[0].as_bytes().to_vec(),
    }
}

/// Where a notifier kind posts, given the configured URL.
pub fn endpoint(kind: NotifierKind, url: &str) -> String {
    match kind {
        NotifierKind::Alertmanager if !url.trim_end_matches('/').ends_with("/api/v2/alerts") => {
            format!("{}/api/v2/alerts", url.trim_end_matches('/'))
        }
        _ => url.to_string(),
    }
}

/// POST `body` to `url` for `cfg`, within its timeout.
pub async fn send(client: &HttpClient, cfg: &NotifierConfig, url: &str, body: Vec<u8>) -> Verdict {
    let mut req = http::Request::post(endpoint(cfg.kind, url))
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("vigil/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(token) = &cfg.bearer_token {
        req = req.header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", token.expose()),
        );
    } else if let Some((user, password)) = &cfg.basic_auth {
        req = req.header(
            http::header::AUTHORIZATION,
            format!(
                "Basic {}",
                base64(format!("{user}:{}", password.expose()).as_bytes())
            ),
        );
    }
    let req = match req.body(Full::new(Bytes::from(body))) {
        Ok(r) => r,
        Err(e) => return Verdict::Rejected(format!("invalid request: {e}")),
    };
    let attempt = async {
        let resp = client.request(req).await.map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            msg
        })?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok::<_, String>((status, body))
    };
    match tokio::time::timeout(cfg.timeout, attempt).await {
        Err(_) => Verdict::Retry(format!(
            "no answer within {}",
            crate::units::format_duration(cfg.timeout)
        )),
        Ok(Err(e)) => Verdict::Retry(e),
        Ok(Ok((status, body))) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            if status.is_success() {
                Verdict::Accepted
            } else if status.is_server_error() || status.as_u16() == 429 {
                Verdict::Retry(format!("HTTP {status}: {}", text.trim()))
            } else {
                Verdict::Rejected(format!("HTTP {status}: {}", text.trim()))
            }
        }
    }
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// First retry after this; doubled per attempt.
pub const BACKOFF_START: Duration = Duration::from_millis(500);
/// Retries are never further apart than this.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Wait before attempt `attempts + 1`: exponential from [`BACKOFF_START`], capped at
/// [`BACKOFF_MAX`], with "equal jitter" (half fixed, half random) so queues that failed
/// together do not retry in lockstep.
pub fn backoff(attempts: u32) -> Duration {
    let base = BACKOFF_START
        .saturating_mul(1u32 << attempts.min(16))
        .min(BACKOFF_MAX);
    let half = base / 2;
    let r = RandomState::new().hash_one(attempts);
    half + Duration::from_nanos(r % (half.as_nanos() as u64).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        for a in 0..40 {
            let d = backoff(a);
            let base = BACKOFF_START
                .saturating_mul(1 << a.min(16))
                .min(BACKOFF_MAX);
            assert!(d >= base / 2 && d <= base, "attempt {a}: {d:?} vs {base:?}");
        }
        assert!(backoff(30) <= BACKOFF_MAX);
    }

    #[test]
    fn basic_auth_is_base64() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn alertmanager_endpoint() {
        assert_eq!(
            endpoint(NotifierKind::Alertmanager, "http://am:9093/"),
            "http://am:9093/api/v2/alerts"
        );
        assert_eq!(
            endpoint(NotifierKind::Alertmanager, "http://am:9093/api/v2/alerts"),
            "http://am:9093/api/v2/alerts"
        );
        assert_eq!(endpoint(NotifierKind::Webhook, "http://h/x"), "http://h/x");
    }
}
