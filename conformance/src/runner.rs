//! Running cases: each on its own connection, several at once (cases share
//! nothing, so their verdicts do not depend on the interleaving), heavy
//! ones alone at the end.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::case::{Case, Category};
use crate::session::Session;
use crate::target::Target;

/// How cases are run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunConfig {
    /// How many light cases run at once.
    pub jobs: usize,
    /// Each case's time bound (heavy cases have their own).
    pub case_timeout: Duration,
    /// How long a fail-fast case waits for the close before it sends the
    /// rest of the message.
    pub fail_fast_window: Duration,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            jobs: 4,
            case_timeout: Duration::from_secs(5),
            fail_fast_window: Duration::from_secs(2),
        }
    }
}

/// A case's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// What the RFC prefers.
    Ok,
    /// Allowed by the RFC, but not the preferred behaviour.
    NonStrict,
    /// Against the RFC (or no answer in time).
    Failed,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Ok => "OK",
            Verdict::NonStrict => "NON-STRICT",
            Verdict::Failed => "FAILED",
        })
    }
}

/// What one case found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    /// The case's id.
    pub id: String,
    /// Its category.
    pub category: Category,
    /// What was sent.
    pub title: String,
    /// What the RFC expects.
    pub expectation: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why (empty when OK): the failure, or the NON-STRICT observations.
    pub detail: String,
    /// Every frame sent and event received.
    pub transcript: Vec<String>,
    /// How long the case took.
    pub elapsed: Duration,
}

/// Runs `cases` against `target`, calling `progress` after each, and
/// returns the results in the cases' order.
pub fn run(
    target: &Target,
    cases: &[Case],
    config: &RunConfig,
    progress: &(dyn Fn(&CaseResult) + Sync),
) -> Vec<CaseResult> {
    let slots: Vec<Mutex<Option<CaseResult>>> = cases.iter().map(|_| Mutex::new(None)).collect();
    let light: Vec<usize> = (0..cases.len()).filter(|&i| !cases[i].heavy).collect();
    let heavy: Vec<usize> = (0..cases.len()).filter(|&i| cases[i].heavy).collect();
    let store = |i: usize| {
        let result = run_one(target, &cases[i], config);
        progress(&result);
        if let Ok(mut slot) = slots[i].lock() {
            *slot = Some(result);
        }
    };
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..config.jobs.clamp(1, 64) {
            scope.spawn(|| {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = light.get(n) else { break };
                    store(i);
                }
            });
        }
    });
    for i in heavy {
        store(i);
    }
    slots
        .into_iter()
        .map(|slot| slot.into_inner().ok().flatten())
        .zip(cases)
        .map(|(result, case)| {
            result.unwrap_or_else(|| {
                failed(
                    case,
                    "the case did not run".into(),
                    Vec::new(),
                    Duration::ZERO,
                )
            })
        })
        .collect()
}

/// Runs one case on a fresh connection.
pub fn run_one(target: &Target, case: &Case, config: &RunConfig) -> CaseResult {
    let timeout = case.timeout.unwrap_or(config.case_timeout);
    let started = Instant::now();
    let mut session =
        match Session::connect(target, timeout, config.fail_fast_window, seed_of(&case.id)) {
            Ok(session) => session,
            Err(failure) => return failed(case, failure.0, Vec::new(), started.elapsed()),
        };
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| case.run(&mut session)));
    let elapsed = started.elapsed();
    let transcript = session.transcript().to_vec();
    let (verdict, detail) = match outcome {
        Ok(Err(failure)) => (Verdict::Failed, failure.0),
        Err(_) => (
            Verdict::Failed,
            "the runner itself panicked (a bug in the case)".into(),
        ),
        Ok(Ok(())) if !session.notes().is_empty() => {
            (Verdict::NonStrict, session.notes().join("; "))
        }
        Ok(Ok(())) => (Verdict::Ok, String::new()),
    };
    CaseResult {
        id: case.id.clone(),
        category: case.category,
        title: case.title.clone(),
        expectation: case.expectation.clone(),
        verdict,
        detail,
        transcript,
        elapsed,
    }
}

fn failed(case: &Case, detail: String, transcript: Vec<String>, elapsed: Duration) -> CaseResult {
    CaseResult {
        id: case.id.clone(),
        category: case.category,
        title: case.title.clone(),
        expectation: case.expectation.clone(),
        verdict: Verdict::Failed,
        detail,
        transcript,
        elapsed,
    }
}

/// FNV-1a of the id: each case masks with the same keys in every run.
fn seed_of(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
