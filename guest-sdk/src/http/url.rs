//! Absolute `http://` / `https://` URLs, split the way `wasi:http` wants them
//! (scheme, authority, path-with-query).
//!
//! This is deliberately small: no percent-decoding, no relative resolution. It rejects
//! what would only fail later inside the host with a vaguer message (no scheme,
//! credentials in the URL, whitespace, a bad port).

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// The scheme of a [`Url`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http://`
    Http,
    /// `https://`
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port used when the URL names none: 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// An absolute HTTP(S) URL.
///
/// ```
/// use vigil_guest::http::Url;
///
/// let url: Url = "http://127.0.0.1:8080/login?next=/cart#top".parse().unwrap();
/// assert_eq!(url.host(), "127.0.0.1");
/// assert_eq!(url.port(), 8080);
/// assert_eq!(url.authority(), "127.0.0.1:8080");
/// assert_eq!(url.path_and_query(), "/login?next=/cart");
/// assert_eq!(url.to_string(), "http://127.0.0.1:8080/login?next=/cart");
///
/// let err = "127.0.0.1:8080/login".parse::<Url>().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid URL `127.0.0.1:8080/login`: it must start with http:// or https://",
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url {
    scheme: Scheme,
    authority: String,
    host: String,
    port: Option<u16>,
    path_and_query: String,
}

impl Url {
    /// Parse an absolute `http://` or `https://` URL. The fragment (`#...`) is dropped
    /// and an empty path becomes `/`.
    pub fn parse(text: &str) -> Result<Url> {
        let input = text.trim();
        let invalid = |why: &str| Error::msg(format!("invalid URL `{text}`: {why}"));
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                "it contains whitespace or control characters (percent-encode them)",
            ));
        }
        let Some((scheme, rest)) = input.split_once("://") else {
            return Err(invalid("it must start with http:// or https://"));
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => {
                return Err(invalid(&format!(
                    "unsupported scheme `{other}` (only http and https)"
                )));
            }
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(invalid(
                "credentials in the URL are not supported (send an Authorization header)",
            ));
        }
        let (host, port) = split_host_port(authority).map_err(|why| invalid(&why))?;
        let path_and_query = if path_and_query.is_empty() {
            "/".to_owned()
        } else if path_and_query.starts_with('?') {
            format!("/{path_and_query}")
        } else {
            path_and_query.to_owned()
        };
        Ok(Url {
            scheme,
            authority: authority.to_owned(),
            host: host.to_owned(),
            port,
            path_and_query,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// `host[:port]` exactly as written in the URL.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port: the one in the URL, else the scheme's default.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.scheme.default_port())
    }

    /// `host:port` with the port always present, as an `allow` list entry is written.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port())
        } else {
            format!("{}:{}", self.host, self.port())
        }
    }

    /// The path and query, always starting with `/`.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }
}

impl FromStr for Url {
    type Err = Error;

    fn from_str(s: &str) -> Result<Url> {
        Url::parse(s)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority,
            self.path_and_query
        )
    }
}

/// Split `host[:port]` (IPv6 hosts in brackets).
fn split_host_port(authority: &str) -> core::result::Result<(&str, Option<u16>), String> {
    if authority.is_empty() {
        return Err("it has no host".to_owned());
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err("unclosed `[` in the host".to_owned());
        };
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("unexpected `{after}` after the host")),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("it has no host".to_owned());
    }
    let port = match port {
        None => None,
        Some(port) => Some(
            port.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("invalid port `{port}`"))?,
        ),
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_parts() {
        let url = Url::parse("HTTPS://[::1]:8443?q=1").unwrap();
        assert_eq!(url.scheme(), Scheme::Https);
        assert_eq!(url.host(), "::1");
        assert_eq!(url.port(), 8443);
        assert_eq!(url.host_port(), "[::1]:8443");
        assert_eq!(url.path_and_query(), "/?q=1");
        assert_eq!(url.to_string(), "https://[::1]:8443/?q=1");

        let url = Url::parse("http://example.com").unwrap();
        assert_eq!(url.port(), 80);
        assert_eq!(url.host_port(), "example.com:80");
        assert_eq!(url.path_and_query(), "/");
    }

    #[test]
    fn rejects_with_reasons() {
        for (text, why) in [
            ("ftp://x/", "unsupported scheme `ftp`"),
            ("http://", "no host"),
            ("http://:80/", "no host"),
            ("http://h:99999/", "invalid port `99999`"),
            ("http://h:0/", "invalid port `0`"),
            ("http://u:p@h/", "credentials"),
            ("http://h/a b", "whitespace"),
            ("http://[::1/", "unclosed"),
        ] {
            let err = Url::parse(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
