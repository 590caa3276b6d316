//! Raw TCP over `wasi:sockets`, with timeouts and readable errors.
//!
//! For protocols that are not HTTP: check that a port accepts connections, send a
//! line, read a banner.
//!
//! ```no_run
//! use std::time::Duration;
//! use vigil_guest::net::TcpStream;
//!
//! fn run() -> vigil_guest::Result<()> {
//!     let timeout = Duration::from_secs(2);
//!     let conn = TcpStream::connect("127.0.0.1:6379", timeout)?;
//!     conn.write_all(b"PING\r\n", timeout)?;
//!     let reply = conn.read(timeout)?.unwrap_or_default();
//!     vigil_guest::ensure!(reply.starts_with(b"+PONG"), "redis answered {:?}",
//!         String::from_utf8_lossy(&reply));
//!     Ok(())
//! }
//! vigil_guest::probe!(run);
//! ```
//!
//! vigil lets a probe connect only to the addresses in its `allow` list; anything else
//! fails with ``tcp://10.0.0.7:22: access denied by vigil's sandbox (is 10.0.0.7:22 in
//! the probe's `allow` list?)``.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::bindings::wasi::io::streams::{InputStream, OutputStream, StreamError};
use crate::bindings::wasi::sockets::instance_network::instance_network;
use crate::bindings::wasi::sockets::ip_name_lookup::resolve_addresses;
use crate::bindings::wasi::sockets::network::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use crate::bindings::wasi::sockets::tcp::{ShutdownType, TcpSocket};
use crate::bindings::wasi::sockets::tcp_create_socket::create_tcp_socket;
use crate::wait::Deadline;
use crate::{Error, Result, format_duration};

/// Most bytes [`TcpStream::read`] returns at once.
const READ_CHUNK: u64 = 64 * 1024;

/// A connected TCP stream.
///
/// Dropping it closes the connection.
pub struct TcpStream {
    // Field order is drop order: the streams are children of the socket.
    input: InputStream,
    output: OutputStream,
    socket: TcpSocket,
    peer: String,
}

impl TcpStream {
    /// Connect to `address` (`host:port`; a name is resolved through the host, IPv6 in
    /// brackets), trying each resolved address in turn, all within `timeout`.
    ///
    /// Errors name the address like a URL, `"tcp://127.0.0.1:6379: connection refused"`,
    /// so that inside a step named `connect` they read
    /// `"connect: tcp://127.0.0.1:6379: connection refused"`.
    pub fn connect(address: &str, timeout: Duration) -> Result<TcpStream> {
        let fail = |what: String| Error::msg(format!("tcp://{address}: {what}"));
        let deadline = Deadline::after(Some(timeout));
        let (host, port) = split_address(address).map_err(fail)?;
        let ips = resolve(host, &deadline, timeout).map_err(fail)?;
        let mut last = String::from("no addresses to try");
        for ip in ips {
            match connect_ip(SocketAddr::new(ip, port), &deadline) {
                Ok((socket, input, output)) => {
                    return Ok(TcpStream {
                        input,
                        output,
                        socket,
                        peer: address.to_owned(),
                    });
                }
                Err(ConnectError::TimedOut) => {
                    return Err(fail(format!(
                        "timed out connecting after {}",
                        format_duration(timeout)
                    )));
                }
                Err(ConnectError::Failed(code)) => last = describe(code, address),
            }
        }
        Err(fail(last))
    }

