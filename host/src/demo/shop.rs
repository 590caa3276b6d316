//! The demo web shop: a small JSON API (login, catalogue, cart, checkout) with fault
//! switches, so `vigil demo` has something real to watch and break.
//!
//! | request | answer |
//! |---|---|
//! | `GET /healthz` | `ok` (what a liveness check sees) |
//! | `POST /api/login` `{"username","password"}` | `{"token"}` |
//! | `GET /api/catalogue` | `{"products": [{"id","name","price_cents","in_stock"}]}` |
//! | `POST /api/cart` `{"product_id","quantity"}` + bearer token | the cart |
//! | `GET /api/cart` + bearer token | the cart: `{"items": [...], "total_cents"}` |
//! | `POST /api/checkout` + bearer token | `{"order_id", "items", "total_cents"}` |
//! | `GET /faults`, `POST /faults`, `DELETE /faults` | the fault switches (below) |
//! | `GET /` | a control panel: the switches as buttons, and how to use them with curl |
//! | `GET /runbooks/NAME` | the runbooks the demo's alerts link to |
//!
//! `POST /faults` takes JSON (or a form) and replaces the switches; what is left out is off:
//! `error_rate` (0 to 1: that share of requests answers 500, spread evenly),
//! `latency_ms` (added to every answer), `endpoint` (`health`, `login`, `catalogue`,
//! `cart` or `checkout`: the only one `error_rate` and `latency_ms` hit; all when absent)
//! and `down` (every request but the control panel answers 503). `DELETE /faults` heals.
//!
//! Invariant: the control panel (`/`, `/faults`, `/runbooks`) never fails, whatever the
//! switches say, so a broken shop can always be healed.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Path, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The user the shop knows.
pub const USERNAME: &str = "demo";
/// Its password (the demo gives it to the probe as a secret file).
pub const PASSWORD: &str = "correct horse battery staple";
/// Most sessions kept; the oldest is dropped beyond this, so a long-running demo that
/// logs in every few seconds does not grow.
const MAX_SESSIONS: usize = 1000;
/// Longest `latency_ms` accepted.
const MAX_LATENCY_MS: u64 = 60_000;

/// A part of the shop a fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// `GET /healthz`
    Health,
    /// `POST /api/login`
    Login,
    /// `GET /api/catalogue`
    Catalogue,
    /// `GET|POST /api/cart`
    Cart,
    /// `POST /api/checkout`
    Checkout,
}

impl Endpoint {
    /// The request it answers, for messages.
    pub fn request(self) -> &'static str {
        match self {
            Endpoint::Health => "GET /healthz",
            Endpoint::Login => "POST /api/login",
            Endpoint::Catalogue => "GET /api/catalogue",
            Endpoint::Cart => "/api/cart",
            Endpoint::Checkout => "POST /api/checkout",
        }
    }
}

/// The fault switches. The default is a healthy shop.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Share of requests (0 to 1) answered with 500.
    #[serde(default)]
    pub error_rate: f64,
    /// Added to every answer.
    #[serde(default)]
    pub latency_ms: u64,
    /// Every request but the control panel answers 503.
    #[serde(default)]
    pub down: bool,
    /// The only endpoint `error_rate` and `latency_ms` hit; all when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
}

impl Faults {
    /// Every switch off.
    pub fn is_healthy(&self) -> bool {
        !self.down && self.error_rate == 0.0 && self.latency_ms == 0
    }

    /// `Err` with what is wrong when a value is out of range.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!(
                "error_rate must be between 0 and 1 (0.25 = every 4th request), got {}",
                self.error_rate
            ));
        }
        if self.latency_ms > MAX_LATENCY_MS {
            return Err(format!(
                "latency_ms must be at most {MAX_LATENCY_MS}, got {}",
                self.latency_ms
            ));
        }
        Ok(())
    }

    fn hits(&self, endpoint: Endpoint) -> bool {
        self.endpoint.is_none_or(|e| e == endpoint)
    }
}

