//! Write [vigil](https://example.invalid/vigil) probes in Rust.
//!
//! A probe is a WebAssembly component that acts like a user of your service: it logs in,
//! adds to the cart, checks out, and tells vigil whether that worked. This crate is the
//! Rust side of the contract in `wit/probe.wit` (world `vigil:probe/probe@0.1.0`): it owns
//! the generated bindings, so a probe crate only writes plain Rust and invokes
//! [`probe!`] once.
//!
//! # What a probe can do
//!
//! | need | API |
//! |---|---|
//! | export the entry point | [`probe!`]`(run)` with `fn run() -> vigil_guest::Result<()>` |
//! | time a phase of the scenario | [`step`]`("login", \|\| { ... })` |
//! | read its settings and secrets | [`config`], [`config_or`], [`require_config`], [`secret`], [`require_secret`] |
//! | record a number | [`metric`]`("orders", 3.0, &[("shop", "eu")])` |
//! | say "it worked, but badly" | [`degraded`]`("login took 1.8s")` |
//! | log a line | [`info!`], [`warn!`], ... or the functions in [`log`] |
//! | talk HTTP | [`http::get`], [`http::post`], ... with assertions such as [`http::Response::expect_status`] |
//! | talk raw TCP | [`net::TcpStream`] |
//! | fail with a clear message | return `Err(..)` — anything that implements `Display` — or use [`bail!`] / [`ensure!`] |
//!
//! # A complete probe
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "checkout-probe"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! vigil-guest = { path = "../../guest-sdk" }
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! `src/lib.rs`:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use serde::Deserialize;
//! use vigil_guest::serde_json::json;
//! use vigil_guest::{Result, http, step};
//!
//! #[derive(Deserialize)]
//! struct Login {
//!     token: String,
//! }
//!
//! fn run() -> Result<()> {
//!     let base = vigil_guest::require_config("base_url")?;
//!     let password = vigil_guest::require_secret("password")?;
//!
//!     let token = step("login", || {
//!         let resp = http::post(format!("{base}/login"))
//!             .json(&json!({ "username": "probe", "password": password }))
//!             .send()?;
//!         resp.expect_status(200)?;
//!         let login: Login = resp.json()?;
//!         Ok(login.token)
//!     })?;
//!
//!     let orders = step("orders", || {
//!         let resp = http::get(format!("{base}/orders")).bearer(&token).send()?;
//!         resp.expect_success()?;
//!         let orders: Vec<vigil_guest::serde_json::Value> = resp.json()?;
//!         Ok(orders.len())
//!     })?;
//!     vigil_guest::metric("orders", orders as f64, &[]);
//!     vigil_guest::info!("logged in and saw {orders} orders");
//!
//!     // Optional extra check: a broken status page is worth knowing, not worth paging.
//!     if let Some(status_url) = vigil_guest::config("status_url") {
//!         let checked = http::get(&status_url)
//!             .timeout(Duration::from_secs(2))
//!             .send()
//!             .and_then(|resp| resp.expect_success().map(|_| ()));
//!         if let Err(e) = checked {
//!             vigil_guest::degraded(format!("status page: {e}"));
//!         }
//!     }
//!     Ok(())
//! }
//!
//! vigil_guest::probe!(run);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is already a component that vigil can load.
//!
//! # Failing well
//!
//! The error `run` returns is what the on-call engineer reads in the alert, so it should
//! say what broke. The SDK helps:
//!
//! - [`step`] prefixes errors with the step name (`"login: ..."`) and reports them to vigil
//!   as the step's detail;
//! - HTTP errors name the request: `"GET http://127.0.0.1:8080/: connection refused"`,
//!   `"POST http://127.0.0.1:8080/login: expected status 200, got 401 (body: bad password)"`;
//! - [`Context::context`] adds your own prefix to any error, and errors that carry a
//!   chain of causes (such as `anyhow::Error`) are printed with the whole chain.
//!
//! A panic also fails the run (vigil reports it as a trap, with the panic message in the
//! run's log), but a returned error reads better.
//!
//! # Native builds
//!
//! The crate compiles for any target so that workspaces can run `cargo clippy` and
//! `cargo test` natively, but the host functions only exist inside vigil: calling them
//! outside `wasm32-wasip2` panics. Pure helpers ([`parse_duration`], [`format_duration`],
//! [`http::Url`], ...) work everywhere.
#![warn(missing_docs)]

mod duration;
mod error;
mod host;
pub mod http;
pub mod log;
pub mod net;
mod wait;

pub use duration::{format_duration, parse_duration};
pub use error::{Context, Error, IntoRunResult, Result};
pub use host::{config, config_or, degraded, metric, require_config, require_secret, secret, step};
/// `serde_json`, re-exported so probes can build and read JSON bodies (`json!`, `Value`)
/// without a dependency of their own.
#[cfg(feature = "json")]
pub use serde_json;

/// Raw bindings generated by `wit-bindgen` from `wit/probe.wit` and its WASI 0.2.12
/// dependencies.
///
/// Probe authors do not need these: they back [`probe!`], the host functions and the
/// HTTP and TCP clients. They are public for the few things the SDK does not wrap, for
/// example waiting on a clock:
///
/// ```no_run
/// use vigil_guest::bindings::wasi::clocks::monotonic_clock;
///
/// // Sleep for one second without burning CPU.
/// monotonic_clock::subscribe_duration(1_000_000_000).block();
/// ```
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "probe",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "vigil_guest::bindings",
    });
}

/// Export `run` as the probe's entry point: one execution of the scenario.
///
/// `run` is any function or closure taking no arguments and returning `()` or
/// `Result<(), E>` where `E` implements `Display` — [`vigil_guest::Error`](Error),
/// `anyhow::Error`, `String`, `Box<dyn std::error::Error>`, ... (see [`IntoRunResult`]).
/// An `Err` becomes the run's failure reason; causes chained inside the error (as
/// `anyhow` keeps them) are included, outermost first.
///
/// Invoke it exactly once per probe crate, at the crate's top level:
///
/// ```no_run
/// fn run() -> vigil_guest::Result<()> {
///     vigil_guest::info!("hello from a probe");
///     Ok(())
/// }
///
/// vigil_guest::probe!(run);
/// ```
#[macro_export]
macro_rules! probe {
    ($run:expr $(,)?) => {
        const _: () = {
            struct VigilProbe;

            impl $crate::bindings::Guest for VigilProbe {
                fn run() -> ::core::result::Result<(), ::std::string::String> {
                    $crate::IntoRunResult::into_run_result(($run)())
                }
            }

    $crate::bindings::export!(VigilProbe with_types_in $crate::bindings);
        };
    };
}
