//! Multi-threaded stress: millions of messages of random sizes, each with a
//! sequence number and a checksum, through deliberately small rings, with
//! consumers that sleep and wake; the echo-by-reference protocol of the app
//! thread and the worker (holds lifted by a second ring's release); and the
//! eventfd `Notifier` under an edge-triggered epoll. Any loss, reordering,
//! corruption or stall fails. Bounded: every run has a fixed message count
//! and a deadline.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use rs_ring::{Consumer, Notifier, Parker, Producer, PushError, RingConfig, ring};

mod common;
use common::Rng;

const DEADLINE: Duration = Duration::from_secs(240);

fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Message layout: sequence number (8 bytes), checksum of the rest (4), rest.
const HEAD: usize = 12;

fn produce(mut producer: Producer, seed: u64, count: u64, max_extra: u64) {
    let mut rng = Rng(seed);
    let start = Instant::now();
    for seq in 0..count {
        let extra = rng.below(max_extra + 1) as usize;
        loop {
            match producer.reserve(HEAD + extra) {
                Ok(mut message) => {
                    for byte in &mut message[HEAD..] {
                        *byte = rng.next() as u8;
                    }
                    let sum = checksum(&message[HEAD..]);
                    message[..8].copy_from_slice(&seq.to_le_bytes());
                    message[8..12].copy_from_slice(&sum.to_le_bytes());
                    message.commit();
                    break;
                }
                Err(PushError::Full { .. }) => {
                    // Back-pressure: make sure the consumer sees what we have, wait.
                    producer.flush();
                    assert!(start.elapsed() < DEADLINE, "producer stuck at {seq}");
                    std::thread::yield_now();
                }
                Err(error) => panic!("unexpected {error}"),
            }
        }
        match rng.below(1000) {
            0..=99 => producer.flush(),
            // Now and then pause so that the consumer runs dry and parks.
            100 => {
                producer.flush();
                std::thread::sleep(Duration::from_micros(200));
            }
            _ => {}
        }
    }
    producer.flush();
}

fn consume(mut consumers: Vec<Consumer>, parker: &Parker, count: u64) -> u64 {
    let mut expected = vec![0u64; consumers.len()];
    let mut parks = 0;
    let start = Instant::now();
    while expected.iter().any(|&e| e < count) {
        let mut progressed = false;
        for (consumer, expected) in consumers.iter_mut().zip(&mut expected) {
            // A bounded batch per ring, so that every producer is served.
            for _ in 0..64 {
                let Some(message) = consumer.peek() else {
                    break;
                };
                assert!(message.len() >= HEAD, "truncated message");
                let seq = u64::from_le_bytes(message[..8].try_into().unwrap());
                let sum = u32::from_le_bytes(message[8..12].try_into().unwrap());
                assert_eq!(seq, *expected, "lost or reordered message");
                assert_eq!(sum, checksum(&message[HEAD..]), "corrupted message {seq}");
                *expected += 1;
                consumer.advance();
                progressed = true;
            }
            consumer.release();
        }
        if !progressed {
            assert!(start.elapsed() < DEADLINE, "consumer stuck at {expected:?}");
            parker.park(Some(Duration::from_millis(100)), || {
                consumers.iter_mut().any(|c| !c.is_empty())
            });
            parks += 1;
        }
    }
    for consumer in &mut consumers {
        assert_eq!(consumer.peek(), None, "messages beyond the count");
    }
    parks
}

fn run(config: RingConfig, producers: u64, count: u64, max_extra: u64) {
    let parker = Parker::new();
    let mut consumers = Vec::new();
    let mut threads = Vec::new();
    for p in 0..producers {
        let (producer, consumer) = ring(config, Some(parker.waker()));
        consumers.push(consumer);
        threads.push(std::thread::spawn(move || {
            produce(producer, 0x9e37_79b9 + p, count, max_extra)
        }));
    }
    let parks = consume(consumers, &parker, count);
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(
        parks > 0,
        "the consumer never slept, so wake-ups went untested"
    );
}

#[test]
fn a_tiny_fixed_ring_under_constant_back_pressure() {
    run(RingConfig::new(256), 1, 2_000_000, 100);
}