impl fmt::Display for Faults {
    /// `none`, `down`, `checkout: 100% errors`, `every endpoint: +800ms, 25% errors`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_healthy() {
            return f.write_str("none");
        }
        let mut parts = Vec::new();
        if self.down {
            parts.push("down (every request answers 503)".to_string());
        }
        let mut scoped = Vec::new();
        if self.latency_ms > 0 {
            scoped.push(format!("+{}ms", self.latency_ms));
        }
        if self.error_rate > 0.0 {
            scoped.push(format!("{}% errors", (self.error_rate * 100.0).round()));
        }
        if !scoped.is_empty() {
            let scope = match self.endpoint {
                Some(e) => e.request(),
                None => "every endpoint",
            };
            parts.push(format!("{scope}: {}", scoped.join(", ")));
        }
        f.write_str(&parts.join("; "))
    }
}

/// Decides which requests an error rate fails: spread evenly rather than at random, so
/// 0.5 fails exactly every other request and a demo run is repeatable.
#[derive(Debug, Default)]
struct ErrorSpreader {
    owed: f64,
}

impl ErrorSpreader {
    fn should_fail(&mut self, rate: f64) -> bool {
        if rate <= 0.0 {
            self.owed = 0.0;
            return false;
        }
        self.owed += rate;
        if self.owed >= 1.0 - 1e-9 {
            self.owed -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A product of the catalogue.
#[derive(Debug, Clone, Copy, Serialize)]
struct Product {
    id: &'static str,
    name: &'static str,
    price_cents: u64,
    in_stock: bool,
}

const CATALOGUE: &[Product] = &[
    Product {
        id: "beans",
        name: "Espresso beans, 1 kg",
        price_cents: 2490,
        in_stock: true,
    },
    Product {
        id: "grinder",
        name: "Hand grinder",
        price_cents: 8900,
        in_stock: true,
    },
    Product {
        id: "cups",
        name: "Espresso cups, set of two",
        price_cents: 1850,
        in_stock: true,
    },
    Product {
        id: "scale",
        name: "Coffee scale",
        price_cents: 3200,
        in_stock: false,
    },
];

#[derive(Debug, Default)]
struct Sessions {
    next: u64,
    /// Session number → cart lines (product id, quantity).
    carts: BTreeMap<u64, Vec<(&'static str, u64)>>,
    orders: u64,
}

struct ShopState {
    faults: watch::Sender<Faults>,
    spreader: Mutex<ErrorSpreader>,
    sessions: Mutex<Sessions>,
    base_url: String,
    /// vigil's status page, linked from the control panel.
    status_page: String,
}

/// The running shop.
#[derive(Clone)]
pub struct Shop {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<ShopState>,
}

impl Shop {
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.state.base_url.clone()
    }

    /// The switches now.
    pub fn faults(&self) -> Faults {
        self.state.faults.borrow().clone()
    }

    /// Replace the switches.
    pub fn set_faults(&self, faults: Faults) {
        self.state.faults.send_replace(faults);
    }

    /// Changes of the switches, whoever makes them (the story or a user over HTTP).
    pub fn watch_faults(&self) -> watch::Receiver<Faults> {
        self.state.faults.subscribe()
    }
}

/// Serve the shop on `listener` until `stop` is cancelled; its control panel links to
/// `status_page`. Returns the handle and the server task.
pub fn start(
    listener: tokio::net::TcpListener,
    stop: CancellationToken,
    status_page: String,
) -> std::io::Result<(Shop, tokio::task::JoinHandle<()>)> {
    let addr = listener.local_addr()?;
    let state = Arc::new(ShopState {
        faults: watch::Sender::new(Faults::default()),
        spreader: Mutex::new(ErrorSpreader::default()),
        sessions: Mutex::new(Sessions::default()),
        base_url: format!("http://{addr}"),
        status_page,
    });
    let app = router(state.clone());
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the demo shop's server failed");
        }
    });
    Ok((Shop { addr, state }, task))
}

