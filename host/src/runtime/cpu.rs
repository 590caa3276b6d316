//! CPU time of one run, measured as the thread CPU time spent polling its future.
//!
//! Epoch ticks alone would count time a probe spends waiting on HTTP as CPU; measuring
//! thread CPU time around each poll counts only the time the guest (and the host code it
//! calls synchronously) actually ran. The epoch callback reads [`CpuMeter::used`] to
//! enforce the limit.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// CPU time of the calling thread in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel
    // supports on every Linux version vigil runs on.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Accumulated CPU time of one run.
#[derive(Default)]
pub(crate) struct CpuMeter {
    used_ns: AtomicU64,
    /// Thread CPU time when the current poll began; 0 when not inside a poll.
    poll_start_ns: AtomicU64,
}

impl CpuMeter {
    /// CPU used so far, including the poll in progress.
    pub(crate) fn used(&self) -> Duration {
        let mut ns = self.used_ns.load(Ordering::Relaxed);
        let start = self.poll_start_ns.load(Ordering::Relaxed);
        if start != 0 {
            ns += thread_cpu_ns().saturating_sub(start);
        }
        Duration::from_nanos(ns)
    }
}

/// A future whose polls are charged to a [`CpuMeter`].
pub(crate) struct Metered<'a, T> {
    inner: Pin<Box<dyn Future<Output = T> + Send + 'a>>,
    meter: Arc<CpuMeter>,
}

impl<'a, T> Metered<'a, T> {
    pub(crate) fn new(
        inner: Pin<Box<dyn Future<Output = T> + Send + 'a>>,
        meter: Arc<CpuMeter>,
    ) -> Self {
        Metered { inner, meter }
    }
}

impl<T> Future for Metered<'_, T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let start = thread_cpu_ns().max(1);
        self.meter.poll_start_ns.store(start, Ordering::Relaxed);
        let result = self.inner.as_mut().poll(cx);
        let spent = thread_cpu_ns().saturating_sub(start);
        self.meter.poll_start_ns.store(0, Ordering::Relaxed);
        self.meter.used_ns.fetch_add(spent, Ordering::Relaxed);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn busy_polls_are_charged_and_waiting_is_not() {
        let meter = Arc::new(CpuMeter::default());
        let fut = Metered::new(
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                // Spin until this thread has burnt 20ms of CPU, however loaded the machine.
                let start = thread_cpu_ns();
                while thread_cpu_ns() - start < 20_000_000 {
                    std::hint::black_box(());
                }
            }),
            meter.clone(),
        );
        fut.await;
        let used = meter.used();
        assert!(used >= Duration::from_millis(20), "{used:?}");
        assert!(
            used < Duration::from_millis(90),
            "the 100ms sleep was charged: {used:?}"
        );
    }
}
