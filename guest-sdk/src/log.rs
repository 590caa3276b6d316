//! Log lines into the run's record (`vigil probe run`, the API, the status page).
//!
//! Use the functions here or the `format!`-style macros [`trace!`](crate::trace),
//! [`debug!`](crate::debug), [`info!`](crate::info), [`warn!`](crate::warn) and
//! [`error!`](crate::error). The bytes a run may log are capped (64 KiB by default,
//! stdout and stderr included); a probe that logs past the cap is stopped and fails
//! with reason `limit_exceeded`, so log what helps on call, not every byte received.

use crate::bindings::vigil::probe::host as raw;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something looks wrong, but the run goes on.
    Warn,
    /// Something failed.
    Error,
}

/// Append one line at `level` to the run's log.
pub fn log(level: Level, message: impl AsRef<str>) {
    let level = match level {
        Level::Trace => raw::Level::Trace,
        Level::Debug => raw::Level::Debug,
        Level::Info => raw::Level::Info,
        Level::Warn => raw::Level::Warn,
        Level::Error => raw::Level::Error,
    };
    raw::log(level, message.as_ref());
}

/// Append a `trace` line to the run's log.
pub fn trace(message: impl AsRef<str>) {
    log(Level::Trace, message);
}

/// Append a `debug` line to the run's log.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message);
}

/// Append an `info` line to the run's log.
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message);
}

/// Append a `warn` line to the run's log.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message);
}

/// Append an `error` line to the run's log.
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message);
}

/// Log a `trace` line built like `format!`.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log::trace(::std::format!($($arg)+)) };
}

/// Log a `debug` line built like `format!`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log::debug(::std::format!($($arg)+)) };
}

/// Log an `info` line built like `format!`: `vigil_guest::info!("got {n} orders")`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log::info(::std::format!($($arg)+)) };
}

/// Log a `warn` line built like `format!`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log::warn(::std::format!($($arg)+)) };
}

/// Log an `error` line built like `format!`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log::error(::std::format!($($arg)+)) };
}
