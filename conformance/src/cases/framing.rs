//! Framing: payload sizes around every length-form boundary, sent whole and
//! in small chunks; length forms; masking.

use std::time::Duration;

use super::{binary_payload, text_payload};
use crate::case::{Case, Category};
use crate::frame::{Frame, Length};
use crate::session::Expected;

const ECHO: &str = "the same message echoed, then close 1000 echoed (RFC 6455 §5.2, §5.6)";
const FAIL_1002: &str = "fail the connection: close 1002, then TCP close";

/// Sizes at and around the 7-bit, 16-bit and 64-bit length forms, and more.
const SIZES: [usize; 11] = [
    0, 1, 125, 126, 127, 128, 65535, 65536, 65537, 262_144, 1_048_576,
];

pub(super) fn add(cases: &mut Vec<Case>) {
    for text in [true, false] {
        let kind = if text { "text" } else { "binary" };
        for size in SIZES {
            let payload = move || {
                if text {
                    text_payload(size)
                } else {
                    binary_payload(size)
                }
            };
            let frame = move || {
                if text {
                    Frame::text(payload())
                } else {
                    Frame::binary(payload())
                }
            };
            cases.push(Case::new(
                format!("framing.{kind}.{size}.whole"),
                Category::Framing,
                format!("a {kind} message of {size} bytes in one frame, one write"),
                ECHO,
                move |s| {
                    s.send(&[frame()])?;
                    s.expect_message(text, &payload())?;
                    s.close_normally()
                },
            ));
            // Small chunks: one byte at a time where that stays quick.
            let chunk = match size {
                0..=1000 => 1,
                1001..=70_000 => 61,
                _ => 1021,
            };
            cases.push(Case::new(
                format!("framing.{kind}.{size}.chunked"),
                Category::Framing,
                format!("a {kind} message of {size} bytes in one frame, written {chunk} byte(s) at a time"),
                ECHO,
                move |s| {
                    s.send_chunked(&[frame()], chunk, Duration::ZERO)?;
                    s.expect_message(text, &payload())?;
                    s.close_normally()
                },
            ));
        }
    }

    // Each header form with its bytes arriving in separate reads.
    for (name, size) in [("7bit", 100), ("16bit", 300), ("64bit", 70_000)] {
        cases.push(Case::new(
            format!("framing.split-header.{name}"),
            Category::Framing,
            format!(
                "a binary message of {size} bytes whose header is written one byte at a time, 20 ms apart"
            ),
            ECHO,
            move |s| {
                let payload = binary_payload(size);
                let bytes = s.encode_frames(&[Frame::binary(payload.clone())]);
                let header_len = bytes.len() - size;
                for i in 0..header_len {
                    s.send_bytes(&bytes[i..=i])?;
                    s.pause(Duration::from_millis(20));
                }
                s.send_bytes(&bytes[header_len..])?;
                s.expect_message(false, &payload)?;
                s.close_normally()
            },
        ));
    }

    // Longer length forms than needed: the RFC binds the sender, not the
    // receiver, so accepting them and failing are both allowed.
    for (name, size, length) in [
        ("16bit-for-5", 5, Length::Extended16),
        ("64bit-for-5", 5, Length::Extended64),
        ("64bit-for-200", 200, Length::Extended64),
    ] {
        cases.push(Case::new(
            format!("framing.length.{name}"),
            Category::Framing,
            format!("a text message of {size} bytes with its length in a longer form than needed"),
            "the message echoed, or close 1002 (the minimal form is the sender's duty, RFC 6455 §5.2)",
            move |s| {
                let payload = text_payload(size);
                s.send(&[Frame::text(payload.clone()).length(length)])?;
                s.expect_or_fail(&[Expected::text(payload)], &[1002])
            },
        ));
    }
    cases.push(Case::new(
        "framing.length.64bit-top-bit-set",
        Category::Framing,
        "a binary frame whose 64-bit length has its most significant bit set",
        "fail the connection: close 1002 (RFC 6455 §5.2: the top bit MUST be 0); 1009 is NON-STRICT",
        |s| {
            s.send(&[Frame::binary("abcde").length(Length::Announce64((1 << 63) | 5))])?;
            s.expect_fail_with(&[1002], &[1009])
        },
    ));

    // Client frames MUST be masked (§5.1).
    for (name, frame) in [
        ("text", Frame::text("Hello")),
        ("empty-text", Frame::text("")),
        ("binary", Frame::binary(vec![1, 2, 3])),
        ("ping", Frame::ping("ping")),
        ("close", Frame::close(1000, "")),
    ] {
        cases.push(Case::new(
            format!("framing.unmasked.{name}"),
            Category::Framing,
            format!("an unmasked {name} frame"),
            format!("{FAIL_1002} (RFC 6455 §5.1: the server MUST close on an unmasked frame)"),
            move |s| {
                s.send(&[frame.clone().unmasked()])?;
                s.expect_fail(&[1002])
            },
        ));
    }
    cases.push(Case::new(
        "framing.mask.zero-key",
        Category::Framing,
        "a text message masked with the key 00 00 00 00",
        ECHO,
        |s| {
            s.send(&[Frame::text("Hello").key([0; 4])])?;
            s.expect_message(true, b"Hello")?;
            s.close_normally()
        },
    ));

    cases.push(Case::new(
        "framing.many-in-one-write.text",
        Category::Framing,
        "ten text messages of growing size in one write",
        "the ten messages echoed in order, then close 1000 echoed",
        |s| {
            let payloads: Vec<Vec<u8>> = (0..10).map(|i| text_payload(i * 37)).collect();
            let frames: Vec<Frame> = payloads.iter().cloned().map(Frame::text).collect();
            s.send(&frames)?;
            let expected: Vec<Expected> = payloads.into_iter().map(Expected::text).collect();
            s.expect(&expected)?;
            s.close_normally()
        },
    ));
    cases.push(Case::new(
        "framing.many-in-one-write.mixed",
        Category::Framing,
        "twenty messages alternating text and binary, in one write",
        "the twenty messages echoed in order with their kinds, then close 1000 echoed",
        |s| {
            let mut frames = Vec::new();
            let mut expected = Vec::new();
            for i in 0..20 {
                if i % 2 == 0 {
                    frames.push(Frame::text(text_payload(i * 11)));
                    expected.push(Expected::text(text_payload(i * 11)));
                } else {
                    frames.push(Frame::binary(binary_payload(i * 13)));
                    expected.push(Expected::binary(binary_payload(i * 13)));
                }
            }
            s.send(&frames)?;
            s.expect(&expected)?;
            s.close_normally()
        },
    ));
    cases.push(Case::new(
        "framing.empty-messages",
        Category::Framing,
        "an empty text, an empty binary and a 1-byte text message in one write",
        "the three echoed in order, then close 1000 echoed",
        |s| {
            s.send(&[Frame::text(""), Frame::binary(""), Frame::text("x")])?;
            s.expect(&[
                Expected::text(""),
                Expected::binary(""),
                Expected::text("x"),
            ])?;
            s.close_normally()
        },
    ));
}