fn router(state: Arc<ShopState>) -> Router {
    Router::new()
        .route("/", get(control_panel))
        .route("/healthz", get(health))
        .route("/api/login", post(login))
        .route("/api/catalogue", get(catalogue))
        .route("/api/cart", get(cart).post(add_to_cart))
        .route("/api/checkout", post(checkout))
        .route(
            "/faults",
            get(get_faults).post(set_faults).delete(heal_faults),
        )
        .route("/runbooks/{name}", get(runbook))
        .with_state(state)
}

impl ShopState {
    /// Apply the switches to a request of `endpoint`: `Some(answer)` when it must fail.
    async fn gate(&self, endpoint: Endpoint) -> Option<Response> {
        let faults = self.faults.borrow().clone();
        if faults.down {
            return Some(
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "503 service unavailable: the shop is down (fault switch `down`)\n",
                )
                    .into_response(),
            );
        }
        if !faults.hits(endpoint) {
            return None;
        }
        if faults.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
        }
        let fail = self
            .spreader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .should_fail(faults.error_rate);
        fail.then(|| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({
                    "error": format!(
                        "internal error (fault switch error_rate={} on {})",
                        faults.error_rate,
                        faults.endpoint.map_or("every endpoint", |e| e.request())
                    )
                })),
            )
                .into_response()
        })
    }

    /// The session number of a `Bearer demo-N` token that is still known.
    fn session(&self, headers: &HeaderMap) -> Option<u64> {
        let token = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        let n: u64 = token.strip_prefix("demo-")?.parse().ok()?;
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.carts.contains_key(&n).then_some(n)
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": "missing or unknown token: log in with POST /api/login" })),
    )
        .into_response()
}

fn bad_request(message: impl fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message.to_string() })),
    )
        .into_response()
}

async fn health(State(s): State<Arc<ShopState>>) -> Response {
    if let Some(r) = s.gate(Endpoint::Health).await {
        return r;
    }
    "ok\n".into_response()
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

async fn login(State(s): State<Arc<ShopState>>, body: Bytes) -> Response {
    if let Some(r) = s.gate(Endpoint::Login).await {
        return r;
    }
    let login: Login = match serde_json::from_slice(&body) {
        Ok(l) => l,
        Err(e) => return bad_request(format!("expected {{\"username\", \"password\"}}: {e}")),
    };
    if login.username != USERNAME || login.password != PASSWORD {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "wrong username or password" })),
        )
            .into_response();
    }
    let mut sessions = s.sessions.lock().unwrap_or_else(|e| e.into_inner());
    sessions.next += 1;
    let n = sessions.next;
    sessions.carts.insert(n, Vec::new());
    while sessions.carts.len() > MAX_SESSIONS {
        sessions.carts.pop_first();
    }
    Json(json!({ "token": format!("demo-{n}") })).into_response()
}

async fn catalogue(State(s): State<Arc<ShopState>>) -> Response {
    if let Some(r) = s.gate(Endpoint::Catalogue).await {
        return r;
    }
    Json(json!({ "products": CATALOGUE })).into_response()
}

