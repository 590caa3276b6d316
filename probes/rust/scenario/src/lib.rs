//! An example multi-step scenario: log in, read the account, log out.
//!
//! See README.md next to this crate for the config, the service it expects and how to
//! run it.

use std::time::{Duration, Instant};

use vigil_guest::http::{self, Response};
use vigil_guest::serde_json::{Value, json};
use vigil_guest::{Context, Result, bail, step};

fn run() -> Result<()> {
    let base_url = vigil_guest::require_config("base_url")?;
    let base_url = base_url.trim_end_matches('/');
    let username = vigil_guest::require_config("username")?;
    let password = vigil_guest::require_secret("password")?;
    let slow_ms: u64 = match vigil_guest::config("slow_ms") {
        Some(text) => text.trim().parse().with_context(|| {
            format!("config `slow_ms`: `{text}` is not a number of milliseconds")
        })?,
        None => 1000,
    };

    let started = Instant::now();
    let token = step("login", || login(base_url, &username, &password))?;
    let login_took = started.elapsed();
    if login_took > Duration::from_millis(slow_ms) {
        vigil_guest::degraded(format!(
            "login took {}ms (slow_ms is {slow_ms})",
            login_took.as_millis()
        ));
    }

    // Log out even when reading the account failed, so failed runs do not pile up
    // sessions on the service; the first failure is the one reported.
    let account = step("account", || account(base_url, &token));
    let logout = step("logout", || logout(base_url, &token));
    let orders = account?;
    logout?;

    vigil_guest::info!(
        "{username} logged in ({}ms), has {orders} orders, logged out",
        login_took.as_millis()
    );
    Ok(())
}

vigil_guest::probe!(run);

/// `POST /login` with the credentials; the session token from the JSON answer.
fn login(base_url: &str, username: &str, password: &str) -> Result<String> {
    let resp = http::post(format!("{base_url}/login"))
        .json(&json!({ "username": username, "password": password }))
        .send()?;
    expect_status(&resp, 200)?;
    let body: Value = resp.json()?;
    match body.get("token").and_then(Value::as_str) {
        Some(token) if !token.is_empty() => Ok(token.to_owned()),
        _ => bail!("the answer has no string `token` ({})", resp.body_snippet()),
    }
}

/// `GET /account` with the token; records the metric `orders` (length of `orders`).
fn account(base_url: &str, token: &str) -> Result<usize> {
    let resp = http::get(format!("{base_url}/account"))
        .bearer(token)
        .send()?;
    expect_status(&resp, 200)?;
    let body: Value = resp.json()?;
    let Some(orders) = body.get("orders").and_then(Value::as_array) else {
        bail!("the answer has no `orders` array ({})", resp.body_snippet());
    };
    vigil_guest::metric("orders", orders.len() as f64, &[]);
    Ok(orders.len())
}

/// `POST /logout` with the token; the service answers 204.
fn logout(base_url: &str, token: &str) -> Result<()> {
    let resp = http::post(format!("{base_url}/logout"))
        .bearer(token)
        .send()?;
    expect_status(&resp, 204)
}

/// `"expected status 200, got 401 (body: ...)"`: inside a step this reads
/// `"login: expected status 200, got 401 (body: ...)"`, which is all on call needs.
fn expect_status(resp: &Response, expected: u16) -> Result<()> {
    if resp.status() != expected {
        bail!(
            "expected status {expected}, got {} ({})",
            resp.status(),
            resp.body_snippet()
        );
    }
    Ok(())
}
