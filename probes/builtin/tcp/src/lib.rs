//! `builtin:tcp` — the probe vigil bundles for "does this port answer?".
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `address` | `host:port` to connect to (required; IPv6 as `[::1]:22`) | |
//! | `send` | text to write once connected (use YAML escapes for `\r\n`) | |
//! | `expect` | text the first read from the server must contain | |
//! | `timeout` | limit for connecting, and for each of sending and the first read | `5s` |
//!
//! Steps: `connect`, then `exchange` when `send` or `expect` is given. With only
//! `expect`, the first read is the server's banner (SSH, SMTP, ...); with `send` and
//! `expect`, it is the answer to what was sent. Failures name the address and what was
//! received: `exchange: expected "+PONG" in the first read from 127.0.0.1:6379, got
//! "-ERR unknown command"`.

use std::time::Duration;

use vigil_guest::net::TcpStream;
use vigil_guest::{Context, Result, bail, config, step};

/// How much of unexpected data a failure message quotes.
const QUOTE_BYTES: usize = 200;

fn run() -> Result<()> {
    let address = vigil_guest::require_config("address")?;
    let send = config("send");
    let expect = config("expect");
    let timeout = match config("timeout") {
        Some(text) => vigil_guest::parse_duration(&text).context("config `timeout`")?,
        None => Duration::from_secs(5),
    };

    let conn = step("connect", || TcpStream::connect(&address, timeout))?;
    if send.is_some() || expect.is_some() {
        step("exchange", || {
            exchange(&conn, send.as_deref(), expect.as_deref(), timeout)
        })?;
    }
    Ok(())
}

vigil_guest::probe!(run);

fn exchange(
    conn: &TcpStream,
    send: Option<&str>,
    expect: Option<&str>,
    timeout: Duration,
) -> Result<()> {
    if let Some(send) = send {
        conn.write_all(send.as_bytes(), timeout)?;
    }
    let Some(expect) = expect else {
        return Ok(());
    };
    let Some(data) = conn.read(timeout)? else {
        bail!(
            "{} closed the connection before sending anything (expected {expect:?})",
            conn.peer()
        );
    };
    if !contains(&data, expect.as_bytes()) {
        bail!(
            "expected {expect:?} in the first read from {}, got {}",
            conn.peer(),
            quote(&data)
        );
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// `"text"` (lossy UTF-8, escaped, cut at 200 bytes with the total size).
fn quote(data: &[u8]) -> String {
    let shown = &data[..data.len().min(QUOTE_BYTES)];
    let mut text = format!("{:?}", String::from_utf8_lossy(shown));
    if shown.len() < data.len() {
        text.push_str(&format!("… ({} bytes)", data.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_escaped_and_cut() {
        assert_eq!(quote(b"-ERR x\r\n"), r#""-ERR x\r\n""#);
        let long = vec![b'a'; 300];
        assert!(quote(&long).ends_with("\"… (300 bytes)"));
        assert!(contains(b"+PONG\r\n", b"PONG"));
        assert!(!contains(b"+PON", b"PONG"));
    }
}
