//! Property tests: random message sequences (random fragmentation, control
//! frames between fragments, random masks and length forms) encoded as a
//! client would, cut into random chunks, decode back to exactly the events
//! that were sent.

mod support;

use proptest::prelude::*;
use rs_proto::{DataKind, Decoder, Limits};
use support::*;

/// One thing a client sends, with how it goes on the wire.
#[derive(Clone, Debug)]
enum Item {
    /// A data message cut at the given points, each fragment followed by the
    /// control frames listed for it.
    Message {
        kind: DataKind,
        payload: Vec<u8>,
        cuts: Vec<usize>,
        controls: Vec<Vec<Control>>,
    },
    /// A control frame between messages.
    Control(Control),
}

#[derive(Clone, Debug)]
struct Control {
    ping: bool,
    payload: Vec<u8>,
}

fn control() -> impl Strategy<Value = Control> {
    (any::<bool>(), prop::collection::vec(any::<u8>(), 0..=125))
        .prop_map(|(ping, payload)| Control { ping, payload })
}

fn payload() -> impl Strategy<Value = (DataKind, Vec<u8>)> {
    prop_oneof![
        ".{0,300}".prop_map(|s: String| (DataKind::Text, s.into_bytes())),
        prop::collection::vec(any::<u8>(), 0..2000).prop_map(|b| (DataKind::Binary, b)),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => (payload(), prop::collection::vec(any::<prop::sample::Index>(), 0..5)).prop_flat_map(
            |((kind, payload), cut_points)| {
                let mut cuts: Vec<usize> = cut_points.iter().map(|i| i.index(payload.len() + 1)).collect();
                cuts.sort_unstable();
                let fragments = cuts.len() + 1;
                let controls = prop::collection::vec(prop::collection::vec(control(), 0..2), fragments);
                (Just(kind), Just(payload), Just(cuts), controls)
            }
        )
        .prop_map(|(kind, payload, cuts, controls)| Item::Message { kind, payload, cuts, controls }),
        1 => control().prop_map(Item::Control),
    ]
}

fn control_frame(control: &Control, key: [u8; 4], form: LenForm) -> Vec<u8> {
    let opcode = if control.ping { PING } else { PONG };
    masked_with(FIN | opcode, &control.payload, key, form)
}

fn control_event(control: &Control) -> Owned {
    if control.ping {
        Owned::Ping(control.payload.clone())
    } else {
        Owned::Pong(control.payload.clone())
    }
}

/// Encodes the items as a client would and lists the events a server must see.
fn encode(items: &[Item], keys: &[[u8; 4]], forms: &[LenForm]) -> (Vec<u8>, Vec<Owned>) {
    let mut wire = Vec::new();
    let mut events = Vec::new();
    let mut n = 0usize;
    let mut next = || {
        n += 1;
        (keys[n % keys.len()], forms[n % forms.len()])
    };
    for item in items {
        match item {
            Item::Control(control) => {
                let (key, form) = next();
                wire.extend(control_frame(control, key, form));
                events.push(control_event(control));
            }
            Item::Message {
                kind,
                payload,
                cuts,
                controls,
            } => {
                let bounds: Vec<usize> = std::iter::once(0)
                    .chain(cuts.iter().copied())
                    .chain([payload.len()])
                    .collect();
                for (i, pair) in bounds.windows(2).enumerate() {
                    let last = i + 2 == bounds.len();
                    let opcode = match (i, kind) {
                        (0, DataKind::Text) => TEXT,
                        (0, DataKind::Binary) => BINARY,
                        _ => CONT,
                    };
                    let (key, form) = next();
                    wire.extend(masked_with(
                        if last { FIN | opcode } else { opcode },
                        &payload[pair[0]..pair[1]],
                        key,
                        form,
                    ));
                    // Control frames may follow any fragment but the last one
                    // (after it, they belong between messages).
                    if !last {
                        for control in &controls[i] {
                            let (key, form) = next();
                            wire.extend(control_frame(control, key, form));
                            events.push(control_event(control));
                        }
                    }
                }
                events.push(Owned::Message(*kind, payload.clone()));
            }
        }
    }
    (wire, events)
}

fn forms() -> impl Strategy<Value = Vec<LenForm>> {
    prop::collection::vec(
        prop_oneof![4 => Just(LenForm::Minimal), 1 => Just(LenForm::Ext16), 1 => Just(LenForm::Ext64)],
        1..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_in_random_chunks_decode_to_what_was_sent(
        items in prop::collection::vec(item(), 0..8),
        keys in prop::collection::vec(any::<[u8; 4]>(), 1..4),
        forms in forms(),
        chunks in prop::collection::vec(1usize..700, 1..20),
    ) {
        let (wire, expected) = encode(&items, &keys, &forms);
        let outcome = decode_chunked(Decoder::default(), &wire, &chunks);
        prop_assert_eq!(outcome.error, None);
        prop_assert_eq!(&outcome.events, &expected);
        // One byte at a time and all at once agree with the random chunking.
        prop_assert_eq!(&decode_chunked(Decoder::default(), &wire, &[1]).events, &expected);
        prop_assert_eq!(&decode_chunked(Decoder::default(), &wire, &[usize::MAX]).events, &expected);
    }

    #[test]
    fn arbitrary_bytes_give_the_same_outcome_in_any_chunking(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        chunks in prop::collection::vec(1usize..50, 1..10),
        max_message_size in 0u64..300,
    ) {
        let decoder = Decoder::new(Limits { max_message_size, max_frame_chain_size: max_message_size * 2 });
        let whole = decode_chunked(decoder.clone(), &bytes, &[usize::MAX]);
        prop_assert_eq!(decode_chunked(decoder.clone(), &bytes, &chunks), whole.clone());
        prop_assert_eq!(decode_chunked(decoder, &bytes, &[1]), whole);
    }

    #[test]
    fn invalid_utf8_anywhere_in_a_fragmented_text_message_fails_with_1007(
        text in ".{0,100}",
        at in any::<prop::sample::Index>(),
        bad in prop_oneof![Just(vec![0xffu8]), Just(vec![0xc0, 0x80]), Just(vec![0xed, 0xb0, 0x80]), Just(vec![0xf8, 0x88, 0x80, 0x80, 0x80])],
        cut in any::<prop::sample::Index>(),
    ) {
        let at = text.char_indices().map(|(i, _)| i).chain([text.len()]).nth(at.index(text.chars().count() + 1)).unwrap_or(0);
        let mut payload = text.as_bytes()[..at].to_vec();
        payload.extend(&bad);
        payload.extend(&text.as_bytes()[at..]);
        let cut = cut.index(payload.len() + 1);
        let wire = [masked(TEXT, &payload[..cut]), masked(FIN | CONT, &payload[cut..])].concat();
        let outcome = decode_chunked(Decoder::default(), &wire, &[7]);
        prop_assert_eq!(outcome.error.map(|e| e.close_code().get()), Some(1007));
        prop_assert!(outcome.events.is_empty());
    }
}