#[test]
fn a_ring_that_grows_from_64_bytes() {
    run(
        RingConfig::new(64).max_capacity(64 * 1024),
        1,
        500_000,
        2000,
    );
}

#[test]
fn two_producers_wake_one_consumer() {
    run(RingConfig::new(1024).publish_batch(5), 2, 1_000_000, 200);
}

/// The worker pushes messages (sequence number and random bytes) on the
/// inbound ring; the app holds some of them and hands their address back on
/// the outbound ring; the worker checks the held bytes when it reads that
/// record, then releases it; the app lifts a hold once the outbound ring is
/// released past the record (`Producer::position` after its commit).
fn echo_by_reference(inbound_config: RingConfig, outbound_config: RingConfig, count: u64) {
    let parker = Parker::new();
    let (mut to_app, mut from_worker) = ring(inbound_config, Some(parker.waker()));
    let (mut to_worker, mut from_app) = ring(outbound_config, None);
    let max = to_app.max_message_len();
    let app_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = app_done.clone();
    let worker = std::thread::spawn(move || {
        let start = Instant::now();
        let mut rng = Rng(0x1234_5678);
        let mut checked = 0u64;
        let mut seq = 0u64;
        while seq < count || !done.load(std::sync::atomic::Ordering::Acquire) {
            assert!(start.elapsed() < DEADLINE, "worker stuck at {seq}");
            if seq < count {
                let len = match rng.below(16) {
                    0 => 8,
                    1 => max,
                    _ => 8 + rng.below(300) as usize,
                }
                .min(max);
                match to_app.reserve(len) {
                    Ok(mut message) => {
                        message[..8].copy_from_slice(&seq.to_le_bytes());
                        for byte in &mut message[8..] {
                            *byte = rng.next() as u8;
                        }
                        message.commit();
                        seq += 1;
                        if rng.below(8) == 0 {
                            to_app.flush();
                        }
                    }
                    Err(PushError::Full { .. }) => {
                        to_app.flush();
                        to_app.wake_consumer();
                        std::thread::yield_now();
                    }
                    Err(e) => panic!("{e}"),
                }
            } else {
                to_app.flush();
                to_app.wake_consumer();
                std::thread::yield_now();
            }
            // Read the app's references and check the held bytes.
            while let Some(record) = from_app.peek() {
                let ptr = usize::from_ne_bytes(record[..8].try_into().unwrap()) as *const u8;
                let len = usize::from_ne_bytes(record[8..16].try_into().unwrap());
                let sum = u32::from_ne_bytes(record[16..20].try_into().unwrap());
                // SAFETY: the app holds this message until this record is
                // released.
                let held = unsafe { std::slice::from_raw_parts(ptr, len) };
                assert_eq!(checksum(held), sum, "a held message changed");
                from_app.advance();
                checked += 1;
            }
            from_app.release();
        }
        to_app.flush();
        (to_app, checked)
    });
    let start = Instant::now();
    let mut rng = Rng(0x8765_4321);
    let mut expected = 0u64;
    let mut holds: VecDeque<(u64, u64)> = VecDeque::new();
    let mut lent = 0u64;
    while expected < count {
        assert!(start.elapsed() < DEADLINE, "app stuck at {expected}");
        // Lift what the worker is done with.
        let released = to_worker.released();
        while holds.front().is_some_and(|&(_, until)| until <= released) {
            holds.pop_front();
        }
        from_worker.set_hold(holds.front().map(|&(p, _)| p));
        let mut worked = false;
        for _ in 0..64 {
            let Some(message) = from_worker.peek() else {
                break;
            };
            worked = true;
            let seq = u64::from_le_bytes(message[..8].try_into().unwrap());
            assert_eq!(seq, expected, "lost or reordered");
            expected += 1;
            if holds.len() < 16 && rng.below(2) == 0 {
                let mut record = [0u8; 20];
                record[..8].copy_from_slice(&(message.as_ptr() as usize).to_ne_bytes());
                record[8..16].copy_from_slice(&message.len().to_ne_bytes());
                record[16..20].copy_from_slice(&checksum(message).to_ne_bytes());
                if to_worker.push(&record).is_ok() {
                    let until = to_worker.position();
                    let position = from_worker.hold_peeked().unwrap();
                    holds.push_back((position, until));
                    lent += 1;
                }
            }
            from_worker.advance();
        }
        from_worker.release();
        to_worker.flush();
        if !worked {
            parker.park(Some(Duration::from_millis(5)), || !from_worker.is_empty());
        }
    }
    from_worker.set_hold(None);
    from_worker.release();
    app_done.store(true, std::sync::atomic::Ordering::Release);
    let (mut to_app, checked) = worker.join().unwrap();
    assert!(checked > 0 && lent > 0);
    assert_eq!(to_app.released(), to_app.position());
}

