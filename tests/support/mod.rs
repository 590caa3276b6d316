//! Shared pieces of the end-to-end tests: a real HTTP server on 127.0.0.1 that plays the
//! service under watch, and helpers to run the real `vigil` binary.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The directory the build put the probe components in (`target/probes`).
pub fn probes_dir() -> PathBuf {
    PathBuf::from(env!("VIGIL_PROBES_DIR"))
}

/// Where tests let `vigil probe run` keep compiled probes: `target/test-cache`.
pub fn test_cache_dir() -> PathBuf {
    let dir = probes_dir()
        .parent()
        .map(|t| t.join("test-cache"))
        .unwrap_or_else(|| std::env::temp_dir().join("vigil-test-cache"));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Path of a test fixture probe, e.g. `fixture("spin")`.
pub fn fixture(name: &str) -> String {
    probes_dir()
        .join("fixtures")
        .join(format!("{name}.wasm"))
        .display()
        .to_string()
}

/// Path of an example probe, e.g. `example("scenario")`.
pub fn example(name: &str) -> String {
    probes_dir()
        .join(format!("{name}.wasm"))
        .display()
        .to_string()
}

/// The user and password the test shop accepts.
pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse battery staple";
const TOKEN: &str = "tok-7f3a9c";

/// A running test server.
pub struct TestServer {
    pub addr: SocketAddr,
    _task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`, as an allow entry.
    pub fn allow(&self) -> String {
        self.addr.to_string()
    }
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct Sized {
    bytes: Option<usize>,
    ms: Option<u64>,
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"))
}

/// Start the server: `/` (hello), `/status/{code}`, `/slow?ms=`, `/big?bytes=`, and the
/// scenario shop: `POST /login`, `GET /account`, `POST /logout`.
pub async fn start() -> TestServer {
    let app = Router::new()
        .route("/", get(|| async { "hello from the test server\n" }))
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move {
                (
                    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
                    format!("status {code}\n"),
                )
            }),
        )
        .route(
            "/slow",
            get(|Query(q): Query<Sized>| async move {
                tokio::time::sleep(Duration::from_millis(q.ms.unwrap_or(500))).await;
                "slow but fine\n"
            }),
        )
        .route(
            "/big",
            get(|Query(q): Query<Sized>| async move {
                let n = q.bytes.unwrap_or(1 << 20);
                let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
                let chunks = n.div_ceil(chunk.len());
                let stream = futures_stream(chunk, chunks);
                Response::new(Body::from_stream(stream))
            }),
        )
        .route(
            "/login",
            post(|axum::Json(login): axum::Json<Login>| async move {
                if login.username == USER && login.password == PASSWORD {
                    axum::Json(serde_json::json!({ "token": TOKEN })).into_response()
                } else {
                    (StatusCode::UNAUTHORIZED, "bad credentials\n").into_response()
                }
            }),
        )
        .route(
            "/account",
            get(|headers: HeaderMap| async move {
                if authorized(&headers) {
                    axum::Json(serde_json::json!({
                        "user": USER,
                        "orders": [{"id": 1, "total": 12.5}, {"id": 2, "total": 3.0}],
                    }))
                    .into_response()
                } else {
                    (StatusCode::UNAUTHORIZED, "missing or bad token\n").into_response()
                }
            }),
        )
        .route(
            "/logout",
            post(|headers: HeaderMap| async move {
                if authorized(&headers) {
                    StatusCode::NO_CONTENT
                } else {
                    StatusCode::UNAUTHORIZED
                }
            }),
        )
        .route(
            "/headers",
            get(|headers: HeaderMap| async move {
                let map: HashMap<String, String> = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                axum::Json(map)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    TestServer { addr, _task: task }
}

fn futures_stream(
    chunk: bytes::Bytes,
    n: usize,
) -> impl futures_core::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        for _ in 0..n {
            if tx.send(Ok(chunk.clone())).await.is_err() {
                break;
            }
        }
    });
    tokio_stream_from(rx)
}

fn tokio_stream_from<T>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_core::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A TCP port on 127.0.0.1 with nothing listening.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// What one `vigil` invocation printed and returned.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The run record printed with `--output json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Run the real `vigil` binary with arguments.
pub async fn vigil(args: &[&str]) -> Output {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .env("VIGIL_LOG", "error")
        // Compiled probes are cached under target/, not in the user's ~/.cache.
        .env("XDG_CACHE_HOME", test_cache_dir())
        .output()
        .await
        .expect("vigil runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A service on 127.0.0.1 whose health the test switches: `/` answers 200 "ok" while the
/// flag is true, 503 "down" otherwise. Returns its address and the flag.
pub async fn switchable() -> (String, Arc<AtomicBool>) {
    let healthy = Arc::new(AtomicBool::new(true));
    let h = healthy.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let h = h.clone();
            async move {
                if h.load(Ordering::Relaxed) {
                    (axum::http::StatusCode::OK, "ok")
                } else {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr.to_string(), healthy)
}

/// Send SIGTERM to a `vigil run` and wait (at most 30 s) for it to exit: (exit code, how
/// long the exit took).
pub async fn sigterm(child: &mut tokio::process::Child) -> (i32, Duration) {
    let pid = child.id().expect("the child is running") as i32;
    let t = std::time::Instant::now();
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("vigil exits after SIGTERM")
        .unwrap();
    (status.code().unwrap_or(-1), t.elapsed())
}
