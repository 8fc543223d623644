//! The decoder's limits at their exact boundaries: max_message_size
//! and max_frame_chain_size (headers, zero-length fragments and interleaved
//! control frames counted), 64-bit lengths, and that a refusal comes from
//! the header, before any payload byte is held. Every stream is decoded
//! whole, byte by byte and in odd-sized pieces: the outcome must not depend
//! on how the input was split.

use rs_proto::{CloseCode, DataKind, Decoder, Event, Limits, ProtocolError};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame; `long` forces the 64-bit length form.
fn frame(first: u8, payload: &[u8], long: bool) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 && !long => out.push(0x80 | n as u8),
        n if n <= 0xffff && !long => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&KEY);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    out
}

#[derive(Debug, PartialEq)]
enum Seen {
    Message(DataKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    Close,
}

#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<Seen>,
    error: Option<ProtocolError>,
    /// The most partial_len reported.
    max_partial: usize,
}

fn run(wire: &[u8], limits: Limits, piece: usize) -> Outcome {
    let mut decoder = Decoder::new(limits).lending_masked();
    let mut events = Vec::new();
    let mut max_partial = 0;
    let mut wire = wire.to_vec();
    let mut start = 0;
    let mut guard = 0;
    while start < wire.len() {
        let end = (start + piece).min(wire.len());
        let mut pos = start;
        while pos < end {
            guard += 1;
            assert!(guard < 10_000_000, "decoder made no progress");
            match decoder.decode(&mut wire[pos..end]) {
                Ok(d) => {
                    max_partial = max_partial.max(d.partial_len);
                    pos += d.consumed;
                    match d.event {
                        Some(Event::Message { kind, payload }) => {
                            events.push(Seen::Message(kind, payload.to_vec()))
                        }
                        Some(Event::MaskedMessage(m)) => match m.to_vec() {
                            Ok(v) => events.push(Seen::Message(m.kind(), v)),
                            Err(e) => {
                                return Outcome {
                                    events,
                                    error: Some(e),
                                    max_partial,
                                };
                            }
                        },
                        Some(Event::Ping(p)) => events.push(Seen::Ping(p.to_vec())),
                        Some(Event::Pong(_)) => events.push(Seen::Pong),
                        Some(Event::Close(_)) => events.push(Seen::Close),
                        None => {}
                    }
                }
                Err(e) => {
                    return Outcome {
                        events,
                        error: Some(e),
                        max_partial,
                    };
                }
            }
        }
        start = end;
    }
    Outcome {
        events,
        error: None,
        max_partial,
    }
}

/// Decodes in several splits and asserts they agree; returns the outcome.
fn decode(wire: &[u8], limits: Limits) -> Outcome {
    let whole = run(wire, limits, wire.len().max(1));
    for piece in [1, 3, 7, 64] {
        let split = run(wire, limits, piece);
        assert_eq!(split.events, whole.events, "split in pieces of {piece}");
        assert_eq!(split.error, whole.error, "split in pieces of {piece}");
    }
    whole
}

fn limits(msg: u64, chain: u64) -> Limits {
    Limits {
        max_message_size: msg,
        max_frame_chain_size: chain,
    }
}

#[test]
fn a_message_spanning_exactly_the_chain_limit_passes_and_one_byte_more_is_1009() {
    // 40 payload bytes in 4 frames (6-byte headers) with a ping between:
    // 4*6 + 40 + (6 + 1) = 71 bytes on the wire.
    let build = |extra: usize| {
        let mut w = frame(0x01, &[b'a'; 10], false);
        w.extend(frame(0x89, &b"p"[..], false));
        w.extend(frame(0x00, &[b'b'; 10], false));
        w.extend(frame(0x00, &vec![b'c'; 10 + extra], false));
        w.extend(frame(0x80, &[b'd'; 10], false));
        w
    };
    let ok = decode(&build(0), limits(50, 71));
    assert_eq!(ok.error, None);
    assert_eq!(ok.events.len(), 2);
    let too_big = decode(&build(1), limits(50, 71));
    assert_eq!(
        too_big.error,
        Some(ProtocolError::FrameChainTooLarge {
            limit: 71,
            size: 72
        })
    );
    assert_eq!(
        too_big.error.unwrap().close_code(),
        CloseCode::MESSAGE_TOO_BIG
    );
}