#[test]
fn echo_by_reference_through_a_growing_ring() {
    echo_by_reference(
        RingConfig::new(64).max_capacity(8192),
        RingConfig::new(256),
        100_000,
    );
}

#[test]
fn echo_by_reference_through_a_fixed_ring() {
    echo_by_reference(RingConfig::new(1024), RingConfig::new(128), 100_000);
}

/// The worker side: a consumer woken through an edge-triggered epoll on
/// the notifier's eventfd. A poll that times out while a message was
/// published before the consumer announced sleep is a lost wake-up.
#[test]
fn notifier_under_edge_triggered_epoll_loses_no_wake_up() {
    let notifier = Notifier::new().unwrap();
    // SAFETY: plain epoll syscalls on descriptors we own.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(epfd >= 0);
    let mut event = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLET) as u32,
        u64: 1,
    };
    // SAFETY: as above.
    let r = unsafe {
        libc::epoll_ctl(
            epfd,
            libc::EPOLL_CTL_ADD,
            notifier.as_raw_fd(),
            &raw mut event,
        )
    };
    assert_eq!(r, 0);
    const COUNT: u64 = 200_000;
    let mut producers = Vec::new();
    let mut consumers = Vec::new();
    for p in 0..2u64 {
        let (mut producer, consumer) = ring(
            RingConfig::new(256).publish_batch(3),
            Some(notifier.waker()),
        );
        consumers.push(consumer);
        producers.push(std::thread::spawn(move || {
            let mut rng = Rng(77 + p);
            let start = Instant::now();
            let mut seq = 0u64;
            while seq < COUNT {
                assert!(start.elapsed() < DEADLINE, "producer stuck");
                match producer.push(&seq.to_le_bytes()) {
                    Ok(()) => {
                        seq += 1;
                        if rng.below(4) == 0 {
                            producer.flush();
                        }
                        if rng.below(2000) == 0 {
                            producer.flush();
                            std::thread::sleep(Duration::from_micros(100));
                        }
                    }
                    Err(_) => {
                        producer.flush();
                        std::thread::yield_now();
                    }
                }
            }
            producer.flush();
            producer
        }));
    }
    let start = Instant::now();
    let mut expected = [0u64; 2];
    let mut sleeps = 0;
    while expected.iter().any(|&e| e < COUNT) {
        assert!(start.elapsed() < DEADLINE, "consumer stuck at {expected:?}");
        let mut progressed = false;
        for (consumer, expected) in consumers.iter_mut().zip(&mut expected) {
            while let Some(message) = consumer.peek() {
                assert_eq!(u64::from_le_bytes(message.try_into().unwrap()), *expected);
                *expected += 1;
                consumer.advance();
                progressed = true;
            }
            consumer.release();
        }
        if progressed {
            continue;
        }
        if notifier.prepare_sleep(|| consumers.iter_mut().any(|c| !c.is_empty())) {
            sleeps += 1;
            let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
            // SAFETY: as above; `events` outlives the call.
            let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr().cast(), 4, 2000) };
            notifier.awake();
            if n > 0 {
                notifier.drain();
            } else if n == 0 {
                let waiting = consumers.iter_mut().any(|c| c.peek().is_some());
                assert!(
                    !waiting && expected.iter().all(|&e| e >= COUNT),
                    "lost wake-up: a 2 s poll timed out with messages published ({expected:?})"
                );
            }
        }
    }
    for p in producers {
        drop(p.join().unwrap());
    }
    // SAFETY: closing the epoll descriptor we created.
    unsafe { libc::close(epfd) };
    assert!(sleeps > 0, "the consumer never slept");
}
