//! Limits: messages up to the server's maximum size in frames of various
//! sizes, within a bounded time, and one byte more.

use std::time::Duration;

use super::{Settings, binary_payload, fragments, split_even, text_payload};
use crate::case::{Case, Category};
use crate::frame::{Frame, Length, opcode};
use crate::session::Expected;

/// Large messages get this long, however slow the machine.
const HEAVY_TIMEOUT: Duration = Duration::from_secs(60);

const ECHO: &str = "the message echoed, then close 1000 echoed, within the case's time bound";

pub(super) fn add(cases: &mut Vec<Case>, settings: &Settings) {
    let max = settings.max_message_size;
    let mib = |n: usize| format!("{:.3} MiB", n as f64 / f64::from(1 << 20));
    for (name, size) in [("1mib", 1 << 20), ("4mib", 4 << 20), ("max", max)] {
        let size = size.min(max);
        cases.push(
            Case::new(
                format!("limits.binary.{name}.one-frame"),
                Category::Limits,
                format!("a binary message of {} in one frame", mib(size)),
                ECHO,
                move |s| {
                    let payload = binary_payload(size);
                    s.send(&[Frame::binary(payload.clone())])?;
                    s.expect_message(false, &payload)?;
                    s.close_normally()
                },
            )
            .heavy(HEAVY_TIMEOUT),
        );
    }
    cases.push(
        Case::new(
            "limits.text.max.one-frame",
            Category::Limits,
            format!(
                "a text message of {} (mixed 1- to 4-byte UTF-8) in one frame",
                mib(max)
            ),
            ECHO,
            move |s| {
                let payload = text_payload(max);
                s.send(&[Frame::text(payload.clone())])?;
                s.expect_message(true, &payload)?;
                s.close_normally()
            },
        )
        .heavy(HEAVY_TIMEOUT),
    );
    for (text, frame_size) in [(false, 64 << 10), (true, 1 << 20), (false, 4096)] {
        let kind = if text { "text" } else { "binary" };
        let count = max.div_ceil(frame_size);
        cases.push(
            Case::new(
                format!("limits.{kind}.max.frames-of-{frame_size}"),
                Category::Limits,
                format!(
                    "a {kind} message of {} in {count} frames of {frame_size} bytes",
                    mib(max)
                ),
                ECHO,
                move |s| {
                    let (op, payload) = if text {
                        (opcode::TEXT, text_payload(max))
                    } else {
                        (opcode::BINARY, binary_payload(max))
                    };
                    s.send(&fragments(op, split_even(&payload, count)))?;
                    s.expect_message(text, &payload)?;
                    s.close_normally()
                },
            )
            .heavy(HEAVY_TIMEOUT),
        );
    }

    let too_big = format!(
        "fail the connection: close 1009 (RFC 6455 §7.4.1; the server's limit is {max} bytes)"
    );
    cases.push(
        Case::new(
            "limits.over-max.one-frame",
            Category::Limits,
            format!("the header of a binary frame of {} bytes, then its payload only if still open", max + 1),
            format!("{too_big}; as soon as the header announced the size (OK), or only after the payload (NON-STRICT)"),
            move |s| {
                let bytes = s.encode_frames(&[Frame::binary(binary_payload(max + 1))]);
                let header_len = bytes.len() - (max + 1);
                s.send_bytes(&bytes[..header_len])?;
                if s.expect_fail_fast(&[1009])? {
                    return Ok(());
                }
                s.note("the server did not fail on the announced size, only after the payload");
                s.send_bytes(&bytes[header_len..])?;
                s.expect_fail(&[1009])
            },
        )
        .heavy(HEAVY_TIMEOUT),
    );
    cases.push(
        Case::new(
            "limits.over-max.fragments",
            Category::Limits,
            format!(
                "a binary message of {max} bytes in 64 KiB fragments plus a final 1-byte fragment"
            ),
            too_big.clone(),
            move |s| {
                let count = max.div_ceil(64 << 10);
                let mut frames = fragments(opcode::BINARY, split_even(&binary_payload(max), count));
                if let Some(last) = frames.last_mut() {
                    last.fin = false;
                }
                frames.push(Frame::continuation(vec![0]));
                s.send(&frames)?;
                s.expect_fail(&[1009])
            },
        )
        .heavy(HEAVY_TIMEOUT),
    );
    cases.push(Case::new(
        "limits.over-max.announced-2-pow-62",
        Category::Limits,
        "a binary frame header announcing 2^62 bytes, and 5 payload bytes",
        format!("{too_big}, on the header alone (OK); waiting for more: NON-STRICT"),
        |s| {
            s.send(&[Frame::binary("abcde").length(Length::Announce64(1 << 62))])?;
            if s.expect_fail_fast(&[1009])? {
                return Ok(());
            }
            s.note("the server did not fail on the announced size; it waits for 2^62 bytes");
            Ok(())
        },
    ));

    cases.push(
        Case::new(
            "limits.many-small-messages",
            Category::Limits,
            "1000 text messages of 0 to 99 bytes in one write",
            "all 1000 echoed in order, then close 1000 echoed",
            |s| {
                let payloads: Vec<Vec<u8>> = (0..1000).map(|i| text_payload(i % 100)).collect();
                let frames: Vec<Frame> = payloads.iter().cloned().map(Frame::text).collect();
                s.send(&frames)?;
                let expected: Vec<Expected> = payloads.into_iter().map(Expected::text).collect();
                s.expect(&expected)?;
                s.close_normally()
            },
        )
        .heavy(HEAVY_TIMEOUT),
    );
    cases.push(
        Case::new(
            "limits.many-medium-messages",
            Category::Limits,
            "64 binary messages of 64 KiB (4 MiB) in one write",
            "all 64 echoed in order, then close 1000 echoed",
            |s| {
                let payload = binary_payload(64 << 10);
                let frames = vec![Frame::binary(payload.clone()); 64];
                s.send(&frames)?;
                s.expect(&vec![Expected::binary(payload); 64])?;
                s.close_normally()
            },
        )
        .heavy(HEAVY_TIMEOUT),
    );
}