#[test]
fn zero_length_fragments_count_toward_the_chain_and_nothing_toward_memory() {
    // 1 + 20 zero-length continuations + a final: 22 headers of 6 bytes.
    let build = |zeros: usize| {
        let mut w = frame(0x02, b"x", false);
        for _ in 0..zeros {
            w.extend(frame(0x00, b"", false));
        }
        w.extend(frame(0x80, b"y", false));
        w
    };
    let chain = 22 * 6 + 2;
    let ok = decode(&build(20), limits(10, chain));
    assert_eq!(ok.error, None);
    assert_eq!(
        ok.events,
        vec![Seen::Message(DataKind::Binary, b"xy".to_vec())]
    );
    assert!(ok.max_partial <= 1);
    let over = decode(&build(21), limits(10, chain));
    assert!(matches!(
        over.error,
        Some(ProtocolError::FrameChainTooLarge { .. })
    ));
}

#[test]
fn exactly_max_message_size_over_many_fragments_passes_and_one_more_is_refused_at_the_header() {
    let max = 4096u64;
    let build = |extra: usize| {
        let mut w = Vec::new();
        for i in 0..16 {
            let first = if i == 0 { 0x01 } else { 0x00 };
            let last = i == 15;
            let len = 256 + if last { extra } else { 0 };
            // Text with a 2-byte character split across every boundary.
            let mut payload = vec![b'a'; len];
            if i > 0 {
                payload[0] = 0xa9; // continuation of the previous 0xc2
            }
            if !last {
                payload[len - 1] = 0xc2;
            }
            w.extend(frame(
                if last { 0x80 | first } else { first },
                &payload,
                false,
            ));
            w.extend(frame(0x8a, b"", false)); // a pong between fragments
        }
        w
    };
    let chain = max + 32 * 8 + 16 * 6;
    let ok = decode(&build(0), limits(max, chain));
    assert_eq!(ok.error, None, "{:?}", ok.events.len());
    match ok.events.iter().find(|e| matches!(e, Seen::Message(..))) {
        Some(Seen::Message(DataKind::Text, payload)) => assert_eq!(payload.len(), 4096),
        other => panic!("{other:?}"),
    }
    let over = decode(&build(1), limits(max, chain + 1));
    assert_eq!(
        over.error,
        Some(ProtocolError::MessageTooLarge {
            limit: max,
            size: max + 1
        })
    );
    // Refused at the last frame's header: no byte of it was held.
    assert!(over.max_partial <= 15 * 256, "{}", over.max_partial);
}

#[test]
fn lengths_with_the_top_bit_set_or_huge() {
    let header = |len: u64, first: u8| {
        let mut w = vec![first, 0x80 | 127];
        w.extend_from_slice(&len.to_be_bytes());
        w.extend_from_slice(&KEY);
        w
    };
    let l = limits(1 << 20, (1 << 20) + 14);
    assert_eq!(
        decode(&header(1 << 63, 0x82), l).error,
        Some(ProtocolError::LengthOverflow)
    );
    assert_eq!(
        decode(&header(u64::MAX, 0x82), l).error,
        Some(ProtocolError::LengthOverflow)
    );
    let e = decode(&header((1 << 63) - 1, 0x82), l).error.unwrap();
    assert!(matches!(e, ProtocolError::MessageTooLarge { .. }), "{e:?}");
    assert_eq!(e.close_code(), CloseCode::MESSAGE_TOO_BIG);
    // In the middle of a fragmented message too, after the first fragment.
    let mut w = frame(0x02, &[1; 100], false);
    w.extend(header((1 << 63) - 1, 0x00));
    let e = decode(&w, l).error.unwrap();
    assert!(matches!(e, ProtocolError::MessageTooLarge { .. }), "{e:?}");
    // Exactly the limit in the longest header form is fine.
    let payload = vec![7u8; 1 << 20];
    let ok = decode(&frame(0x82, &payload, true), l);
    assert_eq!(ok.error, None);
    assert_eq!(ok.events, vec![Seen::Message(DataKind::Binary, payload)]);
}
