//! The smallest useful Rust probe: fetch `url` and check it answers 200.
//!
//! See README.md next to this crate.

use vigil_guest::{Result, http, step};

fn run() -> Result<()> {
    let url = vigil_guest::require_config("url")?;
    step("fetch", || {
        let resp = http::get(&url).send()?;
        vigil_guest::metric("body_bytes", resp.body().len() as f64, &[]);
        vigil_guest::info!(
            "GET {url}: status {} in {}ms, {} bytes",
            resp.status(),
            resp.elapsed().as_millis(),
            resp.body().len()
        );
        resp.expect_status(200)?;
        Ok(())
    })
}

vigil_guest::probe!(run);
