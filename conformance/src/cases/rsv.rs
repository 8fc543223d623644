//! Reserved bits: each combination of RSV1-RSV3 on data, control and
//! continuation frames, alone and after a valid message.

use crate::case::{Case, Category};
use crate::frame::Frame;
use crate::session::Expected;

const EXPECT: &str = "fail the connection: close 1002 (RFC 6455 §5.2: RSV bits MUST be 0 \
                      without a negotiated extension, else the receiver MUST fail)";

pub(super) fn add(cases: &mut Vec<Case>) {
    for rsv in 1..=7u8 {
        let bits = format!("{rsv:03b}");
        let name = |what: &str| format!("rsv.{bits}.{what}");
        let simple: [(&str, Frame); 5] = [
            ("text", Frame::text("Hello")),
            ("binary", Frame::binary(vec![0, 1, 2, 3])),
            ("ping", Frame::ping("ping")),
            ("pong", Frame::pong("pong")),
            ("close", Frame::close(1000, "")),
        ];
        for (what, frame) in simple {
            let frame = frame.rsv(rsv);
            cases.push(Case::new(
                name(what),
                Category::ReservedBits,
                format!("a {what} frame with RSV bits {bits}"),
                EXPECT,
                move |s| {
                    s.send(std::slice::from_ref(&frame))?;
                    s.expect_fail(&[1002])
                },
            ));
        }
        cases.push(Case::new(
            name("continuation"),
            Category::ReservedBits,
            format!("a text message in two fragments, the continuation with RSV bits {bits}"),
            EXPECT,
            move |s| {
                s.send(&[
                    Frame::text("Hel").fin(false),
                    Frame::continuation("lo").rsv(rsv),
                ])?;
                s.expect_fail(&[1002])
            },
        ));
        cases.push(Case::new(
            name("after-echo"),
            Category::ReservedBits,
            format!("a valid text message; once echoed, a text frame with RSV bits {bits}"),
            format!("the first message echoed, then {EXPECT}"),
            move |s| {
                s.send(&[Frame::text("valid")])?;
                s.expect_message(true, b"valid")?;
                s.send(&[Frame::text("invalid").rsv(rsv)])?;
                s.expect_fail(&[1002])
            },
        ));
        cases.push(Case::new(
            name("same-write"),
            Category::ReservedBits,
            format!("a valid text message and a text frame with RSV bits {bits} in one write"),
            format!("the first message echoed (NON-STRICT without it), then {EXPECT}"),
            move |s| {
                s.send(&[Frame::text("valid"), Frame::text("invalid").rsv(rsv)])?;
                s.expect_fail_after_optional(&Expected::text("valid"), &[1002])
            },
        ));
    }
}
