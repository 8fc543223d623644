//! One test per RFC 6455 rule the decoder enforces, each asserting the exact
//! error and close code. Every stream is decoded whole and byte by byte.

mod support;

use rs_proto::{CloseCode, DataKind, Decoder, Limits, ProtocolError};
use support::*;

fn concat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

fn fails_with(wire: &[u8], error: ProtocolError, code: u16) {
    let outcome = decode(wire);
    assert_eq!(
        outcome.error,
        Some(error),
        "events before: {:?}",
        outcome.events
    );
    assert_eq!(error.close_code(), CloseCode::new(code));
}

// --- Masking -----------------------------------------------------------------

#[test]
fn an_unmasked_frame_is_a_protocol_error() {
    fails_with(
        &unmasked(FIN | TEXT, b"hi"),
        ProtocolError::UnmaskedFrame,
        1002,
    );
    fails_with(
        &unmasked(FIN | PING, b""),
        ProtocolError::UnmaskedFrame,
        1002,
    );
}

#[test]
fn the_rfc_example_unmasks_to_hello() {
    let wire = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    assert_eq!(decode(wire).events, [Owned::text("Hello")]);
}

// --- Reserved bits and opcodes -------------------------------------------------

#[test]
fn each_reserved_bit_fails_on_data_and_control_frames() {
    for rsv in [0x40, 0x20, 0x10] {
        for opcode in [TEXT, BINARY, PING, PONG, CLOSE] {
            fails_with(
                &masked(FIN | rsv | opcode, b""),
                ProtocolError::ReservedBits(rsv),
                1002,
            );
        }
    }
    fails_with(
        &masked(FIN | 0x70 | TEXT, b""),
        ProtocolError::ReservedBits(0x70),
        1002,
    );
}

#[test]
fn a_reserved_bit_after_a_valid_frame_fails_after_its_event() {
    let wire = concat(&[masked(FIN | TEXT, b"ok"), masked(FIN | 0x40 | TEXT, b"x")]);
    let outcome = decode(&wire);
    assert_eq!(outcome.events, [Owned::text("ok")]);
    assert_eq!(outcome.error, Some(ProtocolError::ReservedBits(0x40)));
}

#[test]
fn each_reserved_opcode_fails() {
    for opcode in (0x3..=0x7).chain(0xB..=0xF) {
        fails_with(
            &masked(FIN | opcode, b""),
            ProtocolError::ReservedOpcode(opcode),
            1002,
        );
        fails_with(
            &masked(FIN | opcode, b"payload"),
            ProtocolError::ReservedOpcode(opcode),
            1002,
        );
    }
}

#[test]
fn errors_are_reported_as_soon_as_the_first_byte_shows_them() {
    // Only one byte of the frame has arrived: the error must not wait.
    let mut decoder = Decoder::default();
    assert_eq!(
        decoder.decode(&mut [FIN | 0x3]),
        Err(ProtocolError::ReservedOpcode(3))
    );
    let mut decoder = Decoder::default();
    assert_eq!(
        decoder.decode(&mut [PING]),
        Err(ProtocolError::FragmentedControlFrame)
    );
    let mut decoder = Decoder::default();
    assert_eq!(
        decoder.decode(&mut [FIN | TEXT, 0x05]),
        Err(ProtocolError::UnmaskedFrame)
    );
}

// --- Control frames --------------------------------------------------------------

#[test]
fn control_frames_up_to_125_bytes_are_accepted() {
    let payload = [0xabu8; 125];
    let wire = concat(&[masked(FIN | PING, &payload), masked(FIN | PONG, &payload)]);
    assert_eq!(
        decode(&wire).events,
        [Owned::Ping(payload.to_vec()), Owned::Pong(payload.to_vec())]
    );
}

#[test]
fn control_frames_over_125_bytes_fail() {
    for opcode in [PING, PONG, CLOSE] {
        fails_with(
            &masked(FIN | opcode, &[0; 126]),
            ProtocolError::ControlFrameTooLong(126),
            1002,
        );
        let wire = masked_with(FIN | opcode, &[0; 70000], KEY, LenForm::Ext64);
        fails_with(&wire, ProtocolError::ControlFrameTooLong(70000), 1002);
    }
}