    /// The address given to [`TcpStream::connect`].
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Write all of `bytes` and flush, within `timeout`.
    pub fn write_all(&self, mut bytes: &[u8], timeout: Duration) -> Result<()> {
        let deadline = Deadline::after(Some(timeout));
        let fail = |what: String| Error::msg(format!("tcp://{}: {what}", self.peer));
        let stream_failed =
            |e: StreamError| fail(format!("sending failed: {}", self.stream_error(e)));
        let ready = self.output.subscribe();
        while !bytes.is_empty() {
            let permit = self.output.check_write().map_err(stream_failed)?;
            if permit == 0 {
                if !deadline.wait(&ready) {
                    return Err(fail(format!(
                        "timed out sending after {} ({} bytes unsent)",
                        format_duration(timeout),
                        bytes.len()
                    )));
                }
                continue;
            }
            let len = bytes
                .len()
                .min(usize::try_from(permit).unwrap_or(usize::MAX));
            let (chunk, rest) = bytes.split_at(len);
            self.output.write(chunk).map_err(stream_failed)?;
            bytes = rest;
        }
        self.output.flush().map_err(stream_failed)?;
        loop {
            if self.output.check_write().map_err(stream_failed)? > 0 {
                return Ok(());
            }
            if !deadline.wait(&ready) {
                return Err(fail(format!(
                    "timed out sending after {} (flushing)",
                    format_duration(timeout)
                )));
            }
        }
    }

    /// Wait up to `timeout` for data and return what arrived (at most 64 KiB), or
    /// `None` when the peer closed the connection without sending anything more.
    pub fn read(&self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        let deadline = Deadline::after(Some(timeout));
        let ready = self.input.subscribe();
        loop {
            match self.input.read(READ_CHUNK) {
                Ok(chunk) if chunk.is_empty() => {
                    if !deadline.wait(&ready) {
                        return Err(Error::msg(format!(
                            "tcp://{}: no data received within {}",
                            self.peer,
                            format_duration(timeout)
                        )));
                    }
                }
                Ok(chunk) => return Ok(Some(chunk)),
                Err(StreamError::Closed) => return Ok(None),
                Err(e) => {
                    return Err(Error::msg(format!(
                        "tcp://{}: reading failed: {}",
                        self.peer,
                        self.stream_error(e)
                    )));
                }
            }
        }
    }

    /// Close the sending half: the peer reads end-of-stream.
    pub fn shutdown_write(&self) -> Result<()> {
        self.socket.shutdown(ShutdownType::Send).map_err(|code| {
            Error::msg(format!(
                "tcp://{}: shutdown failed: {}",
                self.peer,
                describe(code, &self.peer)
            ))
        })
    }

    fn stream_error(&self, error: StreamError) -> String {
        match error {
            StreamError::Closed => "connection closed by the peer".to_owned(),
            // `network-error-code` is unstable in WASI 0.2, so the host's text is all
            // there is (e.g. "Connection reset by peer (os error 104)").
            StreamError::LastOperationFailed(e) => e.to_debug_string(),
        }
    }
}

/// Split `host:port` / `[v6]:port`.
fn split_address(address: &str) -> core::result::Result<(&str, u16), String> {
    let bad = || format!("expected host:port, got `{address}`");
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        (host, after.strip_prefix(':').ok_or_else(bad)?)
    } else {
        address.rsplit_once(':').ok_or_else(bad)?
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("invalid port `{port}`"))?;
    Ok((host, port))
}

fn resolve(
    host: &str,
    deadline: &Deadline,
    timeout: Duration,
) -> core::result::Result<Vec<IpAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let network = instance_network();
    let lookup = resolve_addresses(&network, host)
        .map_err(|code| format!("resolving `{host}`: {}", describe(code, host)))?;
    let ready = lookup.subscribe();
    let mut ips = Vec::new();
    loop {
        match lookup.resolve_next_address() {
            Ok(Some(ip)) => ips.push(from_wasi_ip(ip)),
            Ok(None) => break,
            Err(ErrorCode::WouldBlock) => {
                if !deadline.wait(&ready) {
                    return Err(format!(
                        "resolving `{host}` timed out after {}",
                        format_duration(timeout)
                    ));
                }
            }
            Err(code) => return Err(format!("resolving `{host}`: {}", describe(code, host))),
        }
    }
    if ips.is_empty() {
        return Err(format!("`{host}` resolved to no addresses"));
    }
    Ok(ips)
}

enum ConnectError {
    TimedOut,
    Failed(ErrorCode),
}