fn cart_json(lines: &[(&'static str, u64)]) -> serde_json::Value {
    let mut total = 0;
    let items: Vec<_> = lines
        .iter()
        .filter_map(|(id, qty)| {
            let p = CATALOGUE.iter().find(|p| p.id == *id)?;
            total += p.price_cents * qty;
            Some(json!({
                "product_id": p.id,
                "name": p.name,
                "quantity": qty,
                "price_cents": p.price_cents,
            }))
        })
        .collect();
    json!({ "items": items, "total_cents": total })
}

async fn cart(State(s): State<Arc<ShopState>>, headers: HeaderMap) -> Response {
    if let Some(r) = s.gate(Endpoint::Cart).await {
        return r;
    }
    let Some(n) = s.session(&headers) else {
        return unauthorized();
    };
    let sessions = s.sessions.lock().unwrap_or_else(|e| e.into_inner());
    Json(cart_json(sessions.carts.get(&n).map_or(&[][..], |c| c))).into_response()
}

#[derive(Deserialize)]
struct AddToCart {
    product_id: String,
    quantity: u64,
}

async fn add_to_cart(State(s): State<Arc<ShopState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = s.gate(Endpoint::Cart).await {
        return r;
    }
    let Some(n) = s.session(&headers) else {
        return unauthorized();
    };
    let add: AddToCart = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => {
            return bad_request(format!("expected {{\"product_id\", \"quantity\"}}: {e}"));
        }
    };
    let Some(product) = CATALOGUE.iter().find(|p| p.id == add.product_id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no product {:?}", add.product_id) })),
        )
            .into_response();
    };
    if !product.in_stock {
        return (
            StatusCode::CONFLICT,
            Json(json!({ "error": format!("{} is out of stock", product.name) })),
        )
            .into_response();
    }
    if !(1..=99).contains(&add.quantity) {
        return bad_request("quantity must be between 1 and 99");
    }
    let mut sessions = s.sessions.lock().unwrap_or_else(|e| e.into_inner());
    let Some(cart) = sessions.carts.get_mut(&n) else {
        return unauthorized();
    };
    match cart.iter_mut().find(|(id, _)| *id == product.id) {
        Some(line) => line.1 = (line.1 + add.quantity).min(99),
        None => cart.push((product.id, add.quantity)),
    }
    Json(cart_json(cart)).into_response()
}

async fn checkout(State(s): State<Arc<ShopState>>, headers: HeaderMap) -> Response {
    if let Some(r) = s.gate(Endpoint::Checkout).await {
        return r;
    }
    let Some(n) = s.session(&headers) else {
        return unauthorized();
    };
    let mut sessions = s.sessions.lock().unwrap_or_else(|e| e.into_inner());
    let lines = sessions.carts.get_mut(&n).map(std::mem::take);
    let Some(lines) = lines.filter(|l| !l.is_empty()) else {
        return bad_request("the cart is empty");
    };
    sessions.orders += 1;
    let mut order = cart_json(&lines);
    order["order_id"] = json!(format!("order-{}", sessions.orders));
    Json(order).into_response()
}

async fn get_faults(State(s): State<Arc<ShopState>>) -> Json<Faults> {
    Json(s.faults.borrow().clone())
}

async fn heal_faults(State(s): State<Arc<ShopState>>) -> Json<Faults> {
    s.faults.send_replace(Faults::default());
    Json(Faults::default())
}

/// JSON (`curl --json '{"down": true}'`, or any body starting with `{`) or a form (the
/// control panel's buttons, which are answered with a redirect back to the panel).
async fn set_faults(State(s): State<Arc<ShopState>>, req: Request<Body>) -> Response {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body = match axum::body::to_bytes(req.into_body(), 64 * 1024).await {
        Ok(b) => b,
        Err(e) => return bad_request(format!("cannot read the body: {e}")),
    };
    let looks_like_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let (faults, from_form) = if looks_like_json || !is_form {
        match axum::Json::<Faults>::from_bytes(&body) {
            Ok(Json(f)) => (f, false),
            Err(e) => {
                return bad_request(format!(
                    "{}; expected e.g. {{\"endpoint\": \"checkout\", \"error_rate\": 1}} \
                     (keys: error_rate, latency_ms, down, endpoint)",
                    e.body_text()
                ));
            }
        }
    } else {
        // Form reads the body of a POST (and the query string of a GET).
        let req = Request::builder()
            .method(axum::http::Method::POST)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("a request with one static header builds");
        match axum::Form::<Faults>::from_request(req, &()).await {
            Ok(axum::Form(f)) => (f, true),
            Err(e) => return bad_request(e.body_text()),
        }
    };
    if let Err(e) = faults.validate() {
        return bad_request(e);
    }
    tracing::debug!(faults = %faults, "demo shop faults switched");
    s.faults.send_replace(faults.clone());
    if from_form {
        Redirect::to("/").into_response()
    } else {
        Json(faults).into_response()
    }
}

