//! The app thread's life: return values, panics, init, timers of both
//! kinds, sleeping and waking, fairness between workers, replies of slow
//! callbacks, and stopping.

mod support;

use std::time::{Duration, Instant};

use rs_ring::RingConfig;
use support::{Client, Harness, Out, To, app_error, bin, text};

/// Probe case 6: the read callback returns `status`.
fn returns(status: i32) -> Vec<u8> {
    let mut message = vec![6];
    message.extend_from_slice(&status.to_be_bytes());
    message
}

// ----------------------------------------------------------- return values

#[test]
fn a_read_returning_0_sends_nothing() {
    let mut h = Harness::start("probe");
    let a = Client::new(0, 1);
    h.bin(&a, &returns(0));
    h.assert_silent(support::QUIET);
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn a_read_returning_4000_to_4899_closes_the_sender_with_that_code() {
    let mut h = Harness::start("probe");
    let (mut a, b) = (Client::new(0, 1), Client::new(1, 1));
    h.bin(&a, &returns(4000));
    h.expect_closed(&mut a, 4000, "");
    h.bin(&b, &returns(4899));
    assert_eq!(h.expect(1), [Out::close(b.id, 4899)]);
    assert_eq!(support::close_frame(4899), [0x88, 0x02, 0x13, 0x23]);
    // The app goes on (with the next client of a's slot).
    h.bin(&a, &[5, 2]);
    assert_eq!(h.expect(1), [Out::single(a.id, text("t2"))]);
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn a_read_returning_minus_1_stops_the_app_naming_it() {
    let mut h = Harness::start("probe");
    h.bin(&Client::new(1, 1), &returns(-1));
    let error = h.join().expect_err("a fatal read callback");
    assert_eq!(error, app_error("read", "returned -1 (fatal)"));
    assert_eq!(
        error.to_string(),
        "app 'under-test': read callback returned -1 (fatal)"
    );
    h.assert_silent(support::QUIET);
}

#[test]
fn a_read_returning_anything_else_is_fatal_and_says_what_is_allowed() {
    for status in [4900, 1, 5000, 3999, -2, i32::MAX] {
        let mut h = Harness::start("probe");
        let a = Client::new(0, 1);
        h.bin(&a, &returns(status));
        let error = h.join().expect_err("an invalid return value");
        let reason = format!("returned {status}; read callbacks may return 0, -1 or 4000-4899");
        assert_eq!(error, app_error("read", &reason));
        assert_eq!(
            error.to_string(),
            format!("app 'under-test': read callback {reason}")
        );
        // Not mistaken for a close code.
        h.assert_silent(Duration::ZERO);
    }
}

#[test]
fn a_panicking_read_stops_the_app_without_unwinding_into_it() {
    let mut h = Harness::start("probe");
    h.bin(&Client::new(0, 1), &[9]);
    let error = h.join().expect_err("a panicking read callback");
    assert_eq!(
        error,
        app_error("read", "panicked (see the log line before this one)")
    );
    assert!(error.to_string().contains("panicked"), "{error}");
    h.assert_silent(Duration::ZERO);
}

#[test]
fn with_close_client_on_panic_a_panic_closes_only_the_client_involved() {
    let mut h = Harness::start_closing_clients_on_panic("probe");
    let (a, b) = (Client::new(0, 1), Client::new(1, 1));
    // In read: that client is closed with 1011, Internal Error...
    h.bin(&a, &[9]);
    assert_eq!(h.expect(1), [Out::close(a.id, 1011)]);
    // ...and the app goes on serving the others.
    h.bin(&b, &[5, 2]);
    assert_eq!(h.expect(1), [Out::single(b.id, text("t2"))]);
    // In open (the probe panics on endpoint 97): the same.
    let c = Client::on(0, 2, 97);
    h.open(&c);
    assert_eq!(h.expect(1), [Out::close(c.id, 1011)]);
    // In close (the same endpoint): the client has gone; nothing to do.
    h.close(&c);
    h.assert_silent(support::QUIET);
    h.bin(&b, &[5, 2]);
    assert_eq!(h.expect(1), [Out::single(b.id, text("t2"))]);
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn with_close_client_on_panic_other_failures_still_stop_the_app() {
    let mut h = Harness::start_closing_clients_on_panic("probe");
    h.bin(&Client::new(0, 1), &returns(-1));
    let error = h.join().expect_err("a fatal read callback");
    assert_eq!(error, app_error("read", "returned -1 (fatal)"));
}

// -------------------------------------------------------------------- init

#[test]
fn a_failing_init_stops_the_app_before_anything_else() {
    let mut h = Harness::new("probe_init_fails", 2);
    // Waiting messages are never dispatched (the read callback would not
    // send anything anyway, but a consumed message would be skipped).
    let a = Client::new(0, 1);
    h.open(&a);
    h.bin(&a, b"x");
    h.run();
    let error = h.join().expect_err("a fatal init callback");
    assert_eq!(error, app_error("init", "returned -1 (fatal)"));
    assert_eq!(
        error.to_string(),
        "app 'under-test': init callback returned -1 (fatal)"
    );
    h.assert_silent(Duration::ZERO);
}

// ------------------------------------------------------------------ timers

#[test]
fn a_waking_timer_ticks_while_idle_until_it_returns_0() {
    let started = Instant::now();
    let mut h = Harness::start("probe_timer_wake");
    let mut seen = Vec::new();
    for n in 1..=3 {
        let got = h.take(2);
        seen.push(started.elapsed());
        let tick = text(&format!("tick {n}"));
        assert_eq!(
            got,
            [
                Out::new(0, To::Every, tick.clone()),
                Out::new(1, To::Every, tick)
            ]
        );
    }
    // 20 ms apart (10 ms of slack for when this thread noticed).
    let floor = Duration::from_millis(10);
    assert!(seen[0] >= floor, "first tick after {:?}", seen[0]);
    for pair in seen.windows(2) {
        assert!(pair[1] - pair[0] >= floor, "ticks at {seen:?}");
    }
    // The third tick returned 0: no fourth.
    h.assert_silent(Duration::from_millis(200));
    // The app still reads.
    let a = Client::new(1, 1);
    h.bin(&a, b"ok");
    assert_eq!(h.expect(1), [Out::single(a.id, bin(b"ok"))]);
    assert_eq!(h.stop(), Ok(()));
}

/// Sends a message from `client` every 5 ms until `ticks` more ticks
/// arrive (or the app thread ends), returning them.
fn tick_with_traffic(h: &mut Harness, client: &Client, ticks: usize) -> Vec<Out> {
    let deadline = Instant::now() + support::DEADLINE;
    let mut got = Vec::new();
    while got.len() < 2 * ticks && !h.is_finished() {
        assert!(Instant::now() < deadline, "only {got:#?}");
        h.bin(client, b"traffic");
        got.extend(h.gather(Duration::from_millis(5)));
    }
    got.extend(h.gather(Duration::from_millis(5)));
    got.sort_by_key(|out| out.worker);
    got
}

fn ticks(range: std::ops::RangeInclusive<u32>) -> Vec<Out> {
    let mut expected: Vec<Out> = range
        .map(|n| text(&format!("tick {n}")))
        .flat_map(|tick| {
            [
                Out::new(0, To::Every, tick.clone()),
                Out::new(1, To::Every, tick),
            ]
        })
        .collect();
    expected.sort_by_key(|out| out.worker);
    expected
}

#[test]
fn a_sleeping_timer_ticks_only_while_traffic_flows() {
    let mut h = Harness::start("probe_timer_sleep");
    // Due after 20 ms, but nothing wakes the app.
    h.assert_silent(Duration::from_millis(200));

    // Nor does a wake-up with nothing to read (a worker's, say).
    h.wake(0);
    h.assert_silent(Duration::from_millis(200));

    let a = Client::new(0, 1);
    assert_eq!(tick_with_traffic(&mut h, &a, 2), ticks(1..=2));
    // Idle again: no tick.
    h.assert_silent(Duration::from_millis(200));
    assert!(!h.is_finished());

    // The fifth tick returns -1, which stops the app.
    assert_eq!(tick_with_traffic(&mut h, &a, 3), ticks(3..=5));
    let error = h.join().expect_err("a fatal timer callback");
    assert_eq!(error, app_error("timer", "returned -1 (fatal)"));
    assert_eq!(
        error.to_string(),
        "app 'under-test': timer callback returned -1 (fatal)"
    );
}

// ------------------------------------------------------ sleeping and waking

#[test]
fn an_idle_app_thread_wakes_for_a_new_message() {
    let mut h = Harness::start("echo");
    h.assert_silent(Duration::from_millis(200));
    let a = Client::new(1, 1);
    let sent = Instant::now();
    h.text(&a, "wake up");
    let got = h.take(1);
    let latency = sent.elapsed();
    assert_eq!(got, [Out::single(a.id, text("wake up"))]);
    assert!(
        latency < Duration::from_secs(1),
        "replied after {latency:?}"
    );
    assert_eq!(h.stop(), Ok(()));
}

/// Waits (at most 5 s) until the app has released all of `worker`'s ring.
fn wait_released(h: &mut Harness, worker: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !h.inbound_released(worker) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

#[test]
fn a_long_echo_is_lent_and_its_message_held_until_the_worker_releases_the_reply() {
    let mut h = Harness::new("echo", 1);
    h.run();
    let a = Client::new(0, 1);
    let payload: Vec<u8> = (0..4096u32).map(|i| (i * 7) as u8).collect();
    h.bin(&a, &payload);
    let (out, lent) = h.take_unreleased(0);
    assert_eq!(out, Out::single(a.id, bin(&payload)));
    assert!(lent, "a 4 KiB echo is sent from the inbound ring");
    // The app thread sleeps now, and still holds the message: the worker
    // has not released the reply.
    assert!(!wait_released(&mut h, 0), "released under a lent reply");
    h.release_outbound(0);
    // The next message wakes it; it sees the release and lets go of both.
    h.bin(&a, b"short");
    let (out, lent) = h.take_unreleased(0);
    assert_eq!(out, Out::single(a.id, bin(b"short")));
    assert!(!lent, "a short echo is copied");
    h.release_outbound(0);
    assert!(wait_released(&mut h, 0));
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn a_long_text_echo_is_lent_too() {
    let mut h = Harness::start("echo");
    let a = Client::new(1, 1);
    let long = "é".repeat(2000);
    h.text(&a, &long);
    let (out, lent) = h.take_unreleased(1);
    assert_eq!(out, Out::single(a.id, text(&long)));
    assert!(lent);
    h.release_outbound(1);
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn an_echo_is_lent_only_to_the_worker_whose_ring_holds_its_message() {
    // A message on worker 0's ring about a client of worker 1: its echo
    // goes to worker 1, copied. Lent, it would be held on worker 0's ring
    // until worker 0 released its own outbound ring that far, which says
    // nothing of whether worker 1 has sent it.
    let mut h = Harness::start("echo");
    let b = Client::new(1, 1);
    let payload: Vec<u8> = (0..4096u32).map(|i| (i * 3) as u8).collect();
    h.bin_from(0, &b, &payload);
    let (out, lent) = h.take_unreleased(1);
    assert_eq!(out, Out::single(b.id, bin(&payload)));
    assert!(!lent, "lent to worker 1 from worker 0's ring");
    h.release_outbound(1);
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn stop_wakes_a_sleeping_app_thread() {
    let mut h = Harness::start("echo");
    std::thread::sleep(Duration::from_millis(100));
    assert!(!h.is_finished());
    assert_eq!(h.stop_within(Duration::from_secs(1)), Ok(()));
}

#[test]
fn stop_wakes_an_app_thread_waiting_for_its_timer() {
    let mut h = Harness::start("probe_timer_wake");
    h.take(6); // all three ticks: now it sleeps with no timer
    assert_eq!(h.stop_within(Duration::from_secs(1)), Ok(()));
}

#[test]
fn a_busy_worker_does_not_starve_the_others() {
    // broadcast sends every message to every worker's ring, so worker 0's
    // ring shows the order in which the app thread took the messages.
    let mut h = Harness::new("broadcast", 2);
    let (a, b) = (Client::new(0, 1), Client::new(1, 1));
    for i in 0..200u8 {
        h.bin(&a, &[i]);
    }
    h.text(&b, "me too");
    h.run();
    let got = h.take(2 * 201);
    let ring0: Vec<&Out> = got.iter().filter(|out| out.worker == 0).collect();
    assert_eq!(ring0.len(), 201);
    let position = ring0
        .iter()
        .position(|out| out.frame == text("me too"))
        .expect("worker 1's message was broadcast");
    // The app thread takes at most one batch (64 messages) from a ring
    // before it turns to the next one.
    assert!(position <= 64, "worker 1's message came {position}th");
    assert!(got.iter().all(|out| out.to == To::Every));
    assert_eq!(h.stop(), Ok(()));
}

#[test]
fn a_malformed_inbound_message_is_skipped() {
    let mut h = Harness::start("echo");
    // Too short for a header; then an unknown kind.
    h.push_raw(0, &[2, 1, 0]);
    let mut unknown = [0u8; 32];
    unknown[0] = 9;
    h.push_raw(1, &unknown);
    h.assert_silent(support::QUIET);
    let a = Client::new(0, 1);
    h.bin(&a, b"still here");
    assert_eq!(h.expect(1), [Out::single(a.id, bin(b"still here"))]);
    assert_eq!(h.stop(), Ok(()));
}

// ----------------------------------------------------------- full rings

#[test]
fn a_message_the_outbound_rings_can_never_hold_is_refused() {
    // Outbound rings of 4 KiB that never grow; broadcast returns -1 when
    // its message cannot be sent.
    let small = rs_ring::RingConfig::new(4096);
    let mut h = Harness::with_rings("broadcast", 2, rs_ring::RingConfig::new(1 << 16), small);
    h.run();
    let a = Client::new(1, 1);
    h.bin(&a, &[7; 3000]);
    let every = |frame: Vec<u8>| {
        [
            Out::new(0, To::Every, frame.clone()),
            Out::new(1, To::Every, frame),
        ]
    };
    assert_eq!(h.expect(2), every(bin(&[7; 3000])));
    h.bin(&a, &[7; 5000]);
    let error = h.join().expect_err("broadcast fails when it cannot send");
    assert_eq!(error, app_error("read", "returned -1 (fatal)"));
    h.assert_silent(Duration::ZERO);
}

#[test]
fn stop_ends_an_app_thread_waiting_for_a_full_outbound_ring() {
    let small = rs_ring::RingConfig::new(4096);
    let mut h = Harness::with_rings("echo", 2, rs_ring::RingConfig::new(1 << 16), small);
    h.run();
    let a = Client::new(0, 1);
    // Four 1 KiB replies fill worker 0's outbound ring, which nobody drains.
    for _ in 0..8 {
        h.bin(&a, &[1; 1000]);
    }
    std::thread::sleep(Duration::from_millis(100));
    let asked = Instant::now();
    h.stop_handle().stop();
    while !h.is_finished() && asked.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let stopped = h.is_finished();
    // Drain the ring so that the thread can end either way.
    h.gather(Duration::from_millis(100));
    assert!(stopped, "still running 1 s after stop()");
}

#[test]
fn a_stopped_app_thread_still_gets_what_the_workers_left_on_its_rings() {
    // At shutdown every worker pushes its clients' close notices, then
    // exits; the app thread is stopped after that and must still see them.
    let mut h = Harness::new("chat", 1);
    let (a, b) = (Client::on(0, 1, 1), Client::on(0, 2, 1));
    h.open(&a);
    h.open(&b);
    h.close(&a);
    h.stop_handle().stop();
    h.run();
    assert_eq!(h.join(), Ok(()));
    assert_eq!(
        h.gather(Duration::ZERO),
        [
            Out::new(0, To::Multi(vec![a.id]), text(&format!("{} joined", b.id))),
            Out::new(0, To::Multi(vec![b.id]), text(&format!("{} left", a.id))),
        ]
    );
}

#[test]
fn slow_callbacks_after_quick_ones_are_still_flushed_about_one_by_one() {
    // Outbound rings that publish only when flushed: what a sleeping
    // worker sees (it is woken by flushes alone).
    let inbound = RingConfig::new(1 << 16).max_capacity(1 << 20);
    let outbound = RingConfig::new(1 << 16)
        .max_capacity(1 << 20)
        .publish_batch(1 << 20);
    let mut h = Harness::with_rings("probe", 1, inbound, outbound);
    let (quick, slow) = (Client::new(0, 1), Client::new(0, 2));
    // Probe case 12 (stall): sleeps that many ms, then replies. A first
    // batch, then a slow one (timed from its second callback): replies are
    // flushed as they go from then on.
    for _ in 0..65 {
        h.bin(&quick, &[12, 0, 0]);
    }
    h.bin(&quick, &[12, 0, 3]);
    // Quick callbacks: the clock is read only every few of them...
    for _ in 0..4000 {
        h.bin(&quick, &[12, 0, 0]);
    }
    // ...then 40 of 10 ms each, in the same batches.
    for _ in 0..40 {
        h.bin(&slow, &[12, 0, 10]);
    }
    h.run();
    // How many slow replies became visible together, poll by poll (every
    // millisecond; the callbacks return 10 ms apart).
    let (mut groups, mut seen) = (Vec::new(), 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen < 40 {
        assert!(Instant::now() < deadline, "only {seen} slow replies");
        let n = h
            .take(1)
            .iter()
            .filter(|out| out.to == To::Single(slow.id))
            .count();
        if n > 0 {
            groups.push(n);
            seen += n;
        }
    }
    // The first few may wait until the clock is read again (it is read at
    // least every 4 callbacks); then each goes as it is made (held to the
    // batch's end, 31 came together).
    assert!(
        groups.iter().all(|&n| n <= 5) && groups.len() >= 30,
        "slow replies became visible in groups of {groups:?}"
    );
    assert_eq!(h.stop(), Ok(()));
}
