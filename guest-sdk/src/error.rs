//! The probe error type: a message meant for the person on call.
//!
//! A probe's failure ends up as one line of text in an alert, so [`Error`] is just that
//! line, built up from the inside out (`"login: POST http://...: connection refused"`).
//! Anything that implements `std::error::Error` converts into it with `?` (its causes are
//! appended), and [`Context`] adds a prefix to any error or turns a `None` into one.

use std::fmt;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// An error message that says what broke, outermost context first.
///
/// Build one with [`Error::msg`], [`bail!`](crate::bail), [`ensure!`](crate::ensure), `?`
/// on any `std::error::Error`, or [`Context::context`]. `Error` deliberately does not
/// implement `std::error::Error` itself (like `anyhow::Error`), which is what lets every
/// standard error convert into it.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with exactly this message.
    ///
    /// ```
    /// let e = vigil_guest::Error::msg("cart is empty");
    /// assert_eq!(e.to_string(), "cart is empty");
    /// ```
    pub fn msg(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
        }
    }

    /// This error with `context` in front: `"{context}: {self}"`.
    ///
    /// ```
    /// let e = vigil_guest::Error::msg("connection refused").context("login");
    /// assert_eq!(e.to_string(), "login: connection refused");
    /// ```
    #[must_use]
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self {
            message: format!("{context}: {}", self.message),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message, by value.
    pub fn into_message(self) -> String {
        self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    /// The plain message, so that `unwrap()` and `{:?}` stay readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for Error {
    /// The error's message followed by each of its causes (`source()`) that the message
    /// does not already include, separated by `": "`.
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !text.is_empty() && !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        Self { message }
    }
}

/// Add context to errors, and turn `None` into an error, like `anyhow::Context`.
///
/// ```
/// use vigil_guest::{Context, Result};
///
/// fn port(s: &str) -> Result<u16> {
///     s.parse::<u16>().context(format!("invalid port `{s}`"))
/// }
/// assert_eq!(
///     port("80a").unwrap_err().to_string(),
///     "invalid port `80a`: invalid digit found in string",
/// );
///
/// let token: Option<&str> = None;
/// assert_eq!(
///     token.context("login response has no token").unwrap_err().to_string(),
///     "login response has no token",
/// );
/// ```
pub trait Context<T> {
    /// Prefix the error with `context` (for `Option`: the error is `context` itself).
    fn context(self, context: impl fmt::Display) -> Result<T>;

    /// Like [`Context::context`], computing the context only when there is an error.
    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for core::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::msg(format!("{context}: {e:#}")))
    }

    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| Error::msg(format!("{}: {e:#}", context())))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::msg(context))
    }

    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::msg(context()))
    }
}

/// What a probe's `run` function may return: `()` (always succeeds) or
/// `Result<(), E>` for any `E: Display`.
///
/// The error is formatted with `{:#}`, which for `anyhow::Error` includes its whole
/// chain of context ("login: connection refused" rather than just "login"). An empty
/// message is replaced by a placeholder so that a failure is never silent.
pub trait IntoRunResult {
    /// Convert into what the `run` export returns: `Err(message)` for a failed run.
    fn into_run_result(self) -> core::result::Result<(), String>;
}

impl IntoRunResult for () {
    fn into_run_result(self) -> core::result::Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Display> IntoRunResult for core::result::Result<(), E> {
    fn into_run_result(self) -> core::result::Result<(), String> {
        self.map_err(|e| {
            let message = format!("{e:#}");
            if message.trim().is_empty() {
                "probe failed with an empty error message".to_owned()
            } else {
                message
            }
        })
    }
}

/// Return early with an [`Error`] built like `format!`.
///
/// ```
/// fn check(items: usize) -> vigil_guest::Result<()> {
///     if items == 0 {
///         vigil_guest::bail!("cart is empty after adding {} item(s)", 1);
///     }
///     Ok(())
/// }
/// assert_eq!(check(0).unwrap_err().to_string(), "cart is empty after adding 1 item(s)");
/// ```
#[macro_export]
macro_rules! bail {
    ($($arg:tt)+) => {
        return ::core::result::Result::Err(::core::convert::From::from(
            $crate::Error::msg(::std::format!($($arg)+)),
        ))
    };
}

/// Return early with an [`Error`] unless a condition holds.
///
/// ```
/// fn check(status: &str) -> vigil_guest::Result<()> {
///     vigil_guest::ensure!(status == "ok", "health endpoint says `{status}`");
///     Ok(())
/// }
/// assert_eq!(check("down").unwrap_err().to_string(), "health endpoint says `down`");
/// ```
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            $crate::bail!($($arg)+);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(Inner);
    #[derive(Debug)]
    struct Inner;

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("reading config")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("file not found")
        }
    }
    impl std::error::Error for Inner {}

    #[test]
    fn std_errors_keep_their_causes() {
        let e = Error::from(Outer(Inner));
        assert_eq!(e.to_string(), "reading config: file not found");
    }

    #[test]
    fn run_results_become_messages() {
        assert_eq!(().into_run_result(), Ok(()));
        let r: core::result::Result<(), String> = Err("checkout: got 503".into());
        assert_eq!(r.into_run_result(), Err("checkout: got 503".to_owned()));
        let r: core::result::Result<(), Error> = Err(Error::msg(""));
        assert_eq!(
            r.into_run_result(),
            Err("probe failed with an empty error message".to_owned())
        );
    }

    #[test]
    fn context_on_display_errors() {
        let r: core::result::Result<(), &str> = Err("boom");
        assert_eq!(r.context("step").unwrap_err().message(), "step: boom");
    }
}