/// The buttons of the control panel: (label, form fields).
const PRESETS: &[(&str, &[(&str, &str)])] = &[
    (
        "Break checkout (every checkout answers 500)",
        &[("endpoint", "checkout"), ("error_rate", "1")],
    ),
    (
        "Flaky checkout (every 4th checkout answers 500)",
        &[("endpoint", "checkout"), ("error_rate", "0.25")],
    ),
    (
        "Slow catalogue (+800 ms)",
        &[("endpoint", "catalogue"), ("latency_ms", "800")],
    ),
    ("Take the whole shop down (503)", &[("down", "true")]),
    ("Heal everything", &[]),
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn control_panel(State(s): State<Arc<ShopState>>) -> Html<String> {
    let faults = s.faults.borrow().clone();
    let base = &s.base_url;
    let mut buttons = String::new();
    for (label, fields) in PRESETS {
        buttons.push_str("<form method=\"post\" action=\"/faults\">");
        for (k, v) in *fields {
            buttons.push_str(&format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{v}\">"
            ));
        }
        buttons.push_str(&format!("<button>{}</button></form>\n", escape(label)));
    }
    let products: String = CATALOGUE
        .iter()
        .map(|p| {
            format!(
                "<tr><td>{}</td><td>{}.{:02}</td><td>{}</td></tr>",
                escape(p.name),
                p.price_cents / 100,
                p.price_cents % 100,
                if p.in_stock { "in stock" } else { "sold out" }
            )
        })
        .collect();
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vigil demo shop</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }}
form {{ display: inline-block; margin: 0 .5rem .5rem 0; }}
button {{ font: inherit; padding: .3rem .8rem; cursor: pointer; }}
.state {{ padding: .5rem 1rem; border-radius: 4px; background: {state_bg}; }}
pre {{ background: #f4f4f4; padding: .7rem; overflow-x: auto; }}
td {{ padding: 0 1rem 0 0; }}
</style></head><body>
<h1>The vigil demo shop</h1>
<p>A tiny coffee shop API that <code>vigil demo</code> watches with three probes. Break it
here and watch the alerts on <a href="{status}">vigil's status page</a>.</p>
<p class="state">Faults now: <strong>{faults}</strong></p>
<h2>Fault switches</h2>
{buttons}
<h2>With curl</h2>
<pre>curl --json '{{"endpoint": "checkout", "error_rate": 1}}' {base}/faults
curl --json '{{"endpoint": "catalogue", "latency_ms": 800}}' {base}/faults
curl --json '{{"down": true}}' {base}/faults
curl -X DELETE {base}/faults      # heal everything
curl {base}/faults                # what is switched on</pre>
<p><code>POST /faults</code> replaces every switch (what you leave out is off):
<code>error_rate</code> 0 to 1, <code>latency_ms</code>, <code>down</code>, and
<code>endpoint</code> (<code>health</code>, <code>login</code>, <code>catalogue</code>,
<code>cart</code>, <code>checkout</code>; all when left out).</p>
<h2>Catalogue</h2>
<table>{products}</table>
<p>The API: <code>POST /api/login</code>, <code>GET /api/catalogue</code>,
<code>POST /api/cart</code>, <code>POST /api/checkout</code>, <code>GET /healthz</code>.</p>
</body></html>
"#,
        state_bg = if faults.is_healthy() {
            "#e6f4ea"
        } else {
            "#fde7e7"
        },
        faults = escape(&faults.to_string()),
        status = escape(&s.status_page),
    ))
}

