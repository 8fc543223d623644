//! The report: a table by category, then the NON-STRICT and FAILED cases
//! with what was expected and what happened.

use std::fmt::Write as _;

use crate::case::Category;
use crate::runner::{CaseResult, Verdict};

/// The most transcript lines printed for one failed case.
const MAX_TRANSCRIPT: usize = 40;

/// Counts for one row of the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Cases run.
    pub cases: usize,
    /// OK verdicts.
    pub ok: usize,
    /// NON-STRICT verdicts.
    pub non_strict: usize,
    /// FAILED verdicts.
    pub failed: usize,
}

impl Counts {
    fn add(&mut self, verdict: Verdict) {
        self.cases += 1;
        match verdict {
            Verdict::Ok => self.ok += 1,
            Verdict::NonStrict => self.non_strict += 1,
            Verdict::Failed => self.failed += 1,
        }
    }
}

/// The counts of each category that has results, in table order, then the
/// total.
pub fn tally(results: &[CaseResult]) -> (Vec<(Category, Counts)>, Counts) {
    let mut rows = Vec::new();
    let mut total = Counts::default();
    for category in Category::ALL {
        let mut counts = Counts::default();
        for result in results.iter().filter(|r| r.category == category) {
            counts.add(result.verdict);
            total.add(result.verdict);
        }
        if counts.cases > 0 {
            rows.push((category, counts));
        }
    }
    (rows, total)
}

/// The table by category.
///
/// ```
/// use rs_conformance::report::table;
/// let text = table(&[]);
/// assert!(text.contains("category"));
/// assert!(text.contains("total"));
/// ```
pub fn table(results: &[CaseResult]) -> String {
    let (rows, total) = tally(results);
    let mut text = format!(
        "{:<15} {:>6} {:>6} {:>11} {:>7}\n",
        "category", "cases", "OK", "NON-STRICT", "FAILED"
    );
    let mut line = |name: &str, c: Counts| {
        let _ = writeln!(
            text,
            "{name:<15} {:>6} {:>6} {:>11} {:>7}",
            c.cases, c.ok, c.non_strict, c.failed
        );
    };
    for (category, counts) in rows {
        line(category.name(), counts);
    }
    line("total", total);
    text
}

/// The NON-STRICT cases, one line each with the reason.
pub fn non_strict(results: &[CaseResult]) -> String {
    let mut text = String::new();
    for result in results.iter().filter(|r| r.verdict == Verdict::NonStrict) {
        let _ = writeln!(text, "  {}: {}", result.id, result.detail);
    }
    text
}

/// The FAILED cases with what was sent, expected and seen.
pub fn failures(results: &[CaseResult]) -> String {
    let mut text = String::new();
    for result in results.iter().filter(|r| r.verdict == Verdict::Failed) {
        let _ = writeln!(
            text,
            "FAILED {} ({:.2} s)",
            result.id,
            result.elapsed.as_secs_f64()
        );
        let _ = writeln!(text, "  sent:     {}", result.title);
        let _ = writeln!(text, "  expected: {}", result.expectation);
        let _ = writeln!(text, "  got:      {}", result.detail);
        if !result.transcript.is_empty() {
            let _ = writeln!(text, "  transcript:");
            let lines = &result.transcript;
            // Long transcripts (many messages) keep their start and end.
            let (head, tail) = if lines.len() > MAX_TRANSCRIPT {
                (&lines[..MAX_TRANSCRIPT - 10], &lines[lines.len() - 10..])
            } else {
                (&lines[..], &lines[..0])
            };
            for line in head {
                let _ = writeln!(text, "    {line}");
            }
            if !tail.is_empty() {
                let _ = writeln!(
                    text,
                    "    … {} more lines …",
                    lines.len() - head.len() - tail.len()
                );
            }
            for line in tail {
                let _ = writeln!(text, "    {line}");
            }
        }
    }
    text
}

/// One line per case (for `--verbose`).
pub fn line(result: &CaseResult) -> String {
    let mut text = format!(
        "{:<10} {} ({:.2} s)",
        result.verdict.to_string(),
        result.id,
        result.elapsed.as_secs_f64()
    );
    if !result.detail.is_empty() {
        let _ = write!(text, ": {}", result.detail);
    }
    text
}
