//! UTF-8: valid text (also split across fragments at every byte) and the
//! invalid sequences of the usual test corpora (Markus Kuhn's stress test
//! file): unexpected continuations, lonely and truncated sequences,
//! impossible bytes, overlong forms, surrogates and code points above
//! U+10FFFF. Where the server can see the error before the message ends, it
//! should fail at once (OK) rather than at the end (NON-STRICT).

use crate::case::{Case, Category};
use crate::frame::{Frame, opcode};
use crate::session::Session;

use super::fragments;

const ECHO: &str = "the text echoed unchanged, then close 1000 echoed (RFC 6455 §5.6)";
const FAIL_1007: &str = "fail the connection: close 1007 (RFC 6455 §8.1: invalid UTF-8 in a \
                         text message MUST fail the connection; §7.4.1)";
const FAIL_FAST: &str = "close 1007 as soon as the fragment holding the invalid sequence \
                         arrived, before the message ends (OK); only at the message end: \
                         NON-STRICT (RFC 6455 §8.1, §5.6)";

/// Valid text: boundaries of each sequence length and known oddities.
const VALID: [(&str, &[u8]); 16] = [
    ("kosme", "κόσμε".as_bytes()),
    ("hello-mixed", "Hello-µ@ßöäüàá-UTF-8!!".as_bytes()),
    ("u+0000", b"\x00"),
    ("u+007f", b"\x7f"),
    ("u+0080", b"\xc2\x80"),
    ("u+07ff", b"\xdf\xbf"),
    ("u+0800", b"\xe0\xa0\x80"),
    ("u+d7ff", b"\xed\x9f\xbf"),
    ("u+e000", b"\xee\x80\x80"),
    ("u+fffd", b"\xef\xbf\xbd"),
    ("u+fffe-noncharacter", b"\xef\xbf\xbe"),
    ("u+ffff-noncharacter", b"\xef\xbf\xbf"),
    ("u+10000", b"\xf0\x90\x80\x80"),
    ("u+10ffff", b"\xf4\x8f\xbf\xbf"),
    ("bom", b"\xef\xbb\xbfBOM"),
    (
        "one-of-each-length",
        "a\u{00e9}\u{20ac}\u{1d11e}".as_bytes(),
    ),
];

/// Sequences that are invalid as soon as their last byte is seen.
const INVALID: [(&str, &[u8]); 37] = [
    ("continuation-80", b"\x80"),
    ("continuation-bf", b"\xbf"),
    ("continuations-80-bf-80", b"\x80\xbf\x80"),
    ("lonely-c0", b"\xc0\x20"),
    ("lonely-c2", b"\xc2\x20"),
    ("lonely-e0", b"\xe0\x20"),
    ("lonely-e1-80", b"\xe1\x80\x20"),
    ("lonely-f0", b"\xf0\x20"),
    (
        "incomplete-sequences-concatenated",
        b"\xc2\xe2\x82\xf0\x9f\x98",
    ),
    ("impossible-fe", b"\xfe"),
    ("impossible-ff", b"\xff"),
    ("impossible-fe-fe-ff-ff", b"\xfe\xfe\xff\xff"),
    ("overlong-2-slash", b"\xc0\xaf"),
    ("overlong-3-slash", b"\xe0\x80\xaf"),
    ("overlong-4-slash", b"\xf0\x80\x80\xaf"),
    ("overlong-5-slash", b"\xf8\x80\x80\x80\xaf"),
    ("overlong-6-slash", b"\xfc\x80\x80\x80\x80\xaf"),
    ("overlong-max-2", b"\xc1\xbf"),
    ("overlong-max-3", b"\xe0\x9f\xbf"),
    ("overlong-max-4", b"\xf0\x8f\xbf\xbf"),
    ("overlong-nul-2", b"\xc0\x80"),
    ("overlong-nul-3", b"\xe0\x80\x80"),
    ("overlong-nul-4", b"\xf0\x80\x80\x80"),
    ("surrogate-d800", b"\xed\xa0\x80"),
    ("surrogate-db7f", b"\xed\xad\xbf"),
    ("surrogate-db80", b"\xed\xae\x80"),
    ("surrogate-dbff", b"\xed\xaf\xbf"),
    ("surrogate-dc00", b"\xed\xb0\x80"),
    ("surrogate-df80", b"\xed\xbe\x80"),
    ("surrogate-dfff", b"\xed\xbf\xbf"),
    ("surrogate-pair-d800-dc00", b"\xed\xa0\x80\xed\xb0\x80"),
    ("above-10ffff-f4-90", b"\xf4\x90\x80\x80"),
    ("above-10ffff-f5", b"\xf5\x80\x80\x80"),
    ("above-10ffff-f7-bf", b"\xf7\xbf\xbf\xbf"),
    ("five-byte-f8", b"\xf8\x88\x80\x80\x80"),
    ("six-byte-fc", b"\xfc\x84\x80\x80\x80\x80"),
    (
        "kosme-then-surrogate",
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
    ),
];

