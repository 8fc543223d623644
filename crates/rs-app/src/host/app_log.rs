//! What an app logs, made safe to log: its text often comes from clients
//! (a name, a message, a header), so the characters that could forge or
//! hide log lines are escaped, a line is cut at [`MAX_LINE`] bytes, and an
//! app may log at most [`LINES_PER_SECOND`] lines a second.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// The longest app log line kept whole, in bytes of the app's text.
pub(crate) const MAX_LINE: usize = 8 << 10;

/// The lines an app may log in a second; those beyond are counted, and the
/// count is logged once that second is over.
pub(crate) const LINES_PER_SECOND: u32 = 100;

/// `text` with every character that could start a new line, move the
/// cursor, change a terminal or reorder what is shown escaped as Rust
/// escapes it (`\n`, `\r`, `\u{1b}`, `\u{2028}`, `\u{202e}`): C0 and C1
/// controls and DEL (tab excepted), the Unicode line and paragraph
/// separators, and the bidirectional controls. Borrowed when there is none.
pub(crate) fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Counts an app's log lines per second (a window from its first line).
#[derive(Debug, Default)]
pub(crate) struct LogLimit {
    window: Option<Instant>,
    lines: u32,
    dropped: u64,
}

impl LogLimit {
    /// Whether a line of app `name` may be logged now; logs how many were
    /// dropped in the window before, if any, when a new window starts.
    pub(crate) fn admit(&mut self, name: &str) -> bool {
        self.admit_at(name, Instant::now())
    }

    fn admit_at(&mut self, name: &str, now: Instant) -> bool {
        if !self.in_window(now) {
            self.report(name);
            *self = Self {
                window: Some(now),
                lines: 0,
                dropped: 0,
            };
        }
        if self.lines >= LINES_PER_SECOND {
            self.dropped += 1;
            return false;
        }
        self.lines += 1;
        true
    }

    /// When the count of the lines dropped in this second is due to be
    /// logged (the second's end), if any were dropped: an app thread that
    /// goes to sleep wakes for it, so the count does not wait for a next
    /// line that may never come.
    pub(crate) fn summary_due(&self) -> Option<Instant> {
        let start = self.window.filter(|_| self.dropped > 0)?;
        Some(start + Duration::from_secs(1))
    }

    /// Logs the count of the lines dropped in the last second once that
    /// second is over.
    pub(crate) fn report_if_due(&mut self, name: &str) {
        if self.dropped > 0 {
            self.report_due_at(name, Instant::now());
        }
    }

    fn report_due_at(&mut self, name: &str, now: Instant) {
        if !self.in_window(now) {
            self.report(name);
        }
    }

    /// Logs the count of the lines dropped so far, if any (also when the
    /// app stops within the second).
    pub(crate) fn report(&mut self, name: &str) {
        if self.dropped > 0 {
            log::warn!(
                "{name}: {} log lines dropped (an app logs at most {LINES_PER_SECOND} lines a \
                 second)",
                self.dropped
            );
            self.dropped = 0;
        }
    }

    fn in_window(&self, now: Instant) -> bool {
        self.window
            .is_some_and(|start| now.duration_since(start) < Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_could_forge_or_hide_a_line_is_escaped() {
        assert!(matches!(escaped("plain é ✓\ttab"), Cow::Borrowed(_)));
        assert_eq!(
            escaped("a\nforged\r\u{1b}[31m\u{0}\u{7f}\u{85}\u{9b}"),
            r"a\nforged\r\u{1b}[31m\u{0}\u{7f}\u{85}\u{9b}"
        );
        assert_eq!(
            escaped("x\u{2028}y\u{2029}\u{202e}z\u{2066}\u{200f}"),
            r"x\u{2028}y\u{2029}\u{202e}z\u{2066}\u{200f}"
        );
    }

    #[test]
    fn lines_past_the_limit_are_dropped_until_the_next_second() {
        let mut limit = LogLimit::default();
        let start = Instant::now();
        for _ in 0..LINES_PER_SECOND {
            assert!(limit.admit_at("app", start));
        }
        assert!(!limit.admit_at("app", start + Duration::from_millis(999)));
        assert_eq!(limit.dropped, 1);
        // A new second: counted afresh.
        assert!(limit.admit_at("app", start + Duration::from_secs(1)));
        assert_eq!((limit.lines, limit.dropped), (1, 0));
    }

    #[test]
    fn the_dropped_count_is_due_when_its_second_is_over() {
        let mut limit = LogLimit::default();
        let start = Instant::now();
        assert_eq!(limit.summary_due(), None);
        for _ in 0..=LINES_PER_SECOND {
            limit.admit_at("app", start);
        }
        let due = start + Duration::from_secs(1);
        assert_eq!(limit.summary_due(), Some(due));
        // Not before the second is over: lines may still be dropped in it.
        limit.report_due_at("app", start + Duration::from_millis(999));
        assert_eq!(limit.summary_due(), Some(due));
        limit.report_due_at("app", due);
        assert_eq!((limit.summary_due(), limit.dropped), (None, 0));
        // The second's count is reported once: the window goes on, full.
        assert!(!limit.admit_at("app", start + Duration::from_millis(999)));
        limit.report("app");
        assert_eq!(limit.summary_due(), None);
    }
}
