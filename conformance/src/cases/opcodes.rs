//! Reserved opcodes: 0x3-0x7 (data) and 0xB-0xF (control), alone, with a
//! payload, after a valid message and between fragments.

use crate::case::{Case, Category};
use crate::frame::Frame;
use crate::session::Expected;

const EXPECT: &str = "fail the connection: close 1002 (RFC 6455 §5.2: on an unknown opcode \
                      the receiver MUST fail the connection)";

pub(super) fn add(cases: &mut Vec<Case>) {
    for opcode in [0x3u8, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf] {
        let kind = if opcode < 0x8 { "data" } else { "control" };
        let name = |what: &str| format!("opcodes.{opcode:#x}.{what}");
        cases.push(Case::new(
            name("empty"),
            Category::Opcodes,
            format!("a frame with reserved {kind} opcode {opcode:#x} and no payload"),
            EXPECT,
            move |s| {
                s.send(&[Frame::new(opcode, Vec::new())])?;
                s.expect_fail(&[1002])
            },
        ));
        cases.push(Case::new(
            name("payload"),
            Category::Opcodes,
            format!("a frame with reserved {kind} opcode {opcode:#x} and a 16-byte payload"),
            EXPECT,
            move |s| {
                s.send(&[Frame::new(opcode, b"reserved opcode!".to_vec())])?;
                s.expect_fail(&[1002])
            },
        ));
        cases.push(Case::new(
            name("after-echo"),
            Category::Opcodes,
            format!("a valid text message; once echoed, a frame with opcode {opcode:#x}"),
            format!("the first message echoed, then {EXPECT}"),
            move |s| {
                s.send(&[Frame::text("valid")])?;
                s.expect_message(true, b"valid")?;
                s.send(&[Frame::new(opcode, b"x".to_vec())])?;
                s.expect_fail(&[1002])
            },
        ));
        cases.push(Case::new(
            name("same-write"),
            Category::Opcodes,
            format!("a valid text message and a frame with opcode {opcode:#x} in one write"),
            format!("the first message echoed (NON-STRICT without it), then {EXPECT}"),
            move |s| {
                s.send(&[Frame::text("valid"), Frame::new(opcode, b"x".to_vec())])?;
                s.expect_fail_after_optional(&Expected::text("valid"), &[1002])
            },
        ));
        cases.push(Case::new(
            name("between-fragments"),
            Category::Opcodes,
            format!("a first text fragment, a frame with opcode {opcode:#x}, the last fragment"),
            EXPECT,
            move |s| {
                s.send(&[
                    Frame::text("Hel").fin(false),
                    Frame::new(opcode, b"x".to_vec()),
                    Frame::continuation("lo"),
                ])?;
                s.expect_fail(&[1002])
            },
        ));
    }
}