/// Valid prefixes cut short: invalid only once the message ends.
const TRUNCATED: [(&str, &[u8]); 4] = [
    ("truncated-2-of-2", b"\xc2"),
    ("truncated-2-of-3", b"\xe2\x82"),
    ("truncated-3-of-4", b"\xf0\x9f\x98"),
    ("truncated-1-of-4", b"\xf4"),
];

/// Sequences checked within a single frame whose bytes arrive in two writes.
const WITHIN_FRAME: [&str; 5] = [
    "surrogate-d800",
    "overlong-2-slash",
    "impossible-ff",
    "above-10ffff-f4-90",
    "kosme-then-surrogate",
];

fn with_prefix(bad: &[u8]) -> Vec<u8> {
    let mut bytes = b"ok ".to_vec();
    bytes.extend_from_slice(bad);
    bytes
}

/// Sends `first` (which already holds an error the server can see), waits
/// for the connection to fail; if it does not, sends `rest` and expects
/// the failure then (NON-STRICT).
fn fail_fast(s: &mut Session, first: &[Frame], rest: &[Frame]) -> crate::Check {
    s.send(first)?;
    if s.expect_fail_fast(&[1007])? {
        return Ok(());
    }
    s.note("the server did not fail on the invalid fragment, only later");
    s.send(rest)?;
    s.expect_fail(&[1007])
}

