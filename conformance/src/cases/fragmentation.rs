//! Fragmentation: 1 to 200 fragments, empty fragments, control frames
//! between fragments, fragmented control frames, continuations without a
//! start and interleaved messages.

use std::time::Duration;

use super::{binary_payload, fragments, split_even, text_payload};
use crate::case::{Case, Category};
use crate::frame::{Frame, opcode};
use crate::session::Expected;

const ECHO: &str = "the reassembled message echoed, then close 1000 echoed (RFC 6455 §5.4)";
const FAIL_1002: &str = "fail the connection: close 1002";

pub(super) fn add(cases: &mut Vec<Case>) {
    for text in [true, false] {
        let (kind, op) = if text {
            ("text", opcode::TEXT)
        } else {
            ("binary", opcode::BINARY)
        };
        let payload = move || {
            if text {
                text_payload(600)
            } else {
                binary_payload(600)
            }
        };
        for n in [1usize, 2, 3, 4, 5, 10, 50, 200] {
            cases.push(Case::new(
                format!("fragmentation.{kind}.{n}-fragments"),
                Category::Fragmentation,
                format!("a {kind} message of 600 bytes in {n} fragment(s), one write"),
                ECHO,
                move |s| {
                    s.send(&fragments(op, split_even(&payload(), n)))?;
                    s.expect_message(text, &payload())?;
                    s.close_normally()
                },
            ));
        }
        cases.push(Case::new(
            format!("fragmentation.{kind}.3-fragments-chunked"),
            Category::Fragmentation,
            format!("a {kind} message of 600 bytes in 3 fragments, written one byte at a time"),
            ECHO,
            move |s| {
                s.send_chunked(&fragments(op, split_even(&payload(), 3)), 1, Duration::ZERO)?;
                s.expect_message(text, &payload())?;
                s.close_normally()
            },
        ));
        cases.push(Case::new(
            format!("fragmentation.{kind}.empty-fragments"),
            Category::Fragmentation,
            format!("an empty {kind} message in three empty fragments"),
            ECHO,
            move |s| {
                s.send(&fragments(op, vec![Vec::new(); 3]))?;
                s.expect_message(text, b"")?;
                s.close_normally()
            },
        ));
        cases.push(Case::new(
            format!("fragmentation.{kind}.each-fragment-after-a-pause"),
            Category::Fragmentation,
            format!("a {kind} message in 4 fragments, each in its own write 50 ms apart"),
            ECHO,
            move |s| {
                for frame in fragments(op, split_even(&payload(), 4)) {
                    s.send(&[frame])?;
                    s.pause(Duration::from_millis(50));
                }
                s.expect_message(text, &payload())?;
                s.close_normally()
            },
        ));
    }
    cases.push(Case::new(
        "fragmentation.text.empty-first-and-last",
        Category::Fragmentation,
        "a text message as an empty fragment, \"Hello\", an empty final fragment",
        ECHO,
        |s| {
            s.send(&fragments(
                opcode::TEXT,
                vec![Vec::new(), b"Hello".to_vec(), Vec::new()],
            ))?;
            s.expect_message(true, b"Hello")?;
            s.close_normally()
        },
    ));

    // Control frames may be injected between fragments (§5.4).
    cases.push(Case::new(
        "fragmentation.ping-between.stepwise",
        Category::Fragmentation,
        "a first text fragment and a ping; once the pong arrived, the last fragment",
        "the pong before the message ends, then the message echoed (RFC 6455 §5.4, §5.5.2)",
        |s| {
            s.send(&[Frame::text("Hel").fin(false), Frame::ping("between")])?;
            s.expect_pong(b"between")?;
            s.send(&[Frame::continuation("lo")])?;
            s.expect_message(true, b"Hello")?;
            s.close_normally()
        },
    ));
    cases.push(Case::new(
        "fragmentation.ping-between.one-write",
        Category::Fragmentation,
        "a first text fragment, a ping, the last fragment, in one write",
        "the pong and the echo, in either order (RFC 6455 §5.4)",
        |s| {
            s.send(&[
                Frame::text("Hel").fin(false),
                Frame::ping("between"),
                Frame::continuation("lo"),
            ])?;
            s.expect_unordered(&[Expected::text("Hello"), Expected::Pong(b"between".to_vec())])?;
            s.close_normally()
        },
    ));
    cases.push(Case::new(
        "fragmentation.ping-between.binary",
        Category::Fragmentation,
        "a first binary fragment, a ping, the last fragment, in one write",
        "the pong and the echo, in either order (RFC 6455 §5.4)",
        |s| {
            s.send(&[
                Frame::binary(vec![1, 2]).fin(false),
                Frame::ping(vec![0xff]),
                Frame::continuation(vec![3]),
            ])?;
            s.expect_unordered(&[Expected::binary(vec![1, 2, 3]), Expected::Pong(vec![0xff])])?;
            s.close_normally()
        },
    ));
    cases.push(Case::new(
        "fragmentation.ping-between.each-fragment",
        Category::Fragmentation,
        "a text message in 5 fragments with a ping after each of the first 4, in one write",
        "four pongs in order and the echo (RFC 6455 §5.4)",
        |s| {
            let mut frames = Vec::new();
            for (i, frame) in fragments(opcode::TEXT, split_even(b"abcdefghij", 5))
                .into_iter()
                .enumerate()
            {
                frames.push(frame);
                if i < 4 {
                    frames.push(Frame::ping(format!("p{i}")));
                }
            }
            s.send(&frames)?;
            let mut expected: Vec<Expected> = (0..4)
                .map(|i| Expected::Pong(format!("p{i}").into_bytes()))
                .collect();
            expected.push(Expected::text("abcdefghij"));
            s.expect_unordered(&expected)?;
            s.close_normally()
        },
    ));
    cases.push(Case::new(
        "fragmentation.pong-between",
        Category::Fragmentation,
        "a first text fragment, an unsolicited pong, the last fragment",
        "only the message echoed (RFC 6455 §5.4, §5.5.3)",
        |s| {
            s.send(&[
                Frame::text("Hel").fin(false),
                Frame::pong("ignored"),
                Frame::continuation("lo"),
            ])?;
            s.expect_message(true, b"Hello")?;
            s.close_normally()
        },
    ));

    // Control frames MUST NOT be fragmented (§5.5).
    for (name, first) in [
        ("ping", Frame::ping("frag")),
        ("pong", Frame::pong("frag")),
        ("close", Frame::close(1000, "frag")),
    ] {
        cases.push(Case::new(
            format!("fragmentation.control-fragmented.{name}"),
            Category::Fragmentation,
            format!("a {name} frame without FIN, then a final continuation"),
            format!("{FAIL_1002} (RFC 6455 §5.5: control frames MUST NOT be fragmented)"),
            move |s| {
                s.send(&[first.clone().fin(false), Frame::continuation("ment")])?;
                s.expect_fail(&[1002])
            },
        ));
    }
    cases.push(Case::new(
        "fragmentation.control-fragmented.ping-inside-message",
        Category::Fragmentation,
        "a first text fragment, then a ping without FIN",
        format!("{FAIL_1002} (RFC 6455 §5.5: control frames MUST NOT be fragmented)"),
        |s| {
            s.send(&[Frame::text("Hel").fin(false), Frame::ping("x").fin(false)])?;
            s.expect_fail(&[1002])
        },
    ));

    // Continuations need a message in progress (§5.4).
    let orphan: [(&str, &str, Frame); 3] = [
        (
            "final-empty",
            "an empty final continuation frame",
            Frame::continuation(""),
        ),
        (
            "final-payload",
            "a final continuation frame carrying \"Hello\"",
            Frame::continuation("Hello"),
        ),
        (
            "non-final",
            "a non-final continuation frame",
            Frame::continuation("Hel").fin(false),
        ),
    ];
    for (name, title, frame) in orphan {
        cases.push(Case::new(
            format!("fragmentation.continuation-without-start.{name}"),
            Category::Fragmentation,
            format!("{title} on a fresh connection"),
            format!("{FAIL_1002} (RFC 6455 §5.4: a continuation needs a message in progress)"),
            move |s| {
                s.send(std::slice::from_ref(&frame))?;
                s.expect_fail(&[1002])
            },
        ));
    }
    cases.push(Case::new(
        "fragmentation.continuation-without-start.after-message",
        Category::Fragmentation,
        "a complete text message; once echoed, a final continuation frame",
        format!("the message echoed, then {FAIL_1002}"),
        |s| {
            s.send(&[Frame::text("Hello")])?;
            s.expect_message(true, b"Hello")?;
            s.send(&[Frame::continuation("again")])?;
            s.expect_fail(&[1002])
        },
    ));
    cases.push(Case::new(
        "fragmentation.continuation-without-start.after-fragmented-message",
        Category::Fragmentation,
        "a text message in two fragments; once echoed, another final continuation",
        format!("the message echoed, then {FAIL_1002}"),
        |s| {
            s.send(&fragments(
                opcode::TEXT,
                vec![b"Hel".to_vec(), b"lo".to_vec()],
            ))?;
            s.expect_message(true, b"Hello")?;
            s.send(&[Frame::continuation("again")])?;
            s.expect_fail(&[1002])
        },
    ));

    cases.push(Case::new(
        "fragmentation.continuation-without-start.same-write",
        Category::Fragmentation,
        "a text message in two fragments and another final continuation, in one write",
        format!("the message echoed (NON-STRICT without it), then {FAIL_1002}"),
        |s| {
            let mut frames = fragments(opcode::TEXT, vec![b"Hel".to_vec(), b"lo".to_vec()]);
            frames.push(Frame::continuation("again"));
            s.send(&frames)?;
            s.expect_fail_after_optional(&Expected::text("Hello"), &[1002])
        },
    ));

    // A new data frame while a message is in progress (§5.4: fragments of
    // one message MUST NOT be interleaved with another).
    let interleaved: [(&str, Frame); 4] = [
        ("text-then-text", Frame::text("b")),
        ("text-then-text-nonfinal", Frame::text("b").fin(false)),
        ("text-then-binary", Frame::binary(vec![2])),
        (
            "text-then-binary-nonfinal",
            Frame::binary(vec![2]).fin(false),
        ),
    ];
    for (name, second) in interleaved {
        cases.push(Case::new(
            format!("fragmentation.interleaved.{name}"),
            Category::Fragmentation,
            format!(
                "a first text fragment, then a new {} frame",
                second.describe()
            ),
            format!("{FAIL_1002} (RFC 6455 §5.4: messages MUST NOT be interleaved)"),
            move |s| {
                s.send(&[
                    Frame::text("a").fin(false),
                    second.clone(),
                    Frame::continuation("c"),
                ])?;
                s.expect_fail(&[1002])
            },
        ));
    }
    cases.push(Case::new(
        "fragmentation.interleaved.binary-then-text",
        Category::Fragmentation,
        "a first binary fragment, then a final text frame",
        format!("{FAIL_1002} (RFC 6455 §5.4: messages MUST NOT be interleaved)"),
        |s| {
            s.send(&[Frame::binary(vec![1]).fin(false), Frame::text("b")])?;
            s.expect_fail(&[1002])
        },
    ));
    cases.push(Case::new(
        "fragmentation.two-messages-in-a-row",
        Category::Fragmentation,
        "a text message in 3 fragments then a binary message in 2, in one write",
        "both echoed in order, then close 1000 echoed",
        |s| {
            let mut frames = fragments(opcode::TEXT, split_even(b"first message", 3));
            frames.extend(fragments(opcode::BINARY, split_even(&[9, 8, 7, 6], 2)));
            s.send(&frames)?;
            s.expect(&[
                Expected::text("first message"),
                Expected::binary(vec![9, 8, 7, 6]),
            ])?;
            s.close_normally()
        },
    ));
}
