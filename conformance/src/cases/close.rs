//! The closing handshake: valid codes echoed, invalid codes and malformed
//! close payloads refused, nothing processed after a close.

use std::time::Duration;

use crate::case::{Case, Category};
use crate::frame::Frame;

const FAIL_1002: &str = "fail the connection: close 1002";

pub(super) fn add(cases: &mut Vec<Case>) {
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        cases.push(Case::new(
            format!("close.valid.{code}"),
            Category::Close,
            format!("a close frame with code {code}"),
            format!(
                "close {code} echoed (OK; another valid code is NON-STRICT), then the server closes TCP \
                 (RFC 6455 §5.5.1, §7.4)"
            ),
            move |s| {
                s.send(&[Frame::close(code, "")])?;
                s.expect_close_echo(Some(code))
            },
        ));
    }
    for code in [1012u16, 1013, 1014] {
        cases.push(Case::new(
            format!("close.registered.{code}"),
            Category::Close,
            format!("a close frame with code {code} (IANA-registered after RFC 6455)"),
            format!(
                "close {code} echoed, or close 1002 (RFC 6455 reserves it, the IANA registry defines it)"
            ),
            move |s| {
                s.send(&[Frame::close(code, "")])?;
                s.expect_close_echo_or_fail(code, &[1002])
            },
        ));
    }
    cases.push(Case::new(
        "close.empty",
        Category::Close,
        "a close frame without payload",
        "a close frame without code or with 1000, then the server closes TCP (RFC 6455 §5.5.1)",
        |s| {
            s.send(&[Frame::close_raw(Vec::new())])?;
            s.expect_close_echo(None)
        },
    ));
    for (name, reason) in [
        ("ascii", "goodbye".to_owned()),
        ("multibyte", "κόσμε € 𝄞 — bye".to_owned()),
        ("123-bytes", "r".repeat(123)),
    ] {
        cases.push(Case::new(
            format!("close.reason.{name}"),
            Category::Close,
            format!(
                "close 1000 with a {}-byte UTF-8 reason ({name})",
                reason.len()
            ),
            "close 1000 echoed (the reason may differ), then the server closes TCP",
            move |s| {
                s.send(&[Frame::close(1000, &reason)])?;
                s.expect_close_echo(Some(1000))
            },
        ));
    }
    cases.push(Case::new(
        "close.chunked",
        Category::Close,
        "close 1000 with the reason \"bye\", written one byte at a time",
        "close 1000 echoed, then the server closes TCP",
        |s| {
            s.send_chunked(&[Frame::close(1000, "bye")], 1, Duration::ZERO)?;
            s.expect_close_echo(Some(1000))
        },
    ));

    for code in [
        0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        cases.push(Case::new(
            format!("close.invalid-code.{code}"),
            Category::Close,
            format!("a close frame with code {code}, which may not be sent"),
            format!("{FAIL_1002} (RFC 6455 §7.4.1, §7.4.2: the code is not valid on the wire)"),
            move |s| {
                s.send(&[Frame::close(code, "")])?;
                s.expect_fail(&[1002])
            },
        ));
    }
    cases.push(Case::new(
        "close.payload-1-byte",
        Category::Close,
        "a close frame with a 1-byte payload",
        format!("{FAIL_1002} (RFC 6455 §5.5.1: a body starts with a 2-byte code)"),
        |s| {
            s.send(&[Frame::close_raw(vec![0x03])])?;
            s.expect_fail(&[1002])
        },
    ));
    cases.push(Case::new(
        "close.payload-126-bytes",
        Category::Close,
        "close 1000 with a 124-byte reason (126-byte payload)",
        format!("{FAIL_1002} (RFC 6455 §5.5: control frames carry at most 125 bytes)"),
        |s| {
            s.send(&[Frame::close(1000, "r".repeat(124))])?;
            s.expect_fail(&[1002])
        },
    ));
    for (name, reason) in [
        ("surrogate", &b"\xed\xa0\x80"[..]),
        ("overlong", b"\xc0\xaf"),
        ("truncated", b"ok \xe2\x82"),
        ("impossible-ff", b"\xff"),
    ] {
        cases.push(Case::new(
            format!("close.reason-invalid-utf8.{name}"),
            Category::Close,
            format!(
                "close 1000 with a reason that is not UTF-8: {}",
                crate::frame::preview(reason, 16)
            ),
            "fail the connection: close 1007 (RFC 6455 §5.5.1, §8.1); 1002 is NON-STRICT",
            move |s| {
                s.send(&[Frame::close(1000, reason)])?;
                s.expect_fail_with(&[1007], &[1002])
            },
        ));
    }

    // After a close frame nothing else is processed (§5.5.1, §1.4).
    let after: [(&str, Frame); 4] = [
        ("text", Frame::text("after close")),
        ("binary", Frame::binary(vec![1, 2, 3])),
        ("ping", Frame::ping("after close")),
        ("second-close", Frame::close(3000, "")),
    ];
    for (name, frame) in after {
        cases.push(Case::new(
            format!("close.data-after.{name}"),
            Category::Close,
            format!("close 1000 and a {name} frame in one write"),
            "only close 1000 echoed; the frame after the close is not answered (RFC 6455 §5.5.1)",
            move |s| {
                s.send(&[Frame::close(1000, ""), frame.clone()])?;
                s.expect_close_echo(Some(1000))
            },
        ));
    }
    cases.push(Case::new(
        "close.data-after.separate-write",
        Category::Close,
        "close 1000, then 50 ms later a text frame",
        "only close 1000 echoed (RFC 6455 §5.5.1)",
        |s| {
            s.send(&[Frame::close(1000, "")])?;
            s.pause(Duration::from_millis(50));
            s.send(&[Frame::text("after close")])?;
            s.expect_close_echo(Some(1000))
        },
    ));
    let partial: [(&str, Frame); 3] = [
        ("text", Frame::text("partial").fin(false)),
        ("binary", Frame::binary(vec![1, 2]).fin(false)),
        (
            "text-incomplete-code-point",
            Frame::text(b"ok \xe2\x82".to_vec()).fin(false),
        ),
    ];
    for (name, first) in partial {
        cases.push(Case::new(
            format!("close.after-partial-message.{name}"),
            Category::Close,
            format!("a first {name} fragment, then close 1000"),
            "close 1000 echoed and the unfinished message dropped (control frames may come \
             between fragments, RFC 6455 §5.4, §5.5.1)",
            move |s| {
                s.send(&[first.clone(), Frame::close(1000, "")])?;
                s.expect_close_echo(Some(1000))
            },
        ));
    }
    cases.push(Case::new(
        "close.after-echo",
        Category::Close,
        "a text message; once echoed, close 1001 with a reason",
        "close 1001 echoed, then the server closes TCP",
        |s| {
            s.send(&[Frame::text("Hello")])?;
            s.expect_message(true, b"Hello")?;
            s.send(&[Frame::close(1001, "going away")])?;
            s.expect_close_echo(Some(1001))
        },
    ));
}
