//! Read callbacks through a real app thread: every read mode, every
//! argument form at its boundaries, the 4900/4901/4902 closes (with the
//! callback not called), the getters and the app's state.
//!
//! Two workers throughout, so that routing by worker is exercised.

mod support;

use support::{Client, Harness, Out, To, bin, text};

// ---------------------------------------------------------------- bin mode

/// The seed's silly_calc payload: an i32 and u16s, network byte order.
fn calc(i: i32, u16s: &[u16]) -> Vec<u8> {
    let mut payload = i.to_be_bytes().to_vec();
    for v in u16s {
        payload.extend_from_slice(&v.to_be_bytes());
    }
    payload
}

#[test]
fn silly_calc_sends_the_sum_to_the_others_and_laughs_at_the_sender() {
    let mut h = Harness::start("silly_calc");
    let (a, b, c) = (Client::new(0, 1), Client::new(0, 2), Client::new(1, 1));
    for client in [&a, &b, &c] {
        h.open(client); // no open callback: nothing is sent
    }
    h.assert_silent(support::QUIET);

    h.bin(&a, &calc(-100_000, &[1, 65_535, 7]));
    let sum = bin(&(-100_000i64 + 1 + 65_535 + 7).to_be_bytes());
    assert_eq!(
        h.expect(3),
        [
            // Worker 0 holds the sender: every client there but the sender.
            Out::new(0, To::EveryExcept(a.id), sum.clone()),
            Out::single(a.id, text("笑笑?")),
            // Worker 1 does not: every client there.
            Out::new(1, To::Every, sum),
        ]
    );
    assert_eq!(text("笑笑?"), b"\x81\x07\xe7\xac\x91\xe7\xac\x91?");

    // A sender on worker 1, with 1 and with 10 u16s (the range's bounds);
    // the sum is an i64, so it may exceed i32.
    for u16s in [&[9][..], &[u16::MAX; 10][..]] {
        h.bin(&c, &calc(i32::MAX, u16s));
        let sum = u16s
            .iter()
            .fold(i64::from(i32::MAX), |s, &v| s + i64::from(v));
        let sum = bin(&sum.to_be_bytes());
        assert_eq!(
            h.expect(3),
            [
                Out::new(0, To::Every, sum.clone()),
                Out::new(1, To::EveryExcept(c.id), sum),
                Out::single(c.id, text("笑笑?")),
            ]
        );
    }
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn silly_calc_closes_wrong_sizes_with_4900_without_calling_back() {
    let mut h = Harness::start("silly_calc");
    let mut a = Client::new(1, 3);
    let mut odd = calc(5, &[1, 2]);
    odd.push(0);
    for payload in [
        Vec::new(),                       // nothing
        vec![0, 0, 0],                    // not even the i32
        calc(5, &[]),                     // no u16
        calc(5, &[1; 11]),                // 11 u16s
        odd,                              // half a u16
        calc(5, &[1; 10])[..23].to_vec(), // 9.5 u16s
    ] {
        h.bin(&a, &payload);
        h.expect_closed(&mut a, 4900, &format!("{payload:?}"));
    }
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn silly_calc_closes_text_with_4901_without_calling_back() {
    let mut h = Harness::start("silly_calc");
    let mut a = Client::new(0, 3);
    // Even a text message of a valid size is the wrong kind.
    h.text(&a, "\0\0\0\x05\0\x01");
    h.expect_closed(&mut a, 4901, "");
    assert_eq!(h.stop(), Ok(()));
}

// --------------------------------------------------------------- utf8 mode

#[test]
fn chat_relays_text_and_announces_to_the_other_members_of_the_endpoint() {
    let mut h = Harness::start("chat");
    let a = Client::on(0, 1, 1);
    let b = Client::on(1, 1, 1);
    let c = Client::on(0, 2, 1);
    let d = Client::on(1, 2, 2); // alone on endpoint 2

    // The first member has nobody to tell.
    h.open(&a);
    h.assert_silent(support::QUIET);
    h.open(&b);
    assert_eq!(
        h.expect(1),
        [Out::new(
            0,
            To::Multi(vec![a.id]),
            text(&format!("{} joined", b.id))
        )]
    );
    // One MULTI per worker, each with only the ids it holds.
    h.open(&c);
    let joined = text(&format!("{} joined", c.id));
    assert_eq!(
        h.expect(2),
        [
            Out::new(0, To::Multi(vec![a.id]), joined.clone()),
            Out::new(1, To::Multi(vec![b.id]), joined),
        ]
    );
    h.open(&d);
    h.assert_silent(support::QUIET);

    h.text(&a, "hi 笑");
    let said = text(&format!("{}: hi 笑", a.id));
    assert_eq!(
        h.expect(2),
        [
            Out::new(0, To::Multi(vec![c.id]), said.clone()),
            Out::new(1, To::Multi(vec![b.id]), said),
        ]
    );
    // An empty text message is a message too.
    h.text(&c, "");
    let said = text(&format!("{}: ", c.id));
    assert_eq!(
        h.expect(2),
        [
            Out::new(0, To::Multi(vec![a.id]), said.clone()),
            Out::new(1, To::Multi(vec![b.id]), said),
        ]
    );
    // Endpoint 2 is another room.
    h.text(&d, "anyone?");
    h.assert_silent(support::QUIET);

    h.close(&b);
    assert_eq!(
        h.expect(1),
        [Out::new(
            0,
            To::Multi(vec![a.id, c.id]),
            text(&format!("{} left", b.id))
        )]
    );
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn chat_closes_binary_with_4901_without_calling_back() {
    let mut h = Harness::start("chat");
    let (mut a, b) = (Client::on(0, 1, 1), Client::on(1, 1, 1));
    h.open(&a);
    h.open(&b);
    h.take(1); // b joined
    h.bin(&a, b"hi");
    h.expect_closed(&mut a, 4901, "");
    assert_eq!(h.stop(), Ok(()));
}

// ---------------------------------------------------------------- any mode

#[test]
fn echo_keeps_the_kind_and_the_bytes() {
    let mut h = Harness::start("echo");
    let (a, b) = (Client::new(0, 7), Client::new(1, 7));
    // No open or close callback: those messages are consumed silently.
    h.open(&a);
    h.open(&b);
    h.assert_silent(support::QUIET);

    h.text(&a, "héllo");
    assert_eq!(h.expect(1), [Out::single(a.id, text("héllo"))]);
    h.bin(&b, &[0, 1, 0xff]);
    assert_eq!(h.expect(1), [Out::single(b.id, bin(&[0, 1, 0xff]))]);
    h.bin(&a, b"");
    assert_eq!(h.expect(1), [Out::single(a.id, vec![0x82, 0x00])]);
    h.text(&b, "");
    assert_eq!(h.expect(1), [Out::single(b.id, vec![0x81, 0x00])]);

    // The three length forms of a frame header.
    for len in [125, 126, 65_535, 65_536, 70_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        h.bin(&b, &payload);
        let got = h.expect(1);
        assert_eq!(got, [Out::single(b.id, bin(&payload))], "{len} bytes");
        assert_eq!(support::parse_frame(&got[0].frame), (0x2, &payload[..]));
    }
    assert_eq!(
        &bin(&[0; 126])[..4],
        [0x82, 126, 0, 126],
        "the expected frames use the 16-bit length form from 126 bytes"
    );
    assert_eq!(
        &bin(&[0; 65_536])[..10],
        [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0],
        "and the 64-bit form from 65536"
    );

    h.close(&a);
    h.assert_silent(support::QUIET);
    assert_eq!(h.stop(), Ok(()));
}

// ------------------------------------------------------------- switch mode

/// A probe message: the case byte, then the payload.
fn case(value: u8, payload: &[u8]) -> Vec<u8> {
    let mut message = vec![value];
    message.extend_from_slice(payload);
    message
}

#[test]
fn switch_closes_unknown_cases_with_4902() {
    let mut h = Harness::start("probe");
    let mut a = Client::new(0, 1);
    for message in [case(16, &[]), case(200, &[1, 2]), case(255, &[])] {
        h.bin(&a, &message);
        h.expect_closed(&mut a, 4902, &format!("{message:?}"));
    }
    h.text(&a, "\x7f");
    h.expect_closed(&mut a, 4902, "");
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn switch_closes_an_empty_message_with_4902() {
    let mut h = Harness::start("probe");
    let mut a = Client::new(1, 1);
    h.bin(&a, b"");
    h.expect_closed(&mut a, 4902, "");
    h.text(&a, "");
    h.expect_closed(&mut a, 4902, "");
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn switch_closes_the_wrong_kind_for_a_case_with_4901() {
    let mut h = Harness::start("probe");
    let mut a = Client::new(0, 1);
    // Text for case 8 (binary, no arguments): the size would fit.
    h.text(&a, "\x08");
    h.expect_closed(&mut a, 4901, "");
    // Binary for case 3 (text).
    h.bin(&a, b"\x03abc");
    h.expect_closed(&mut a, 4901, "");
    // The kind is checked before the size.
    h.text(&a, "\x08too long");
    h.expect_closed(&mut a, 4901, "");
    assert_eq!(h.stop(), Ok(()));
}

// --------------------------------------------------------------- arguments

#[test]
fn scalars_arrive_in_the_declared_byte_order() {
    let mut h = Harness::start("probe");
    let mut a = Client::new(1, 2);
    let net_u16 = [0x12, 0x34];
    let net_i64 = [0x80, 2, 3, 4, 5, 6, 7, 0xf8];
    let mut payload = vec![0xfe]; // net(u8)
    payload.extend_from_slice(&net_u16); // net(u16): as sent
    payload.extend_from_slice(&0xbeef_u16.to_be_bytes());
    payload.extend_from_slice(&0xdead_beef_u32.to_be_bytes());
    payload.extend_from_slice(&0x0102_0304_0506_0708_u64.to_be_bytes());
    payload.extend_from_slice(&(-128i8).to_be_bytes());
    payload.extend_from_slice(&(-2i16).to_be_bytes());
    payload.extend_from_slice(&(-100_000i32).to_be_bytes());
    payload.extend_from_slice(&i64::MIN.to_be_bytes());
    payload.extend_from_slice(&net_i64); // net(i64): as sent
    payload.extend_from_slice(&(-1.5f32).to_be_bytes());
    payload.extend_from_slice(&(-0.1f64).to_be_bytes());
    assert_eq!(payload.len(), 52);

    // The probe writes every value back in network byte order, so the
    // ntoh values come back as sent and the net ones as this host reads
    // them (byte-swapped on little-endian machines).
    let mut reply = vec![0xfe];
    reply.extend_from_slice(&u16::from_ne_bytes(net_u16).to_be_bytes());
    reply.extend_from_slice(&payload[3..32]); // the ntoh integers
    reply.extend_from_slice(&i64::from_ne_bytes(net_i64).to_be_bytes());
    reply.extend_from_slice(&(-1.5f32).to_bits().to_be_bytes());
    reply.extend_from_slice(&(-0.1f64).to_bits().to_be_bytes());
    h.bin(&a, &case(0, &payload));
    assert_eq!(h.expect(1), [Out::single(a.id, bin(&reply))]);

    // One byte short, one byte long.
    for len in [0, 51, 53] {
        let mut wrong = payload.clone();
        wrong.resize(len, 0);
        h.bin(&a, &case(0, &wrong));
        h.expect_closed(&mut a, 4900, &format!("{len} bytes"));
    }
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn fixed_arrays_take_exactly_their_count() {
    let mut h = Harness::start("probe");
    let mut a = Client::new(0, 2);
    // ntoh(u16; 3), then net(u8; 2).
    let payload = [0, 1, 0xff, 0xfe, 0x12, 0x34, 0xaa, 0xbb];
    h.bin(&a, &case(1, &payload));
    assert_eq!(h.expect(1), [Out::single(a.id, bin(&payload))]);
    for wrong in [&payload[..7], &[payload.as_slice(), &[0]].concat()] {
        h.bin(&a, &case(1, wrong));
        h.expect_closed(&mut a, 4900, &format!("{wrong:?}"));
    }
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn a_range_of_0_to_16_takes_0_and_16_but_not_17() {
    let mut h = Harness::start("probe");
    let mut a = Client::new(1, 2);
    for count in [0u16, 1, 16] {
        let values: Vec<u16> = (0..count).map(|i| 0xff00 ^ (0x0101 * i)).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
        h.bin(&a, &case(2, &bytes));
        let mut reply = vec![count as u8];
        reply.extend_from_slice(&bytes);
        assert_eq!(
            h.expect(1),
            [Out::single(a.id, bin(&reply))],
            "{count} elements"
        );
    }
    // 17 elements, and a half element.
    for len in [34, 3] {
        h.bin(&a, &case(2, &vec![7; len]));
        h.expect_closed(&mut a, 4900, &format!("{len} bytes"));
    }
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn a_string_of_1_to_8_bytes_counts_bytes_not_characters() {
    let mut h = Harness::start("probe");
    let mut a = Client::new(0, 3);
    for accepted in ["x", "abcdefgh", "笑笑", "éé笑a"] {
        h.text(&a, &format!("\x03{accepted}"));
        assert_eq!(
            h.expect(1),
            [Out::single(a.id, text(&format!("{accepted}|{accepted}")))],
            "{accepted:?}"
        );
    }
    // 0 bytes, 9 bytes, 9 bytes in 3 characters.
    for refused in ["", "abcdefghi", "笑笑笑"] {
        h.text(&a, &format!("\x03{refused}"));
        h.expect_closed(&mut a, 4900, &format!("{refused:?}"));
    }
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn fifteen_arguments_the_most_allowed() {
    let mut h = Harness::start("probe");
    let mut a = Client::new(1, 3);
    let args: Vec<u8> = (1..=15).collect();
    h.bin(&a, &case(4, &args));
    assert_eq!(h.expect(1), [Out::single(a.id, bin(&120u32.to_be_bytes()))]);
    let args: Vec<u8> = vec![255; 15];
    h.bin(&a, &case(4, &args));
    assert_eq!(
        h.expect(1),
        [Out::single(a.id, bin(&(15 * 255u32).to_be_bytes()))]
    );
    for len in [14, 16] {
        h.bin(&a, &case(4, &vec![1; len]));
        h.expect_closed(&mut a, 4900, &format!("{len} bytes"));
    }
    assert_eq!(h.stop(), Ok(()));
}

// ----------------------------------------------------------------- getters

#[test]
fn getters_describe_the_current_client_and_state_persists() {
    let mut h = Harness::start("probe");
    let mut a = Client::on(1, 5, 7).with_peer("198.51.100.9:4242");
    let b = Client::on(0, 6, 3).with_peer("[2001:db8::1]:443");
    // A v4-mapped IPv6 peer stays IPv6.
    let c = Client::on(0, 7, 0).with_peer("[::ffff:192.0.2.1]:80");
    let info = |client: &Client, addr: &str, reads: u32| {
        text(&format!(
            "id={} endpoint={} addr={addr} kind=Bin name=under-test workers=2 reads={reads}",
            client.id, client.endpoint
        ))
    };
    h.bin(&a, b"\x08");
    assert_eq!(
        h.expect(1),
        [Out::single(a.id, info(&a, "198.51.100.9:4242", 1))]
    );
    h.bin(&b, b"\x08");
    assert_eq!(
        h.expect(1),
        [Out::single(b.id, info(&b, "[2001:db8::1]:443", 2))]
    );
    h.bin(&c, b"\x08");
    assert_eq!(
        h.expect(1),
        [Out::single(c.id, info(&c, "[::ffff:192.0.2.1]:80", 3))]
    );
    // Other cases leave the counter alone.
    h.bin(&a, &case(6, &0i32.to_be_bytes()));
    h.bin(&a, b"\x08");
    assert_eq!(
        h.expect(1),
        [Out::single(a.id, info(&a, "198.51.100.9:4242", 4))]
    );
    // No arguments: a byte more is the wrong size.
    h.bin(&a, b"\x08\x00");
    h.expect_closed(&mut a, 4900, "");
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn client_ids_pack_worker_slot_and_generation() {
    let mut h = Harness::start("probe");
    let a = Client::new(1, 0x3f_ffff);
    let a = Client {
        id: support::id(1, 0x3f_ffff, rs_app::wire::MAX_GENERATION),
        ..a
    };
    h.bin(&a, b"\x08");
    let got = h.expect(1);
    let (_, payload) = support::parse_frame(&got[0].frame);
    let line = std::str::from_utf8(payload).expect("text");
    let expected = (1u64 << 54) | (0x3f_ffffu64 << 32) | 0xffff_ffff;
    assert!(line.starts_with(&format!("id={expected} ")), "{line}");
    assert_eq!(got[0].to, To::Single(a.id));
    assert_eq!(h.stop(), Ok(()));
}

// ----------------------------------------------------------- sending text

#[test]
fn invalid_utf8_is_not_sent_as_text() {
    let mut h = Harness::start("probe");
    let a = Client::new(0, 4);
    // The probe writes 0xff 0xfe, tries to send them as text, then replies
    // whether that was refused; only the reply is sent.
    h.text(&a, "\n");
    assert_eq!(h.expect(1), [Out::single(a.id, bin(&[1]))]);
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn a_text_message_less_its_case_byte_is_checked_before_it_is_sent_as_text() {
    let mut h = Harness::start("probe");
    let a = Client::new(0, 4);
    // "é" is C3 A9: case 0xC3, which echoes [A9] as text, a continuation
    // byte alone. The whole message was valid UTF-8; what is echoed is not.
    h.text(&a, "é");
    assert_eq!(h.expect(1), [Out::single(a.id, bin(&[1]))]);
    assert_eq!(h.stop(), Ok(()));
}
