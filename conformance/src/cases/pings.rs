//! Pings and pongs: every payload size a control frame may have and the
//! first it may not, binary payloads, unsolicited pongs, bursts.

use std::time::Duration;

use super::binary_payload;
use crate::case::{Case, Category};
use crate::frame::{Frame, Length};
use crate::session::Expected;

const PONG: &str = "a pong with the same payload (RFC 6455 §5.5.2, §5.5.3), then close 1000 echoed";
const TOO_LONG: &str =
    "fail the connection: close 1002 (RFC 6455 §5.5: control frames carry at most 125 bytes)";

pub(super) fn add(cases: &mut Vec<Case>) {
    for size in [0usize, 1, 2, 16, 64, 100, 124, 125] {
        cases.push(Case::new(
            format!("pings.payload.{size}"),
            Category::Pings,
            format!("a ping with {size} payload bytes"),
            PONG,
            move |s| {
                let payload = binary_payload(size);
                s.send(&[Frame::ping(payload.clone())])?;
                s.expect_pong(&payload)?;
                s.close_normally()
            },
        ));
    }
    type Payload = fn() -> Vec<u8>;
    let binaries: [(&str, Payload); 4] = [
        ("low-bytes", || (0x00..=0x7c).collect()),
        ("high-bytes", || (0x80..=0xfc).collect()),
        ("ff-and-nul", || [0xff, 0x00, 0xfe, 0x00, 0xff].repeat(25)),
        ("invalid-utf8", || b"\xff\xfe\xc0\xaf\xed\xa0\x80".to_vec()),
    ];
    for (name, payload) in binaries {
        cases.push(Case::new(
            format!("pings.binary.{name}"),
            Category::Pings,
            format!("a ping with a binary payload ({name}); ping payloads are not text"),
            PONG,
            move |s| {
                s.send(&[Frame::ping(payload())])?;
                s.expect_pong(&payload())?;
                s.close_normally()
            },
        ));
    }
    for size in [0usize, 10, 125] {
        cases.push(Case::new(
            format!("pings.chunked.{size}"),
            Category::Pings,
            format!("a ping with {size} payload bytes written one byte at a time"),
            PONG,
            move |s| {
                let payload = binary_payload(size);
                s.send_chunked(&[Frame::ping(payload.clone())], 1, Duration::ZERO)?;
                s.expect_pong(&payload)?;
                s.close_normally()
            },
        ));
    }
    for size in [126usize, 127, 1000, 65536] {
        cases.push(Case::new(
            format!("pings.too-long.{size}"),
            Category::Pings,
            format!("a ping with {size} payload bytes"),
            TOO_LONG,
            move |s| {
                s.send(&[Frame::ping(binary_payload(size))])?;
                s.expect_fail(&[1002])
            },
        ));
    }
    cases.push(Case::new(
        "pings.too-long.126-chunked",
        Category::Pings,
        "a ping with 126 payload bytes written one byte at a time",
        TOO_LONG,
        |s| {
            s.send_chunked(&[Frame::ping(binary_payload(126))], 1, Duration::ZERO)?;
            s.expect_fail(&[1002])
        },
    ));
    cases.push(Case::new(
        "pings.pong-too-long.126",
        Category::Pings,
        "an unsolicited pong with 126 payload bytes",
        TOO_LONG,
        |s| {
            s.send(&[Frame::pong(binary_payload(126))])?;
            s.expect_fail(&[1002])
        },
    ));
    for (name, size, length) in [
        ("16bit-for-125", 125, Length::Extended16),
        ("64bit-for-5", 5, Length::Extended64),
    ] {
        cases.push(Case::new(
            format!("pings.length.{name}"),
            Category::Pings,
            format!("a ping of {size} bytes with its length in a longer form than needed"),
            "a pong with the same payload, or close 1002 (the minimal form binds the sender, RFC 6455 §5.2)",
            move |s| {
                let payload = binary_payload(size);
                s.send(&[Frame::ping(payload.clone()).length(length)])?;
                s.expect_or_fail(&[Expected::Pong(payload)], &[1002])
            },
        ));
    }

    // Unsolicited pongs are ignored (§5.5.3): the next thing the server
    // sends is the echo of the message that follows.
    for (name, payload) in [
        ("empty", Vec::new()),
        ("payload", b"unsolicited".to_vec()),
        ("125", binary_payload(125)),
    ] {
        cases.push(Case::new(
            format!("pings.unsolicited-pong.{name}"),
            Category::Pings,
            format!("an unsolicited pong ({name}), then a text message"),
            "no answer to the pong (RFC 6455 §5.5.3: no response expected); the text echoed next",
            move |s| {
                s.send(&[Frame::pong(payload.clone()), Frame::text("after the pong")])?;
                s.expect_message(true, b"after the pong")?;
                s.close_normally()
            },
        ));
    }
    cases.push(Case::new(
        "pings.unsolicited-pong.then-ping",
        Category::Pings,
        "an unsolicited pong \"a\" then a ping \"b\" in one write",
        "only the pong \"b\" comes back (RFC 6455 §5.5.3)",
        |s| {
            s.send(&[Frame::pong("a"), Frame::ping("b")])?;
            s.expect_pong(b"b")?;
            s.close_normally()
        },
    ));

    let burst = || -> Vec<Vec<u8>> { (0..10).map(|i| format!("ping {i}").into_bytes()).collect() };
    cases.push(Case::new(
        "pings.ten-in-a-row.whole",
        Category::Pings,
        "ten pings with distinct payloads in one write",
        "ten pongs in order (OK); pongs for only some, ending with the last ping's (NON-STRICT, RFC 6455 §5.5.3)",
        move |s| {
            let frames: Vec<Frame> = burst().into_iter().map(Frame::ping).collect();
            s.send(&frames)?;
            s.expect_pongs_for_burst(&burst())?;
            s.close_normally()
        },
    ));
    cases.push(Case::new(
        "pings.ten-in-a-row.chunked",
        Category::Pings,
        "ten pings with distinct payloads, written one byte at a time",
        "ten pongs in order (OK); pongs for only some, ending with the last ping's (NON-STRICT, RFC 6455 §5.5.3)",
        move |s| {
            let frames: Vec<Frame> = burst().into_iter().map(Frame::ping).collect();
            s.send_chunked(&frames, 1, Duration::ZERO)?;
            s.expect_pongs_for_burst(&burst())?;
            s.close_normally()
        },
    ));
    cases.push(Case::new(
        "pings.ten-in-a-row.each-answered",
        Category::Pings,
        "ten pings, each sent after the previous pong arrived",
        "every ping answered by its pong (RFC 6455 §5.5.2)",
        move |s| {
            for payload in burst() {
                s.send(&[Frame::ping(payload.clone())])?;
                s.expect_pong(&payload)?;
            }
            s.close_normally()
        },
    ));
    cases.push(Case::new(
        "pings.after-message",
        Category::Pings,
        "a text message and a ping in one write",
        "the echo and the pong, in either order, then close 1000 echoed",
        |s| {
            s.send(&[Frame::text("message"), Frame::ping("ping")])?;
            s.expect_unordered(&[Expected::text("message"), Expected::Pong(b"ping".to_vec())])?;
            s.close_normally()
        },
    ));
}
