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
/// count is logged with its next line.
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
        let in_window = self
            .window
            .is_some_and(|start| now.duration_since(start) < Duration::from_secs(1));
        if !in_window {
            if self.dropped > 0 {
                log::warn!(
                    "{name}: {} log lines dropped (an app logs at most {LINES_PER_SECOND} lines \
                     a second)",
                    self.dropped
                );
            }
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
}
