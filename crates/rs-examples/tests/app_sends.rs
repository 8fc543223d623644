//! What apps send: the seven targets split per worker, closing clients,
//! and the open and close callbacks.

mod support;

use rs_app::wire::ClientId;
use rs_ring::RingConfig;
use support::{Client, Harness, Out, To, app_error, bin, id, text};

/// Probe case 5: send "t<target>" to `target` with `ids`.
fn target(target: u8, ids: &[ClientId]) -> Vec<u8> {
    let mut message = vec![5, target];
    for id in ids {
        message.extend_from_slice(&id.get().to_be_bytes());
    }
    message
}

/// The sender `a` and the others: `b` on the same worker, `c` and `d` on
/// the other one.
fn clients() -> [Client; 4] {
    [
        Client::new(0, 1),
        Client::new(0, 2),
        Client::new(1, 1),
        Client::new(1, 2),
    ]
}

#[test]
fn to_single_reaches_one_client_on_its_worker() {
    let mut h = Harness::start("probe");
    let [a, b, c, _] = clients();
    h.bin(&a, &target(0, &[c.id]));
    assert_eq!(h.expect(1), [Out::single(c.id, text("t0"))]);
    h.bin(&c, &target(0, &[b.id]));
    assert_eq!(h.expect(1), [Out::single(b.id, text("t0"))]);
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn to_single_for_a_worker_that_does_not_exist_reaches_nobody() {
    let mut h = Harness::start("probe");
    let [a, ..] = clients();
    h.bin(&a, &target(0, &[id(2, 1, 1)]));
    h.bin(&a, &target(0, &[id(1023, 1, 1)]));
    h.assert_silent(support::QUIET);
    // And the app goes on.
    h.bin(&a, &target(2, &[]));
    assert_eq!(h.expect(1), [Out::single(a.id, text("t2"))]);
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn to_multi_sends_one_message_per_worker_with_only_its_ids() {
    let mut h = Harness::start("probe");
    let [a, b, c, d] = clients();
    h.bin(&a, &target(1, &[b.id, c.id, d.id, a.id]));
    assert_eq!(
        h.expect(2),
        [
            Out::new(0, To::Multi(vec![b.id, a.id]), text("t1")),
            Out::new(1, To::Multi(vec![c.id, d.id]), text("t1")),
        ]
    );
    // A worker that holds none of the ids gets nothing.
    h.bin(&a, &target(1, &[d.id]));
    assert_eq!(
        h.expect(1),
        [Out::new(1, To::Multi(vec![d.id]), text("t1"))]
    );
    // Ids on no existing worker are dropped.
    h.bin(&a, &target(1, &[id(3, 1, 1), b.id]));
    assert_eq!(
        h.expect(1),
        [Out::new(0, To::Multi(vec![b.id]), text("t1"))]
    );
    // An id listed twice is sent to once.
    h.bin(&a, &target(1, &[b.id, c.id, b.id, b.id, c.id]));
    assert_eq!(
        h.expect(2),
        [
            Out::new(0, To::Multi(vec![b.id]), text("t1")),
            Out::new(1, To::Multi(vec![c.id]), text("t1")),
        ]
    );
    // Nobody at all: nothing is sent, and that is no error.
    h.bin(&a, &target(1, &[]));
    h.assert_silent(support::QUIET);
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn to_cur_reaches_the_sender() {
    let mut h = Harness::start("probe");
    let [_, _, c, _] = clients();
    h.bin(&c, &target(2, &[]));
    assert_eq!(h.expect(1), [Out::single(c.id, text("t2"))]);
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn to_cur_in_a_loop_puts_each_frame_on_the_ring_in_order() {
    let mut h = Harness::start("probe");
    let [a, ..] = clients();
    h.bin(&a, &[11, 0, 3]);
    assert_eq!(
        h.expect(3),
        [0u16, 1, 2].map(|i| Out::single(a.id, bin(&i.to_be_bytes())))
    );
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn to_every_goes_to_every_worker() {
    let mut h = Harness::start("probe");
    let [a, ..] = clients();
    h.bin(&a, &target(3, &[]));
    assert_eq!(
        h.expect(2),
        [
            Out::new(0, To::Every, text("t3")),
            Out::new(1, To::Every, text("t3")),
        ]
    );
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn to_every_except_single_excepts_on_its_worker_only() {
    let mut h = Harness::start("probe");
    let [a, _, c, _] = clients();
    h.bin(&a, &target(4, &[c.id]));
    assert_eq!(
        h.expect(2),
        [
            Out::new(0, To::Every, text("t4")),
            Out::new(1, To::EveryExcept(c.id), text("t4")),
        ]
    );
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn to_every_except_multi_excepts_per_worker() {
    let mut h = Harness::start("probe");
    let [a, b, c, d] = clients();
    h.bin(&a, &target(5, &[c.id, b.id]));
    assert_eq!(
        h.expect(2),
        [
            Out::new(0, To::EveryExceptMulti(vec![b.id]), text("t5")),
            Out::new(1, To::EveryExceptMulti(vec![c.id]), text("t5")),
        ]
    );
    h.bin(&a, &target(5, &[c.id, d.id]));
    assert_eq!(
        h.expect(2),
        [
            Out::new(0, To::Every, text("t5")),
            Out::new(1, To::EveryExceptMulti(vec![c.id, d.id]), text("t5")),
        ]
    );
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn to_every_except_cur_excepts_the_sender() {
    let mut h = Harness::start("probe");
    let [_, _, c, _] = clients();
    h.bin(&c, &target(6, &[]));
    assert_eq!(
        h.expect(2),
        [
            Out::new(0, To::Every, text("t6")),
            Out::new(1, To::EveryExcept(c.id), text("t6")),
        ]
    );
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn more_ids_than_the_range_allows_is_the_wrong_size() {
    let mut h = Harness::start("probe");
    let [mut a, ..] = clients();
    let ids: Vec<ClientId> = (1..=65).map(|slot| id(1, slot, 1)).collect();
    h.bin(&a, &target(1, &ids));
    h.expect_closed(&mut a, 4900, "65 ids");
    // 64 is fine.
    h.bin(&a, &target(1, &ids[..64]));
    assert_eq!(
        h.expect(1),
        [Out::new(1, To::Multi(ids[..64].to_vec()), text("t1"))]
    );
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn a_send_too_large_for_one_workers_ring_reaches_nobody() {
    // Outbound rings of 64 bytes: "every client but these eight" fits
    // worker 0's ring (no ids), not worker 1's (eight ids).
    let small = RingConfig::new(64);
    let mut h = Harness::with_rings("probe", 2, RingConfig::new(1 << 16), small);
    h.run();
    let [a, ..] = clients();
    let ids: Vec<ClientId> = (1..=8).map(|slot| id(1, slot, 1)).collect();
    h.bin(&a, &target(5, &ids));
    // The probe stops on a refused send: refused, and sent to no worker.
    assert_eq!(h.join(), Err(app_error("read", "returned -1 (fatal)")));
    assert_eq!(h.gather(support::QUIET), []);
}

#[test]
fn an_echo_too_large_for_the_outbound_ring_is_refused_however_it_would_go() {
    // An echo of 1 KiB or more is lent (its record holds no payload) while
    // the worker keeps up, copied when it does not: too large either way.
    let small = RingConfig::new(4096);
    let mut h = Harness::with_rings("echo", 1, RingConfig::new(1 << 16), small);
    h.run();
    let a = Client::new(0, 1);
    h.bin(&a, &[7; 5000]);
    assert_eq!(h.join(), Err(app_error("read", "returned -1 (fatal)")));
    assert_eq!(h.gather(support::QUIET), []);
    // What fits is echoed, lent.
    let mut h = Harness::with_rings("echo", 1, RingConfig::new(1 << 16), small);
    h.run();
    h.bin(&a, &[7; 4000]);
    assert_eq!(h.expect(1), [Out::single(a.id, bin(&[7; 4000]))]);
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn a_write_left_unsent_is_forgotten_even_when_it_was_too_large() {
    // Outbound rings of 4 KiB: a 64 KiB write can never be sent.
    let small = RingConfig::new(4096);
    let mut h = Harness::with_rings("probe", 1, RingConfig::new(1 << 16), small);
    h.run();
    let [a, b, ..] = clients();
    // Case 14: a writes 64 KiB and sends nothing.
    h.bin(&a, &[14, 0, 64]);
    // b's reply (case 13: 1 KiB) is a new callback's message, not refused
    // for what a's callback left behind.
    h.bin(&b, &[13, 0, 1]);
    assert_eq!(h.expect(1), [Out::single(b.id, bin(&[0; 1024]))]);
    assert_eq!(h.stop(), Ok(()));
}

/// A C app whose read calls `send` as its message says, then replies with
/// the status: `[1]` TARGET_EVERY with NULL ids and a count of 3, `[2]`
/// TARGET_MULTI likewise, `[3]` TARGET_CUR likewise.
const SEND_WITHOUT_IDS: &str = r#"
#include <ringsocket_app.h>

static int32_t c_read(rs_t *rs, const uint8_t *payload, size_t len)
{
    (void)len;
    static const uint8_t targets[] = { 0, RS_TARGET_EVERY, RS_TARGET_MULTI, RS_TARGET_CUR };
    rs_w_p(rs, "x", 1);
    int32_t status = rs->api->send(rs, RS_DATA_BIN, targets[payload[0]], NULL, 3);
    rs_w_uint8(rs, (uint8_t)status);
    return rs_to_cur(rs, RS_DATA_BIN) == RS_SEND_OK ? 0 : -1;
}

static const rs_arg_spec c_args[] = {
    { .kind = RS_ARG_NET, .shape = RS_SHAPE_SCALAR, .elem_size = 1, .min = 1, .max = 1 },
};
static const rs_read_case c_cases[] = {
    { .data_kind = RS_DATA_BIN, .read = c_read, .args = c_args, .arg_count = 1 },
};
static const rs_app_descriptor c_descriptor = {
    .abi_version = RS_ABI_VERSION,
    .descriptor_size = sizeof(rs_app_descriptor),
    .read_mode = RS_READ_BIN,
    .timer_mode = RS_TIMER_NONE,
    .app_data_align = 1,
    .cases = c_cases,
    .case_count = 1,
};
const rs_app_descriptor *ringsocket_app_v1(void) { return &c_descriptor; }
"#;

#[test]
fn a_count_of_ids_without_the_ids_is_an_invalid_argument() {
    // Built next to the examples, where the harness loads apps from.
    let name = "send_without_ids";
    let source = std::env::temp_dir().join(format!("{name}_{}.c", std::process::id()));
    std::fs::write(&source, SEND_WITHOUT_IDS).unwrap();
    let built = std::process::Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-shared", "-fPIC", "-I"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../rs-app/include"))
        .arg("-o")
        .arg(support::example_path(name))
        .arg(&source)
        .status()
        .expect("cc runs");
    std::fs::remove_file(&source).unwrap();
    assert!(built.success());
    let mut h = Harness::start(name);
    let [a, ..] = clients();
    // TARGET_EVERY and TARGET_MULTI: 4, nothing sent but the status.
    for case in [1, 2] {
        h.bin(&a, &[case]);
        assert_eq!(h.expect(1), [Out::single(a.id, bin(&[4]))], "case {case}");
    }
    // TARGET_CUR ignores the ids: "x" goes, then the status 0.
    h.bin(&a, &[3]);
    assert_eq!(
        h.expect(2),
        [Out::single(a.id, bin(b"x")), Out::single(a.id, bin(&[0]))]
    );
    assert_eq!(h.stop(), Ok(()));
}

// ----------------------------------------------------------- close_client

/// Probe case 7: close `client` with `code`; the probe replies 1 if the
/// server accepted, 0 if it refused.
fn close_request(client: ClientId, code: u16) -> Vec<u8> {
    let mut message = vec![7];
    message.extend_from_slice(&client.get().to_be_bytes());
    message.extend_from_slice(&code.to_be_bytes());
    message
}

#[test]
fn close_client_sends_a_close_frame_that_closes() {
    let mut h = Harness::start("probe");
    let [a, _, c, _] = clients();
    for code in [4000, 4899] {
        h.bin(&a, &close_request(c.id, code));
        assert_eq!(
            h.expect(2),
            [
                Out::single(a.id, support::bin(&[1])),
                Out::close(c.id, code),
            ]
        );
    }
    // The sender itself: the close frame, then the reply, on its worker.
    h.bin(&a, &close_request(a.id, 4123));
    assert_eq!(
        h.expect(2),
        [
            Out::close(a.id, 4123),
            Out::single(a.id, support::bin(&[1]))
        ]
    );
    assert_eq!(support::close_frame(4123), [0x88, 0x02, 0x10, 0x1b]);
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn close_client_refuses_codes_outside_4000_to_4899() {
    let mut h = Harness::start("probe");
    let [a, _, c, _] = clients();
    for code in [0, 1000, 3999, 4900, 4999, 5000] {
        h.bin(&a, &close_request(c.id, code));
        assert_eq!(
            h.expect(1),
            [Out::single(a.id, support::bin(&[0]))],
            "code {code}"
        );
    }
    assert_eq!(h.stop(), Ok(()));
}

// ---------------------------------------------------- open and close callbacks

#[test]
fn open_welcomes_the_client_with_its_address() {
    let mut h = Harness::start("probe");
    let a = Client::new(0, 9).with_peer("203.0.113.5:6000");
    let b = Client::on(1, 9, 3).with_peer("[2001:db8::2]:8080");
    h.open(&a);
    assert_eq!(
        h.expect(1),
        [Out::single(
            a.id,
            text(&format!("welcome {} from 203.0.113.5:6000", a.id))
        )]
    );
    h.open(&b);
    assert_eq!(
        h.expect(1),
        [Out::single(
            b.id,
            text(&format!("welcome {} from [2001:db8::2]:8080", b.id))
        )]
    );
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn open_returning_4099_closes_the_client() {
    let mut h = Harness::start("probe");
    let a = Client::on(1, 4, 99);
    h.open(&a);
    assert_eq!(h.expect(1), [Out::close(a.id, 4099)]);
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn open_returning_minus_1_stops_the_app() {
    let mut h = Harness::start("probe");
    h.open(&Client::on(0, 4, 98));
    let error = h.join().expect_err("a fatal open callback");
    assert_eq!(error, app_error("open", "returned -1 (fatal)"));
    assert_eq!(
        error.to_string(),
        "app 'under-test': open callback returned -1 (fatal)"
    );
    h.assert_silent(support::QUIET);
}

#[test]
fn a_close_frame_is_answered_after_the_close_callback_and_what_came_before() {
    let mut h = Harness::start("probe");
    let a = Client::new(1, 8);
    // A message, then the client's close frame (1000) right behind it.
    h.bin(&a, &[5, 2]);
    h.close_frame(&a, &1000u16.to_be_bytes());
    let bye = text(&format!("bye {}", a.id));
    // (Worker 0's ring first; on worker 1's, the client's, in order.)
    assert_eq!(
        h.expect(4),
        [
            Out::new(0, To::Every, bye.clone()),
            Out::new(1, To::Single(a.id), text("t2")),
            Out::new(1, To::Every, bye),
            Out::close(a.id, 1000),
        ]
    );
    // Without a status code, the answer has none either.
    let b = Client::new(0, 3);
    h.close_frame(&b, &[]);
    let got = h.expect(3);
    assert_eq!(
        got[1],
        Out {
            close_after: true,
            ..Out::single(b.id, vec![0x88, 0x00])
        }
    );
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn close_tells_every_client_who_left() {
    let mut h = Harness::start("probe");
    let a = Client::new(1, 8);
    h.close(&a);
    let bye = text(&format!("bye {}", a.id));
    assert_eq!(
        h.expect(2),
        [
            Out::new(0, To::Every, bye.clone()),
            Out::new(1, To::Every, bye)
        ]
    );
    assert_eq!(h.stop(), Ok(()));
}