fn connect_ip(
    addr: SocketAddr,
    deadline: &Deadline,
) -> core::result::Result<(TcpSocket, InputStream, OutputStream), ConnectError> {
    let family = match addr {
        SocketAddr::V4(_) => IpAddressFamily::Ipv4,
        SocketAddr::V6(_) => IpAddressFamily::Ipv6,
    };
    let network = instance_network();
    let socket = create_tcp_socket(family).map_err(ConnectError::Failed)?;
    socket
        .start_connect(&network, to_wasi_addr(addr))
        .map_err(ConnectError::Failed)?;
    let ready = socket.subscribe();
    let streams = loop {
        match socket.finish_connect() {
            Ok(streams) => break streams,
            Err(ErrorCode::WouldBlock) => {
                if !deadline.wait(&ready) {
                    return Err(ConnectError::TimedOut);
                }
            }
            Err(code) => return Err(ConnectError::Failed(code)),
        }
    };
    drop(ready);
    Ok((socket, streams.0, streams.1))
}

fn to_wasi_addr(addr: SocketAddr) -> IpSocketAddress {
    match addr {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: v4.port(),
                address: (a, b, c, d),
            })
        }
        SocketAddr::V6(v6) => {
            let s = v6.ip().segments();
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: v6.port(),
                flow_info: v6.flowinfo(),
                address: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
                scope_id: v6.scope_id(),
            })
        }
    }
}

fn from_wasi_ip(ip: IpAddress) -> IpAddr {
    match ip {
        IpAddress::Ipv4((a, b, c, d)) => IpAddr::from([a, b, c, d]),
        IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::from([a, b, c, d, e, f, g, h]),
    }
}

/// A `wasi:sockets` error code in words, for `target` (`host:port` or a host name).
fn describe(code: ErrorCode, target: &str) -> String {
    match code {
        ErrorCode::AccessDenied => {
            format!("access denied by vigil's sandbox (is {target} in the probe's `allow` list?)")
        }
        ErrorCode::ConnectionRefused => "connection refused".to_owned(),
        ErrorCode::ConnectionReset => "connection reset by the peer".to_owned(),
        ErrorCode::ConnectionAborted => "connection aborted".to_owned(),
        ErrorCode::RemoteUnreachable => "host unreachable".to_owned(),
        ErrorCode::Timeout => "timed out".to_owned(),
        ErrorCode::NameUnresolvable => "no such host".to_owned(),
        ErrorCode::TemporaryResolverFailure => "DNS lookup failed (temporary)".to_owned(),
        ErrorCode::PermanentResolverFailure => "DNS lookup failed".to_owned(),
        ErrorCode::NotSupported => "not supported by the host".to_owned(),
        ErrorCode::InvalidArgument => "invalid address".to_owned(),
        ErrorCode::OutOfMemory => "out of memory".to_owned(),
        ErrorCode::AddressInUse => "address in use".to_owned(),
        ErrorCode::AddressNotBindable => "address not bindable".to_owned(),
        ErrorCode::NewSocketLimit => "too many open sockets".to_owned(),
        other => format!("socket error ({other:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_addresses() {
        assert_eq!(split_address("127.0.0.1:6379"), Ok(("127.0.0.1", 6379)));
        assert_eq!(split_address("[::1]:22"), Ok(("::1", 22)));
        assert_eq!(split_address("db.internal:5432"), Ok(("db.internal", 5432)));
        assert_eq!(
            split_address("127.0.0.1"),
            Err("expected host:port, got `127.0.0.1`".to_owned())
        );
        assert_eq!(
            split_address("127.0.0.1:http"),
            Err("invalid port `http`".to_owned())
        );
    }

    #[test]
    fn addresses_convert_both_ways() {
        let v6: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        match to_wasi_addr(v6) {
            IpSocketAddress::Ipv6(a) => {
                assert_eq!(from_wasi_ip(IpAddress::Ipv6(a.address)), v6.ip());
            }
            IpSocketAddress::Ipv4(_) => panic!("v6 became v4"),
        }
    }
}
