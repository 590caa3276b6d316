//! Waiting on WASI pollables with an optional deadline.
//!
//! Every blocking step of the HTTP and TCP clients goes through [`Deadline::wait`], so a
//! `timeout` bounds the whole exchange, not each read.

use std::time::Duration;

use crate::bindings::wasi::clocks::monotonic_clock;
use crate::bindings::wasi::io::poll::{self, Pollable};

/// A point on the monotonic clock after which waiting gives up (or none: wait forever).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Option<u64>,
}

impl Deadline {
    /// `timeout` from now; `None` never expires.
    pub(crate) fn after(timeout: Option<Duration>) -> Self {
        Deadline {
            at: timeout.map(|t| {
                let nanos = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
                monotonic_clock::now().saturating_add(nanos)
            }),
        }
    }

    /// Block until `pollable` is ready. `false` when the deadline passed first.
    pub(crate) fn wait(&self, pollable: &Pollable) -> bool {
        match self.at {
            None => {
                pollable.block();
                true
            }
            Some(at) => {
                if pollable.ready() {
                    return true;
                }
                let timer = monotonic_clock::subscribe_instant(at);
                let ready = poll::poll(&[pollable, &timer]);
                ready.contains(&0)
            }
        }
    }
}
