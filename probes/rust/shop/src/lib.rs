//! The demo shop scenario that `vigil demo` runs: log in, pick a product from the
//! catalogue, put it in the cart, check out, and check that the order is what was in the
//! cart. One named step per phase, so a failure says where the shop broke.
//!
//! Config: `base_url` (required), `username` (default `demo`), `quantity` (default `2`);
//! secret: `password`. The shop's API is described in vigil's `host/src/demo/shop.rs`.

use vigil_guest::http::{self, Response};
use vigil_guest::serde_json::{Value, json};
use vigil_guest::{Context, Result, bail, step};

fn run() -> Result<()> {
    let base_url = vigil_guest::require_config("base_url")?;
    let base_url = base_url.trim_end_matches('/');
    let username = vigil_guest::config_or("username", "demo");
    let password = vigil_guest::require_secret("password")?;
    let quantity: u64 = match vigil_guest::config("quantity") {
        Some(text) => text
            .trim()
            .parse()
            .with_context(|| format!("config `quantity`: `{text}` is not a whole number"))?,
        None => 2,
    };

    let token = step("login", || login(base_url, &username, &password))?;
    let product = step("catalogue", || pick_product(base_url))?;
    let cart_total = step("cart", || add_to_cart(base_url, &token, &product, quantity))?;
    let order = step("checkout", || checkout(base_url, &token, cart_total))?;

    vigil_guest::metric("order_total_cents", cart_total as f64, &[]);
    vigil_guest::info!(
        "{username} ordered {quantity} x {} ({}), order {order}",
        product.name,
        cents(cart_total)
    );
    Ok(())
}

vigil_guest::probe!(run);

/// A product as the catalogue lists it.
struct Product {
    id: String,
    name: String,
}

/// `POST /api/login` with the credentials; the session token from the JSON answer.
fn login(base_url: &str, username: &str, password: &str) -> Result<String> {
    let resp = http::post(format!("{base_url}/api/login"))
        .json(&json!({ "username": username, "password": password }))
        .send()?;
    resp.expect_status(200)?;
    let body: Value = resp.json()?;
    match body.get("token").and_then(Value::as_str) {
        Some(token) if !token.is_empty() => Ok(token.to_owned()),
        _ => Err(resp.fail("the answer has no string `token`")),
    }
}

/// `GET /api/catalogue`; the first product in stock.
fn pick_product(base_url: &str) -> Result<Product> {
    let resp = http::get(format!("{base_url}/api/catalogue")).send()?;
    resp.expect_status(200)?;
    let body: Value = resp.json()?;
    let Some(products) = body.get("products").and_then(Value::as_array) else {
        return Err(resp.fail("the answer has no `products` array"));
    };
    vigil_guest::metric("catalogue_products", products.len() as f64, &[]);
    let in_stock = products.iter().find(|p| {
        p.get("in_stock").and_then(Value::as_bool).unwrap_or(false)
            && p.get("id").and_then(Value::as_str).is_some()
    });
    match in_stock {
        Some(p) => Ok(Product {
            id: p["id"].as_str().unwrap_or_default().to_owned(),
            name: p
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned(),
        }),
        None => Err(resp.fail(format!(
            "none of the {} products is in stock",
            products.len()
        ))),
    }
}

/// `POST /api/cart` with the product; the cart's total in cents.
fn add_to_cart(base_url: &str, token: &str, product: &Product, quantity: u64) -> Result<u64> {
    let resp = http::post(format!("{base_url}/api/cart"))
        .bearer(token)
        .json(&json!({ "product_id": product.id, "quantity": quantity }))
        .send()?;
    resp.expect_status(200)?;
    let body: Value = resp.json()?;
    let lines = body.get("items").and_then(Value::as_array);
    let has_product = lines.is_some_and(|items| {
        items.iter().any(|i| {
            i.get("product_id").and_then(Value::as_str) == Some(product.id.as_str())
                && i.get("quantity").and_then(Value::as_u64) == Some(quantity)
        })
    });
    if !has_product {
        return Err(resp.fail(format!(
            "the cart does not hold {quantity} x {}",
            product.id
        )));
    }
    total_cents(&resp, &body)
}

/// `POST /api/checkout`; the order id. The order must cost what the cart did.
fn checkout(base_url: &str, token: &str, cart_total: u64) -> Result<String> {
    let resp = http::post(format!("{base_url}/api/checkout"))
        .bearer(token)
        .send()?;
    resp.expect_status(200)?;
    let body: Value = resp.json()?;
    let total = total_cents(&resp, &body)?;
    if total != cart_total {
        return Err(resp.fail(format!(
            "the order costs {} but the cart cost {}",
            cents(total),
            cents(cart_total)
        )));
    }
    match body.get("order_id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => Ok(id.to_owned()),
        _ => bail!("POST {base_url}/api/checkout: the answer has no string `order_id`"),
    }
}

fn total_cents(resp: &Response, body: &Value) -> Result<u64> {
    body.get("total_cents")
        .and_then(Value::as_u64)
        .ok_or_else(|| resp.fail("the answer has no whole number `total_cents`"))
}

fn cents(n: u64) -> String {
    format!("{}.{:02}", n / 100, n % 100)
}