/// The runbooks the demo's alerts link to (`runbook_url`).
const RUNBOOKS: &[(&str, &str, &str)] = &[
    (
        "checkout-failing",
        "CheckoutFailing: customers cannot check out",
        "The checkout scenario (log in, pick a product, add it to the cart, check out) \
         fails. The run's message on vigil's status page names the step that broke and \
         the answer it got.<ol><li>Look at the failed step and its HTTP status on the \
         status page.</li><li>A 500 from <code>POST /api/checkout</code>: the payment \
         backend is failing. In this demo that is the <code>error_rate</code> switch.</li>\
         <li>Mitigate: switch the fault off below (in real life: roll back, fail over the \
         payment provider).</li></ol>",
    ),
    (
        "catalogue-slow",
        "CatalogueSlow: the catalogue takes too long to load",
        "The catalogue answers slower than 500 ms, so browsing feels broken even though \
         every request succeeds.<ol><li>Check the probe's HTTP timings on the status \
         page: connect, first byte, total.</li><li>Slow first byte: the server is slow. In \
         this demo that is the <code>latency_ms</code> switch.</li><li>Mitigate: switch it \
         off below.</li></ol>",
    ),
    (
        "shop-down",
        "ShopDown: the shop's health check fails",
        "<code>GET /healthz</code> does not answer 200: the whole shop is down.<ol>\
         <li>In this demo that is the <code>down</code> switch.</li><li>Mitigate: switch \
         it off below (in real life: restart, roll back, page the owners).</li></ol>",
    ),
];

async fn runbook(State(s): State<Arc<ShopState>>, Path(name): Path<String>) -> Response {
    let Some((_, title, body)) = RUNBOOKS.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such runbook\n").into_response();
    };
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Runbook: {title}</title>
<style>body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }}</style>
</head><body><h1>Runbook: {title}</h1><p>{body}</p>
<form method="post" action="/faults"><button>Heal the shop (switch every fault off)</button></form>
<p><a href="{status}">vigil's status page</a> · <a href="/">the shop's control panel</a></p></body></html>
"#,
        status = escape(&s.status_page),
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_rate_is_spread_evenly() {
        let mut s = ErrorSpreader::default();
        let fails: Vec<bool> = (0..8).map(|_| s.should_fail(0.25)).collect();
        assert_eq!(fails.iter().filter(|f| **f).count(), 2);
        assert_eq!(
            fails,
            [false, false, false, true, false, false, false, true]
        );
        assert!((0..10).all(|_| s.should_fail(1.0)));
        assert!((0..10).all(|_| !s.should_fail(0.0)));
    }

    #[test]
    fn faults_parse_strictly_and_describe_themselves() {
        let f: Faults = serde_json::from_str(r#"{"endpoint":"checkout","error_rate":1}"#).unwrap();
        assert_eq!(f.to_string(), "POST /api/checkout: 100% errors");
        assert!(f.hits(Endpoint::Checkout) && !f.hits(Endpoint::Login));
        let all: Faults = serde_json::from_str(r#"{"latency_ms":800}"#).unwrap();
        assert_eq!(all.to_string(), "every endpoint: +800ms");
        assert!(all.hits(Endpoint::Health));
        assert_eq!(Faults::default().to_string(), "none");
        let typo = serde_json::from_str::<Faults>(r#"{"error-rate":1}"#).unwrap_err();
        assert!(
            typo.to_string().contains("unknown field `error-rate`"),
            "{typo}"
        );
        let bad = serde_json::from_str::<Faults>(r#"{"endpoint":"payments"}"#).unwrap_err();
        assert!(bad.to_string().contains("checkout"), "{bad}");
        let too_much = Faults {
            error_rate: 1.5,
            ..Faults::default()
        };
        assert!(too_much.validate().unwrap_err().contains("between 0 and 1"));
    }
}