#[test]
fn a_short_control_frame_in_a_long_length_form_is_accepted() {
    let wire = masked_with(FIN | PING, b"ping", KEY, LenForm::Ext16);
    assert_eq!(decode(&wire).events, [Owned::Ping(b"ping".to_vec())]);
}

#[test]
fn control_frames_without_fin_fail() {
    for opcode in [PING, PONG, CLOSE] {
        fails_with(
            &masked(opcode, b""),
            ProtocolError::FragmentedControlFrame,
            1002,
        );
    }
}

#[test]
fn control_frames_between_fragments_are_delivered_first() {
    let wire = concat(&[
        masked(TEXT, b"frag"),
        masked(FIN | PING, b"1"),
        masked(CONT, b"ment"),
        masked(FIN | PONG, b"2"),
        masked(FIN | CONT, b"ed"),
    ]);
    let outcome = decode(&wire);
    assert_eq!(outcome.error, None);
    assert_eq!(
        outcome.events,
        [
            Owned::Ping(b"1".to_vec()),
            Owned::Pong(b"2".to_vec()),
            Owned::text("fragmented")
        ]
    );
}

#[test]
fn empty_pings_and_pongs() {
    let wire = concat(&[masked(FIN | PING, b""), masked(FIN | PONG, b"")]);
    assert_eq!(
        decode(&wire).events,
        [Owned::Ping(vec![]), Owned::Pong(vec![])]
    );
}

// --- Fragmentation -----------------------------------------------------------------

#[test]
fn a_continuation_without_a_message_fails() {
    fails_with(
        &masked(FIN | CONT, b"x"),
        ProtocolError::UnexpectedContinuation,
        1002,
    );
    fails_with(
        &masked(CONT, b"x"),
        ProtocolError::UnexpectedContinuation,
        1002,
    );
    // Also right after a complete message.
    let wire = concat(&[masked(FIN | BINARY, b"a"), masked(FIN | CONT, b"b")]);
    let outcome = decode(&wire);
    assert_eq!(outcome.events, [Owned::binary(b"a")]);
    assert_eq!(outcome.error, Some(ProtocolError::UnexpectedContinuation));
}

#[test]
fn a_new_data_frame_during_a_fragmented_message_fails() {
    for second in [TEXT, BINARY, FIN | TEXT, FIN | BINARY] {
        let wire = concat(&[masked(TEXT, b"a"), masked(second, b"b")]);
        fails_with(&wire, ProtocolError::ExpectedContinuation, 1002);
    }
}

#[test]
fn fragments_reassemble_including_empty_ones() {
    let wire = concat(&[
        masked(BINARY, b""),
        masked(CONT, &[1, 2]),
        masked(CONT, b""),
        masked(FIN | CONT, &[3]),
    ]);
    assert_eq!(decode(&wire).events, [Owned::binary(&[1, 2, 3])]);
}

#[test]
fn empty_messages_of_both_kinds() {
    let wire = concat(&[
        masked(FIN | TEXT, b""),
        masked(FIN | BINARY, b""),
        masked(TEXT, b""),
        masked(FIN | CONT, b""),
    ]);
    assert_eq!(
        decode(&wire).events,
        [Owned::text(""), Owned::binary(b""), Owned::text("")]
    );
}

#[test]
fn a_message_after_a_fragmented_one_starts_fresh() {
    let wire = concat(&[
        masked(TEXT, b"one "),
        masked(FIN | CONT, b"two"),
        masked(FIN | BINARY, b"three"),
        masked(BINARY, b"fo"),
        masked(FIN | CONT, b"ur"),
    ]);
    assert_eq!(
        decode(&wire).events,
        [
            Owned::text("one two"),
            Owned::binary(b"three"),
            Owned::binary(b"four")
        ]
    );
}

// --- Lengths -----------------------------------------------------------------------

#[test]
fn sixteen_and_sixty_four_bit_lengths() {
    for len in [125usize, 126, 127, 65535, 65536, 100_000] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let outcome = decode_chunked(
            Decoder::default(),
            &masked(FIN | BINARY, &payload),
            &[usize::MAX],
        );
        assert_eq!(
            outcome.events,
            [Owned::Message(DataKind::Binary, payload)],
            "length {len}"
        );
    }
}

