//! The runner can fail: deliberately wrong mini servers get FAILED (or
//! NON-STRICT) verdicts for exactly the cases that cover their flaw, while
//! the same mini server without the flaw passes them.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use rs_conformance::cases::{self, Settings};
use rs_conformance::{CaseResult, RunConfig, Target, Verdict, report, runner};
use support::Flaws;

/// The mini servers' message size limit: small, so the limits category
/// runs quickly while still crossing it.
const MAX_MESSAGE: usize = 2 << 20;

fn run_against(flaws: Flaws) -> Vec<CaseResult> {
    let addr = support::start(flaws, MAX_MESSAGE);
    let target = Target::parse(&format!("ws://{addr}/echo")).unwrap();
    let cases = cases::all(&Settings {
        max_message_size: MAX_MESSAGE,
    });
    let config = RunConfig {
        jobs: 8,
        case_timeout: Duration::from_millis(2500),
        fail_fast_window: Duration::from_millis(700),
    };
    runner::run(&target, &cases, &config, &|_| {})
}

fn ids(results: &[CaseResult], verdict: Verdict) -> BTreeSet<String> {
    results
        .iter()
        .filter(|r| r.verdict == verdict)
        .map(|r| r.id.clone())
        .collect()
}

fn all_ids(filter: impl Fn(&str) -> bool) -> BTreeSet<String> {
    cases::all(&Settings {
        max_message_size: MAX_MESSAGE,
    })
    .into_iter()
    .map(|c| c.id)
    .filter(|id| filter(id))
    .collect()
}

/// Cases whose server reads whole frames before checking them get
/// NON-STRICT: the mini server validates UTF-8 per frame, not per byte.
fn within_frame(id: &str) -> bool {
    id.starts_with("utf8.invalid.") && id.ends_with(".within-frame")
}

