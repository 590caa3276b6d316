//! The HTTP target both probers hit: a tiny hyper 1.x HTTP/1.1 server on 127.0.0.1 that
//! answers every request with `200 ok\n`.
//!
//! Usage: `target-server [PORT] [--threads N]` (PORT 0 or absent = any free port). Prints
//! `listening on 127.0.0.1:PORT` on stdout once it accepts connections. It serves until it
//! is killed, or for at most `--max-seconds` (default 3600) so a forgotten one goes away.

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpListener;

fn main() -> anyhow::Result<()> {
    let mut port: u16 = 0;
    let mut threads: usize = 2;
    let mut max_seconds: u64 = 3600;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => threads = next(&mut args, "--threads")?,
            "--max-seconds" => max_seconds = next(&mut args, "--max-seconds")?,
            "-h" | "--help" => {
                println!("usage: target-server [PORT] [--threads N] [--max-seconds S]");
                return Ok(());
            }
            p => port = p.parse()?,
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?
        .block_on(serve(port, Duration::from_secs(max_seconds)))
}

fn next<T: std::str::FromStr>(
    args: &mut impl Iterator<Item = String>,
    flag: &str,
) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let v = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
    Ok(v.parse()?)
}

async fn serve(port: u16, max: Duration) -> anyhow::Result<()> {
    // Loopback only: this is a benchmark target, never reachable from outside.
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let addr = listener.local_addr()?;
    println!("listening on {addr}");
    std::io::stdout().flush()?;

    let accept = async {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                // Out of file descriptors and the like: back off briefly, keep serving.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok\n"))))
                });
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    };
    tokio::select! {
        () = accept => {}
        () = tokio::time::sleep(max) => eprintln!("target-server: --max-seconds reached, exiting"),
    }
    Ok(())
}
