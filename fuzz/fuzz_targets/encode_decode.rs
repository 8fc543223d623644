//! Differential: a message sequence encoded as a client would (with the
//! crate's own encoder, random fragmentation, masks and interleaved control
//! frames) decodes back to exactly that sequence.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rs_proto::{Decoder, Event, Limits, Opcode, encode_masked_frame};

#[derive(Arbitrary, Debug)]
enum Item {
    Text { text: String, cuts: Vec<u8>, pings: Vec<Vec<u8>> },
    Binary { bytes: Vec<u8>, cuts: Vec<u8>, pings: Vec<Vec<u8>> },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

#[derive(Debug, PartialEq)]
enum Owned {
    Message(bool, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn control(payload: &[u8]) -> &[u8] {
    &payload[..payload.len().min(125)]
}

fuzz_target!(|input: (Vec<Item>, [u8; 4], u8)| {
    let (items, key, chunk) = input;
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for item in &items {
        match item {
            Item::Text { text, cuts, pings } => encode_message(&mut wire, &mut expected, true, text.as_bytes(), cuts, pings, key),
            Item::Binary { bytes, cuts, pings } => encode_message(&mut wire, &mut expected, false, bytes, cuts, pings, key),
            Item::Ping(p) => {
                encode_masked_frame(&mut wire, Opcode::Ping, true, control(p), key);
                expected.push(Owned::Ping(control(p).to_vec()));
            }
            Item::Pong(p) => {
                encode_masked_frame(&mut wire, Opcode::Pong, true, control(p), key);
                expected.push(Owned::Pong(control(p).to_vec()));
            }
        }
    }
    let step = usize::from(chunk).max(1);
    let decoder = Decoder::new(Limits::default());
    assert_eq!(decode(decoder.clone(), wire.clone(), step), expected);
    // As the server decodes: long whole messages lent still masked.
    assert_eq!(decode(decoder.lending_masked(), wire, step), expected);
});

/// Decodes `wire` in chunks of `step` bytes.
fn decode(mut decoder: Decoder, mut wire: Vec<u8>, step: usize) -> Vec<Owned> {
    let mut events = Vec::new();
    let mut start = 0;
    while start < wire.len() {
        let end = (start + step).min(wire.len());
        let mut pos = start;
        while pos < end {
            let decoded = decoder.decode(&mut wire[pos..end]).expect("a valid stream");
            pos += decoded.consumed;
            match decoded.event {
                Some(Event::Message { kind, payload }) => {
                    events.push(Owned::Message(kind == rs_proto::DataKind::Text, payload.to_vec()))
                }
                Some(Event::MaskedMessage(masked)) => events.push(Owned::Message(
                    masked.kind() == rs_proto::DataKind::Text,
                    masked.to_vec().expect("valid text"),
                )),
                Some(Event::Ping(p)) => events.push(Owned::Ping(p.to_vec())),
                Some(Event::Pong(p)) => events.push(Owned::Pong(p.to_vec())),
                Some(Event::Close(_)) => panic!("no close was sent"),
                None => {}
            }
        }
        start = end;
    }
    events
}

/// Encodes one message cut at `cuts`, with a ping after each fragment but
/// the last; records the events a server must see.
fn encode_message(
    wire: &mut Vec<u8>,
    expected: &mut Vec<Owned>,
    text: bool,
    payload: &[u8],
    cuts: &[u8],
    pings: &[Vec<u8>],
    key: [u8; 4],
) {
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| usize::from(c) * payload.len() / 256).collect();
    bounds.sort_unstable();
    bounds.dedup();
    bounds.insert(0, 0);
    bounds.push(payload.len());
    let fragments = bounds.len() - 1;
    for i in 0..fragments {
        let opcode = match (i, text) {
            (0, true) => Opcode::Text,
            (0, false) => Opcode::Binary,
            _ => Opcode::Continuation,
        };
        let last = i + 1 == fragments;
        encode_masked_frame(wire, opcode, last, &payload[bounds[i]..bounds[i + 1]], key);
        if !last {
            if let Some(ping) = pings.get(i) {
                encode_masked_frame(wire, Opcode::Ping, true, control(ping), key);
                expected.push(Owned::Ping(control(ping).to_vec()));
            }
        }
    }
    expected.push(Owned::Message(text, payload.to_vec()));
}