pub(super) fn add(cases: &mut Vec<Case>) {
    for (name, bytes) in VALID {
        cases.push(Case::new(
            format!("utf8.valid.{name}.whole"),
            Category::Utf8,
            format!(
                "valid text {} in one frame",
                crate::frame::preview(bytes, 16)
            ),
            ECHO,
            move |s| {
                s.send(&[Frame::text(bytes)])?;
                s.expect_message(true, bytes)?;
                s.close_normally()
            },
        ));
        cases.push(Case::new(
            format!("utf8.valid.{name}.fragment-per-byte"),
            Category::Utf8,
            format!(
                "valid text {} as one fragment per byte (code points split across fragments)",
                crate::frame::preview(bytes, 16)
            ),
            format!("{ECHO}; §5.6: only the whole message must be valid"),
            move |s| {
                let pieces: Vec<Vec<u8>> = bytes.iter().map(|&b| vec![b]).collect();
                s.send(&fragments(opcode::TEXT, pieces))?;
                s.expect_message(true, bytes)?;
                s.close_normally()
            },
        ));
    }

    for (name, bad) in INVALID {
        let shown = crate::frame::preview(bad, 16);
        cases.push(Case::new(
            format!("utf8.invalid.{name}.whole"),
            Category::Utf8,
            format!("a text message \"ok \" + {shown} + \" tail\" in one frame"),
            FAIL_1007,
            move |s| {
                let mut payload = with_prefix(bad);
                payload.extend_from_slice(b" tail");
                s.send(&[Frame::text(payload)])?;
                s.expect_fail(&[1007])
            },
        ));
        cases.push(Case::new(
            format!("utf8.invalid.{name}.long"),
            Category::Utf8,
            format!("a 1 KiB text message in one frame, {shown} in its middle"),
            FAIL_1007,
            move |s| {
                // Long enough that a server may check it while copying it
                // rather than while parsing it: both must fail it.
                let mut payload = with_prefix(&"é".repeat(256).into_bytes());
                payload.extend_from_slice(bad);
                payload.extend_from_slice(&b"-".repeat(500));
                s.send(&[Frame::text(payload)])?;
                s.expect_fail(&[1007])
            },
        ));
        cases.push(Case::new(
            format!("utf8.invalid.{name}.fail-fast"),
            Category::Utf8,
            format!("a first text fragment \"ok \" + {shown}; the final fragment only if the connection is still open"),
            FAIL_FAST,
            move |s| {
                fail_fast(
                    s,
                    &[Frame::text(with_prefix(bad)).fin(false)],
                    &[Frame::continuation(" tail")],
                )
            },
        ));
        // Split after a valid lead byte: the error shows in the second
        // fragment; a third one is only sent if the server waits.
        if bad.len() >= 2 && (0xc2..=0xf4).contains(&bad[0]) {
            cases.push(Case::new(
                format!("utf8.invalid.{name}.split-fail-fast"),
                Category::Utf8,
                format!(
                    "fragments \"ok \" + {:02x} | the rest of {shown} (non-final) | \" tail\" (sent only if still open)",
                    bad[0]
                ),
                FAIL_FAST,
                move |s| {
                    fail_fast(
                        s,
                        &[
                            Frame::text(with_prefix(&bad[..1])).fin(false),
                            Frame::continuation(&bad[1..]).fin(false),
                        ],
                        &[Frame::continuation(" tail")],
                    )
                },
            ));
        }
        if WITHIN_FRAME.contains(&name) {
            cases.push(Case::new(
                format!("utf8.invalid.{name}.within-frame"),
                Category::Utf8,
                format!(
                    "one text frame \"ok \" + {shown} + 1000 more bytes; the bytes after the invalid sequence only if still open"
                ),
                "close 1007 once the invalid bytes arrived, before the frame ends (OK); \
                 only at the frame end: NON-STRICT (RFC 6455 §8.1)",
                move |s| {
                    let mut payload = with_prefix(bad);
                    let cut = payload.len();
                    payload.extend(std::iter::repeat_n(b'x', 1000));
                    let bytes = s.encode_frames(&[Frame::text(payload)]);
                    let split = bytes.len() - 1000;
                    debug_assert!(cut <= split);
                    s.send_bytes(&bytes[..split])?;
                    if s.expect_fail_fast(&[1007])? {
                        return Ok(());
                    }
                    s.note("the server did not fail on the invalid bytes, only at the frame end");
                    s.send_bytes(&bytes[split..])?;
                    s.expect_fail(&[1007])
                },
            ));
        }
    }

    for (name, cut) in TRUNCATED {
        let shown = crate::frame::preview(cut, 16);
        cases.push(Case::new(
            format!("utf8.invalid.{name}.whole"),
            Category::Utf8,
            format!("a text message ending in the incomplete sequence {shown}"),
            FAIL_1007,
            move |s| {
                s.send(&[Frame::text(with_prefix(cut))])?;
                s.expect_fail(&[1007])
            },
        ));
        cases.push(Case::new(
            format!("utf8.invalid.{name}.at-message-end"),
            Category::Utf8,
            format!("fragments \"ok \" | {shown}: the final fragment ends inside a code point"),
            format!("{FAIL_1007}; the error exists only once the message ended"),
            move |s| {
                s.send(&fragments(
                    opcode::TEXT,
                    vec![b"ok ".to_vec(), cut.to_vec()],
                ))?;
                s.expect_fail(&[1007])
            },
        ));
        cases.push(Case::new(
            format!("utf8.invalid.{name}.then-ascii"),
            Category::Utf8,
            format!("fragments \"ok \" + {shown} | \"A\" (non-final) | \" tail\" (sent only if still open)"),
            FAIL_FAST,
            move |s| {
                fail_fast(
                    s,
                    &[
                        Frame::text(with_prefix(cut)).fin(false),
                        Frame::continuation("A").fin(false),
                    ],
                    &[Frame::continuation(" tail")],
                )
            },
        ));
    }

    for (name, bytes) in [
        ("surrogate", &b"\xed\xa0\x80"[..]),
        ("impossible-ff", b"\xff\xfe"),
    ] {
        cases.push(Case::new(
            format!("utf8.binary-not-checked.{name}"),
            Category::Utf8,
            format!(
                "a binary message {} (invalid as UTF-8)",
                crate::frame::preview(bytes, 16)
            ),
            "the binary message echoed unchanged: binary data is not UTF-8 checked (RFC 6455 §5.6)",
            move |s| {
                s.send(&[Frame::binary(bytes)])?;
                s.expect_message(false, bytes)?;
                s.close_normally()
            },
        ));
    }
}