fn details(results: &[CaseResult], verdict: Verdict) -> String {
    results
        .iter()
        .filter(|r| r.verdict == verdict)
        .map(|r| format!("{}: {}", r.id, r.detail))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_correct_mini_server_passes_every_case() {
    let results = run_against(Flaws::default());
    assert_eq!(
        ids(&results, Verdict::Failed),
        BTreeSet::new(),
        "{}",
        details(&results, Verdict::Failed)
    );
    assert_eq!(ids(&results, Verdict::NonStrict), all_ids(within_frame));
}

#[test]
fn a_server_accepting_invalid_utf8_fails_exactly_the_invalid_utf8_cases() {
    let results = run_against(Flaws {
        accepts_invalid_utf8: true,
        ..Flaws::default()
    });
    let expected = all_ids(|id| id.starts_with("utf8.invalid."));
    assert!(expected.len() > 100, "{}", expected.len());
    assert_eq!(ids(&results, Verdict::Failed), expected);
    let echoed = results
        .iter()
        .find(|r| r.id == "utf8.invalid.surrogate-d800.whole")
        .unwrap();
    assert!(
        echoed.detail.contains("not valid UTF-8"),
        "{}",
        echoed.detail
    );

    // The report names each failed case with what was sent and what came back.
    let failures = report::failures(&results);
    if std::env::var_os("SHOW_REPORT").is_some() {
        println!("{}\n{failures}", report::table(&results));
    }
    let surrogate = failures
        .split("FAILED ")
        .find(|block| block.starts_with("utf8.invalid.surrogate-d800.whole "))
        .unwrap();
    for part in [
        "sent:     a text message \"ok \" + ed a0 80 + \" tail\" in one frame",
        "expected: fail the connection: close 1007",
        "got:      the server sent a text message that is not valid UTF-8 (11 bytes: 6f 6b 20 ed a0 80",
        "→ text fin=1 rsv=000 len=11 payload 6f 6b 20 ed a0 80 20 74 61 69 6c | 81 8b",
    ] {
        assert!(surrogate.contains(part), "{part:?} not in {surrogate}");
    }
    let table = report::table(&results);
    let utf8_row = table.lines().find(|l| l.starts_with("utf8 ")).unwrap();
    let counts: Vec<&str> = utf8_row.split_whitespace().collect();
    let invalid = expected.len().to_string();
    assert_eq!(counts[4], invalid, "{table}");
}

#[test]
fn a_server_never_answering_pings_fails_exactly_the_cases_expecting_pongs() {
    let results = run_against(Flaws {
        ignores_pings: true,
        ..Flaws::default()
    });
    let expected = all_ids(|id| {
        let ping_case = id.starts_with("pings.")
            && !id.starts_with("pings.too-long.")
            && !id.starts_with("pings.pong-too-long.")
            && !matches!(
                id,
                "pings.unsolicited-pong.empty"
                    | "pings.unsolicited-pong.payload"
                    | "pings.unsolicited-pong.125"
            );
        ping_case || id.starts_with("fragmentation.ping-between.")
    });
    assert_eq!(expected.len(), 26);
    assert_eq!(ids(&results, Verdict::Failed), expected);
}

#[test]
fn a_server_echoing_invalid_close_codes_fails_exactly_the_invalid_code_cases() {
    let results = run_against(Flaws {
        echoes_invalid_close_codes: true,
        ..Flaws::default()
    });
    let expected = all_ids(|id| id.starts_with("close.invalid-code."));
    assert_eq!(expected.len(), 13);
    assert_eq!(ids(&results, Verdict::Failed), expected);
    let echoed = results
        .iter()
        .find(|r| r.id == "close.invalid-code.1005")
        .unwrap();
    assert!(
        echoed.detail.contains("close code 1005"),
        "{}",
        echoed.detail
    );
}

#[test]
fn a_server_ignoring_reserved_bits_fails_exactly_the_rsv_cases() {
    let results = run_against(Flaws {
        ignores_reserved_bits: true,
        ..Flaws::default()
    });
    let expected = all_ids(|id| id.starts_with("rsv."));
    assert_eq!(expected.len(), 56);
    assert_eq!(ids(&results, Verdict::Failed), expected);
}

#[test]
fn dropping_tcp_without_a_close_frame_is_non_strict_not_failed() {
    let results = run_against(Flaws {
        drops_without_close: true,
        ..Flaws::default()
    });
    assert_eq!(
        ids(&results, Verdict::Failed),
        BTreeSet::new(),
        "{}",
        details(&results, Verdict::Failed)
    );
    let non_strict = ids(&results, Verdict::NonStrict);
    for id in [
        "rsv.100.text",
        "opcodes.0x3.empty",
        "fragmentation.continuation-without-start.final-empty",
        "utf8.invalid.surrogate-d800.whole",
        "close.invalid-code.1005",
        "limits.over-max.one-frame",
    ] {
        assert!(non_strict.contains(id), "{id} is not NON-STRICT");
    }
    let detail = &results
        .iter()
        .find(|r| r.id == "opcodes.0x3.empty")
        .unwrap()
        .detail;
    assert!(detail.contains("without a close frame"), "{detail}");
    // Cases that need no failure are unaffected.
    assert!(!non_strict.iter().any(|id| id.starts_with("framing.text.")));
}

#[test]
fn checking_utf8_only_at_the_message_end_is_non_strict_for_the_fail_fast_cases() {
    let results = run_against(Flaws {
        checks_utf8_at_message_end: true,
        ..Flaws::default()
    });
    assert_eq!(ids(&results, Verdict::Failed), BTreeSet::new());
    let expected = all_ids(|id| {
        id.starts_with("utf8.invalid.")
            && (id.ends_with(".fail-fast")
                || id.ends_with(".split-fail-fast")
                || id.ends_with(".then-ascii")
                || id.ends_with(".within-frame"))
    });
    assert_eq!(ids(&results, Verdict::NonStrict), expected);
}

#[test]
fn answering_a_close_with_another_valid_code_is_non_strict() {
    let results = run_against(Flaws {
        answers_close_with_1000: true,
        ..Flaws::default()
    });
    assert_eq!(ids(&results, Verdict::Failed), BTreeSet::new());
    let expected = all_ids(|id| {
        (id.starts_with("close.valid.") && id != "close.valid.1000")
            || id.starts_with("close.registered.")
            || id == "close.after-echo"
            || within_frame(id)
    });
    assert_eq!(ids(&results, Verdict::NonStrict), expected);
    let detail = &results
        .iter()
        .find(|r| r.id == "close.valid.4000")
        .unwrap()
        .detail;
    assert!(
        detail.contains("answered close 4000 with close 1000"),
        "{detail}"
    );
}
