//! Guest stdout/stderr, captured into the run's log instead of vigil's own output.
//!
//! Every byte counts against the run's log cap; a guest that writes past it gets a trap on
//! its next write, so a `println!` flood ends the run (reason `limit_exceeded`) instead of
//! filling memory.

use super::recorder::SharedRecorder;
use bytes::Bytes;
use std::pin::Pin;
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// One captured output stream of one run.
#[derive(Clone)]
pub(crate) struct Capture {
    rec: SharedRecorder,
    /// 0 = stdout, 1 = stderr.
    stream: usize,
}

impl Capture {
    pub(crate) fn stdout(rec: SharedRecorder) -> Self {
        Capture { rec, stream: 0 }
    }

    pub(crate) fn stderr(rec: SharedRecorder) -> Self {
        Capture { rec, stream: 1 }
    }

    fn push(&self, data: &[u8]) -> bool {
        self.rec.lock().output(self.stream, data)
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        if self.push(&bytes) {
            Ok(())
        } else {
            Err(StreamError::Trap(wasmtime::format_err!("log cap exceeded")))
        }
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.push(buf) {
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(std::io::Error::other("log cap exceeded")))
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