#[test]
fn non_minimal_length_encodings_are_accepted() {
    for form in [LenForm::Ext16, LenForm::Ext64] {
        for len in [0usize, 5, 125, 300] {
            let payload = vec![b'x'; len];
            let wire = masked_with(FIN | TEXT, &payload, [1, 2, 3, 4], form);
            assert_eq!(
                decode(&wire).events,
                [Owned::Message(DataKind::Text, payload)]
            );
        }
    }
}

#[test]
fn a_64_bit_length_with_the_top_bit_set_fails() {
    let mut wire = vec![FIN | BINARY, 0x80 | 127];
    wire.extend_from_slice(&(1u64 << 63).to_be_bytes());
    wire.extend_from_slice(&KEY);
    fails_with(&wire, ProtocolError::LengthOverflow, 1002);
    let mut wire = vec![FIN | BINARY, 0x80 | 127];
    wire.extend_from_slice(&u64::MAX.to_be_bytes());
    wire.extend_from_slice(&KEY);
    fails_with(&wire, ProtocolError::LengthOverflow, 1002);
}

// --- UTF-8 -------------------------------------------------------------------------

#[test]
fn invalid_utf8_in_a_single_frame_fails_with_1007() {
    for bad in [
        &b"\xff"[..],
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"ok\xe2\x82",
    ] {
        fails_with(&masked(FIN | TEXT, bad), ProtocolError::InvalidUtf8, 1007);
    }
}

#[test]
fn binary_messages_are_not_checked_for_utf8() {
    assert_eq!(
        decode(&masked(FIN | BINARY, b"\xff\xfe")).events,
        [Owned::binary(b"\xff\xfe")]
    );
}

#[test]
fn invalid_utf8_in_a_long_single_frame_fails_with_1007_also_when_lent_masked() {
    // From LEND_MASKED_MIN bytes on, a lending decoder checks the text while
    // it unmasks; `decode` runs both kinds of decoder and compares them.
    let long = "é".repeat(rs_proto::LEND_MASKED_MIN);
    for bad in [
        [&b"\xff"[..], long.as_bytes()].concat(),
        [long.as_bytes(), b"\xed\xa0\x80"].concat(),
        // A code point cut by the end of the message.
        [long.as_bytes(), b"\xe2\x82"].concat(),
    ] {
        fails_with(&masked(FIN | TEXT, &bad), ProtocolError::InvalidUtf8, 1007);
    }
    assert_eq!(
        decode(&masked(FIN | TEXT, long.as_bytes())).events,
        [Owned::text(&long)]
    );
}

#[test]
fn an_invalid_fragment_fails_before_the_message_ends() {
    // No final fragment ever arrives: the error must come from the first one.
    let wire = concat(&[
        masked(TEXT, "κόσμε".as_bytes()),
        masked(CONT, b"\xed\xa0\x80edited"),
    ]);
    fails_with(&wire, ProtocolError::InvalidUtf8, 1007);
    fails_with(&masked(TEXT, b"\xc1"), ProtocolError::InvalidUtf8, 1007);
}

#[test]
fn an_invalid_byte_fails_before_its_frame_ends() {
    // Only part of one large frame arrives; the bad byte is in that part.
    let mut payload = vec![b'a'; 1000];
    payload[10] = 0xff;
    let wire = masked(FIN | TEXT, &payload);
    let mut partial = wire[..40].to_vec();
    let mut decoder = Decoder::default();
    assert_eq!(
        decoder.decode(&mut partial),
        Err(ProtocolError::InvalidUtf8)
    );
}

#[test]
fn a_code_point_split_across_fragments_is_valid() {
    let text = "a€𝄞b";
    let bytes = text.as_bytes();
    for i in 0..=bytes.len() {
        for j in i..=bytes.len() {
            let wire = concat(&[
                masked(TEXT, &bytes[..i]),
                masked(CONT, &bytes[i..j]),
                masked(FIN | CONT, &bytes[j..]),
            ]);
            let outcome = decode(&wire);
            assert_eq!(outcome.error, None, "split at {i} {j}");
            assert_eq!(outcome.events, [Owned::text(text)]);
        }
    }
}

#[test]
fn a_sequence_truncated_at_the_message_end_fails() {
    let wire = concat(&[masked(TEXT, b"abc\xf0\x9f"), masked(FIN | CONT, b"\x98")]);
    fails_with(&wire, ProtocolError::InvalidUtf8, 1007);
}

