//! The demo's voice in the terminal: one short line per event, aligned, stamped with the
//! time since the demo started, coloured only when stdout is a terminal (and `NO_COLOR`
//! is not set).
//!
//! ```text
//!   +4.1s  fault    POST /api/checkout: 100% errors
//!                   the payment backend fails; /healthz still answers ok
//! ```

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// What kind of event a line announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// Setup done, something started.
    Ready,
    /// Everything passes.
    Healthy,
    /// A fault was switched on.
    Fault,
    /// The faults were switched off.
    Healed,
    /// A probe's outcome changed.
    Probe,
    /// An alert went pending.
    Pending,
    /// An alert fired.
    Firing,
    /// A firing alert resolved.
    Resolved,
    /// A pending alert went away before it fired.
    Cleared,
    /// The story is over.
    Done,
    /// Something went wrong.
    Failed,
}

impl Tag {
    fn label(self) -> &'static str {
        match self {
            Tag::Ready => "ready",
            Tag::Healthy => "healthy",
            Tag::Fault => "fault",
            Tag::Healed => "healed",
            Tag::Probe => "probe",
            Tag::Pending => "pending",
            Tag::Firing => "firing",
            Tag::Resolved => "resolved",
            Tag::Cleared => "cleared",
            Tag::Done => "done",
            Tag::Failed => "failed",
        }
    }

    /// ANSI style of the label.
    fn style(self) -> &'static str {
        match self {
            Tag::Ready | Tag::Probe => "36",                    // cyan
            Tag::Healthy | Tag::Healed | Tag::Resolved => "32", // green
            Tag::Fault | Tag::Pending => "33",                  // yellow
            Tag::Firing | Tag::Failed => "1;31",                // bold red
            Tag::Cleared => "2",                                // dim
            Tag::Done => "1;32",                                // bold green
        }
    }
}

/// Width of the time stamp column.
const STAMP: usize = 7;
/// Width of the tag column (the longest tag and a space).
const TAG: usize = 9;

/// `+12.3s`, right-aligned.
fn stamp(elapsed: Duration) -> String {
    format!("{:>STAMP$}", format!("+{:.1}s", elapsed.as_secs_f64()))
}

/// One event line, without the newline.
pub fn line(elapsed: Duration, tag: Tag, text: &str, color: bool) -> String {
    let label = format!("{:<TAG$}", tag.label());
    if color {
        format!(
            "\x1b[2m{}\x1b[0m  \x1b[{}m{label}\x1b[0m{text}",
            stamp(elapsed),
            tag.style()
        )
    } else {
        format!("{}  {label}{text}", stamp(elapsed))
    }
}

/// A continuation line under an event, aligned with its text.
pub fn more_line(text: &str, color: bool) -> String {
    let pad = " ".repeat(STAMP + 2 + TAG);
    if color {
        format!("{pad}\x1b[2m{text}\x1b[0m")
    } else {
        format!("{pad}{text}")
    }
}

/// Whether to colour: stdout is a terminal, `NO_COLOR` is unset and `TERM` is not `dumb`.
pub fn want_color() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// Prints the story.
#[derive(Debug, Clone)]
pub struct Narrator {
    start: Instant,
    color: bool,
}

impl Narrator {
    /// Times are relative to `start`.
    pub fn new(start: Instant, color: bool) -> Narrator {
        Narrator { start, color }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// An event.
    pub fn say(&self, tag: Tag, text: impl AsRef<str>) {
        self.print(&line(self.elapsed(), tag, text.as_ref(), self.color));
    }

    /// A detail of the event above.
    pub fn more(&self, text: impl AsRef<str>) {
        self.print(&more_line(text.as_ref(), self.color));
    }

    /// A line without time stamp (the banner, instructions).
    pub fn plain(&self, text: impl AsRef<str>) {
        self.print(text.as_ref());
    }

    /// Bold, when colouring.
    pub fn bold(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn print(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        // A closed stdout (`vigil demo | head`) must not stop the demo.
        if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
            tracing::debug!("stdout is closed; the story goes on untold");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_aligned_and_plain_without_colour() {
        assert_eq!(
            line(
                Duration::from_millis(4120),
                Tag::Fault,
                "checkout breaks",
                false
            ),
            "  +4.1s  fault    checkout breaks"
        );
        assert_eq!(
            line(Duration::from_secs(125), Tag::Resolved, "x", false),
            "+125.0s  resolved x"
        );
        assert_eq!(
            more_line("detail", false),
            format!("{}detail", " ".repeat(18))
        );
        let coloured = line(Duration::ZERO, Tag::Firing, "x", true);
        assert!(coloured.contains("\x1b[1;31mfiring"), "{coloured:?}");
    }
}