// --- Close frames ------------------------------------------------------------------

#[test]
fn an_empty_close_has_no_status() {
    assert_eq!(
        decode(&masked(FIN | CLOSE, b"")).events,
        [Owned::Close(None)]
    );
}

#[test]
fn a_close_payload_of_one_byte_fails() {
    fails_with(
        &masked(FIN | CLOSE, &[0x03]),
        ProtocolError::CloseFrameTooShort,
        1002,
    );
}

#[test]
fn valid_close_codes_are_delivered_with_their_reason() {
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
        4000, 4999,
    ] {
        let wire = masked(FIN | CLOSE, &close_payload(code, "bye ✓".as_bytes()));
        assert_eq!(
            decode(&wire).events,
            [Owned::Close(Some((code, "bye ✓".into())))],
            "code {code}"
        );
    }
}

#[test]
fn invalid_close_codes_fail() {
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let wire = masked(FIN | CLOSE, &close_payload(code, b""));
        fails_with(&wire, ProtocolError::InvalidCloseCode(code), 1002);
    }
}

#[test]
fn a_close_reason_that_is_not_utf8_fails_with_1007() {
    let wire = masked(FIN | CLOSE, &close_payload(1000, b"\xce\xba\xff"));
    fails_with(&wire, ProtocolError::InvalidCloseReason, 1007);
}

#[test]
fn input_after_a_close_is_ignored() {
    let wire = concat(&[
        masked(FIN | CLOSE, &close_payload(1000, b"")),
        masked(FIN | TEXT, b"after"),
        vec![0xff, 0xff, 0xff],
    ]);
    let outcome = decode(&wire);
    assert_eq!(outcome.events, [Owned::Close(Some((1000, String::new())))]);
    assert_eq!(outcome.error, None);
}

#[test]
fn a_close_in_the_middle_of_a_fragmented_message_is_delivered() {
    let wire = concat(&[
        masked(TEXT, b"partial"),
        masked(FIN | CLOSE, &close_payload(1001, b"")),
    ]);
    assert_eq!(
        decode(&wire).events,
        [Owned::Close(Some((1001, String::new())))]
    );
}

#[test]
fn the_decoder_is_finished_after_a_close_or_an_error() {
    let mut decoder = Decoder::default();
    let mut close = masked(FIN | CLOSE, b"");
    assert!(decoder.decode(&mut close).unwrap().event.is_some());
    assert!(decoder.is_finished());
    let mut more = masked(FIN | TEXT, b"x");
    let more_len = more.len();
    let decoded = decoder.decode(&mut more).unwrap();
    assert_eq!((decoded.consumed, decoded.event), (more_len, None));

    let mut decoder = Decoder::default();
    assert!(decoder.decode(&mut unmasked(FIN | TEXT, b"x")).is_err());
    assert!(decoder.is_finished());
    let decoded = decoder.decode(&mut more).unwrap();
    assert_eq!((decoded.consumed, decoded.event), (more_len, None));
}

// --- Limits --------------------------------------------------------------------------

fn limits(max_message_size: u64, max_frame_chain_size: u64) -> Decoder {
    Decoder::new(Limits {
        max_message_size,
        max_frame_chain_size,
    })
}

#[test]
fn a_message_of_exactly_the_limit_is_accepted() {
    let wire = masked(FIN | BINARY, &[7; 100]);
    let outcome = decode_all(limits(100, 1000), &wire);
    assert_eq!(outcome.events, [Owned::binary(&[7; 100])]);
}

#[test]
fn a_single_frame_over_the_message_limit_fails_on_its_header() {
    // Only the header is sent: the limit applies before any payload arrives.
    let wire = masked(FIN | BINARY, &[7; 101]);
    let outcome = decode_all(limits(100, 1000), &wire[..6]);
    let error = ProtocolError::MessageTooLarge {
        limit: 100,
        size: 101,
    };
    assert_eq!(outcome.error, Some(error));
    assert_eq!(error.close_code().get(), 1009);
    // The size known when the limit was passed: the whole message may be
    // longer (the reason is what the client is told).
    assert_eq!(
        error.to_string(),
        "message of at least 101 bytes exceeds max_ws_msg_size (100)"
    );
}

#[test]
fn fragments_adding_up_over_the_message_limit_fail() {
    let wire = concat(&[
        masked(BINARY, &[1; 60]),
        masked(CONT, &[2; 40]),
        masked(FIN | CONT, &[3]),
    ]);
    let outcome = decode_all(limits(100, 1000), &wire);
    assert_eq!(
        outcome.error,
        Some(ProtocolError::MessageTooLarge {
            limit: 100,
            size: 101
        })
    );
}

#[test]
fn the_frame_chain_limit_counts_headers() {
    // Ten 1-byte fragments: 10 payload bytes, 70 bytes on the wire.
    let mut frames = vec![masked(BINARY, b"x")];
    frames.extend((0..8).map(|_| masked(CONT, b"x")));
    frames.push(masked(FIN | CONT, b"x"));
    let wire = concat(&frames);
    assert_eq!(
        decode_all(limits(10, 70), &wire).events,
        [Owned::binary(&[b'x'; 10])]
    );
    let outcome = decode_all(limits(10, 69), &wire);
    assert_eq!(
        outcome.error,
        Some(ProtocolError::FrameChainTooLarge {
            limit: 69,
            size: 70
        })
    );
    assert_eq!(outcome.error.unwrap().close_code().get(), 1009);
}

#[test]
fn the_frame_chain_limit_counts_interleaved_control_frames() {
    let wire = concat(&[
        masked(BINARY, b"ab"),
        masked(FIN | PING, &[0; 20]),
        masked(FIN | CONT, b"cd"),
    ]);
    // 8 + 26 + 8 = 42 bytes on the wire.
    assert_eq!(decode_all(limits(4, 42), &wire).error, None);
    let outcome = decode_all(limits(4, 41), &wire);
    // The ping still fits (34 bytes); the last fragment tips the chain over.
    assert_eq!(outcome.events, [Owned::Ping(vec![0; 20])]);
    assert_eq!(
        outcome.error,
        Some(ProtocolError::FrameChainTooLarge {
            limit: 41,
            size: 42
        })
    );
}

#[test]
fn control_frames_outside_messages_do_not_count_toward_the_chain() {
    let wire = concat(&[masked(FIN | PING, &[0; 100]), masked(FIN | BINARY, b"ok")]);
    assert_eq!(decode_all(limits(4, 10), &wire).error, None);
}

#[test]
fn default_limits_accept_16_mib_and_refuse_one_byte_more() {
    let payload = vec![0x5a; 16 * 1024 * 1024];
    let outcome = decode_chunked(
        Decoder::default(),
        &masked(FIN | BINARY, &payload),
        &[65536],
    );
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.events.len(), 1);
    let wire = masked(FIN | BINARY, &vec![0; 16 * 1024 * 1024 + 1]);
    let outcome = decode_chunked(Decoder::default(), &wire[..14], &[usize::MAX]);
    assert_eq!(
        outcome.error,
        Some(ProtocolError::MessageTooLarge {
            limit: 16 << 20,
            size: (16 << 20) + 1
        })
    );
}

// --- Chunking and borrowing ----------------------------------------------------------

#[test]
fn every_split_point_of_a_mixed_stream_gives_the_same_events() {
    let wire = concat(&[
        masked(FIN | TEXT, "héllo".as_bytes()),
        masked(BINARY, &[1; 130]),
        masked(FIN | PING, b"in between"),
        masked(FIN | CONT, &[2; 3]),
        masked_with(FIN | TEXT, b"long form", [9, 8, 7, 6], LenForm::Ext64),
        masked(FIN | CLOSE, &close_payload(1000, b"done")),
    ]);
    let expected = decode(&wire);
    assert_eq!(expected.error, None);
    assert_eq!(expected.events.len(), 5);
    for split in 1..wire.len() {
        let outcome = decode_chunked(Decoder::default(), &wire, &[split, usize::MAX]);
        assert_eq!(outcome, expected, "split at {split}");
    }
}

#[test]
fn a_whole_frame_is_unmasked_in_place_in_the_input() {
    let mut wire = masked(FIN | BINARY, b"in place");
    let mut decoder = Decoder::default();
    let decoded = decoder.decode(&mut wire).unwrap();
    assert_eq!(decoded.consumed, wire.len());
    assert_eq!(&wire[6..], b"in place");
}
