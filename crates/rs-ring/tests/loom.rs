//! loom models of the ring's publication and of the sleep/wake protocol,
//! across wraps, growths (two, with segments freed meanwhile), holds, the
//! `Full` path and a timed park.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p rs-ring --test loom --release`.
//! loom explores every interleaving (and every value a weak memory model
//! allows each load to read) and fails on a data race on the ring's bytes,
//! a wrong value, or a deadlock, which is what a lost wake-up looks like.
#![cfg(loom)]

use loom::thread;
use rs_ring::{Parker, RingConfig, ring};

/// Explores every interleaving with up to three preemptions, the usual bound
/// that keeps exhaustive search tractable while finding ordering bugs.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// Consumes one message `[i; lens[i]]` for each `i` in order, yielding
/// while the ring is empty; `release` gives each one's space back at once
/// (otherwise only advancing past it).
fn consume_yielding(consumer: &mut rs_ring::Consumer, lens: &[usize], release: bool) {
    for (i, &len) in lens.iter().enumerate() {
        loop {
            match consumer.peek() {
                Some(message) => {
                    assert_eq!(message, &vec![i as u8; len][..]);
                    consumer.advance();
                    if release {
                        consumer.release();
                    }
                    break;
                }
                None => thread::yield_now(),
            }
        }
    }
}

/// A ring of 64 bytes holds two 20-byte messages (24-byte records) before the
/// third must skip the tail and wrap; the producer pushes three.
#[test]
fn published_messages_are_seen_whole_across_a_wrap() {
    model(|| {
        let (mut producer, mut consumer) = ring(RingConfig::new(64), None);
        let writer = thread::spawn(move || {
            for i in 0..3u8 {
                while producer.push(&[i; 20]).is_err() {
                    thread::yield_now();
                }
            }
        });
        consume_yielding(&mut consumer, &[20, 20, 20], true);
        writer.join().unwrap();
    });
}

/// The producer outgrows a 64-byte segment while the consumer may be reading
/// the old one; the consumer follows the GROW marker and frees it.
#[test]
fn the_consumer_follows_a_growth() {
    model(|| {
        let (mut producer, mut consumer) = ring(RingConfig::new(64).max_capacity(256), None);
        let writer = thread::spawn(move || {
            for i in 0..3u8 {
                producer.push(&[i; 20]).unwrap();
            }
        });
        consume_yielding(&mut consumer, &[20, 20, 20], false);
        writer.join().unwrap();
    });
}

/// The consumer sleeps whenever it finds nothing; the producer publishes
/// twice (each commit is a batch here), then flushes once, which is the
/// only wake-up check. A lost wake-up leaves the consumer asleep forever:
/// loom reports it as a deadlock.
#[test]
fn no_wake_up_is_lost() {
    model(|| {
        let parker = Parker::new();
        let (mut producer, mut consumer) = ring(RingConfig::new(64), Some(parker.waker()));
        let writer = thread::spawn(move || {
            producer.push(b"a").unwrap();
            producer.push(b"b").unwrap();
            producer.flush();
            // Kept alive until the consumer is done: the flush in its drop
            // must not be what wakes it.
            producer
        });
        let mut seen = 0;
        while seen < 2 {
            if consumer.peek().is_some() {
                consumer.advance();
                seen += 1;
            } else {
                parker.park(None, || !consumer.is_empty());
            }
        }
        writer.join().unwrap();
    });
}

/// Two producers, one sleeping consumer.
#[test]
fn two_producers_never_lose_a_wake_up() {
    model(|| {
        let parker = Parker::new();
        let (mut first, mut from_first) = ring(RingConfig::new(64), Some(parker.waker()));
        let (mut second, mut from_second) = ring(RingConfig::new(64), Some(parker.waker()));
        let a = thread::spawn(move || {
            first.push(b"1").unwrap();
            first.flush();
            first
        });
        let b = thread::spawn(move || {
            second.push(b"2").unwrap();
            second.flush();
            second
        });
        let mut seen = 0;
        while seen < 2 {
            let mut progressed = false;
            for consumer in [&mut from_first, &mut from_second] {
                if consumer.peek().is_some() {
                    consumer.advance();
                    seen += 1;
                    progressed = true;
                }
            }
            if !progressed {
                parker.park(None, || !from_first.is_empty() || !from_second.is_empty());
            }
        }
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// The protocol of an echo sent by reference (RingSocket's worker and app
/// thread): the consumer of the inbound ring holds a message and passes its
/// address back on a second ring; the producer, after writing more, reads
/// the held bytes through that address, then releases the second ring's
/// record; only once the consumer sees that release does it lift the hold.
/// In a fixed ring the second write after the held message would need its
/// space (it must find the ring full); in a growing one it moves to a new
/// segment (the held one must stay allocated). Either way, a write over the
/// held bytes would change what the producer reads.
fn a_held_message_stays_until_its_reference_is_released(config: RingConfig) {
    model(move || {
        let (mut inbound, mut from_worker) = ring(config, None);
        let (mut to_worker, mut outbound) = ring(RingConfig::new(64), None);
        let worker = thread::spawn(move || {
            inbound.push(&[7; 20]).unwrap();
            inbound.flush();
            let address = loop {
                if let Some(record) = outbound.peek() {
                    break usize::from_ne_bytes(record.try_into().unwrap());
                }
                thread::yield_now();
            };
            inbound.push(&[0; 20]).unwrap();
            let pushed = 1 + u8::from(inbound.push(&[1; 20]).is_ok());
            inbound.flush();
            // SAFETY: the app holds the message at `address` until this
            // record is released below.
            let held = unsafe { std::slice::from_raw_parts(address as *const u8, 20) };
            assert_eq!(held, [7; 20]);
            outbound.advance();
            outbound.release();
            (inbound, pushed)
        });
        let message = loop {
            if let Some(message) = from_worker.peek() {
                break message;
            }
            thread::yield_now();
        };
        to_worker
            .push(&(message.as_ptr() as usize).to_ne_bytes())
            .unwrap();
        let end = to_worker.position();
        to_worker.flush();
        let held = from_worker.hold_peeked().unwrap();
        from_worker.advance();
        from_worker.release();
        let mut seen = 0;
        let take = |consumer: &mut rs_ring::Consumer, seen: &mut u8| match consumer.peek() {
            Some(message) => {
                assert_eq!(message, [*seen; 20]);
                *seen += 1;
                consumer.advance();
                consumer.release();
            }
            None => thread::yield_now(),
        };
        while to_worker.released() < end {
            take(&mut from_worker, &mut seen);
        }
        from_worker.set_hold(None);
        from_worker.release();
        let (mut inbound, pushed) = worker.join().unwrap();
        while seen < pushed {
            take(&mut from_worker, &mut seen);
        }
        assert!(inbound.released() > held);
    });
}

#[test]
fn a_held_message_is_not_overwritten_in_a_full_ring() {
    a_held_message_stays_until_its_reference_is_released(RingConfig::new(64));
}

#[test]
fn a_held_message_outlives_the_growth_of_its_ring() {
    a_held_message_stays_until_its_reference_is_released(RingConfig::new(64).max_capacity(256));
}

/// Consumes `count` messages `[i; len]` in order, sleeping (without a
/// timeout) whenever the ring is empty: a lost wake-up is a deadlock.
fn consume_sleeping(consumer: &mut rs_ring::Consumer, parker: &Parker, count: u8, len: usize) {
    let mut next = 0u8;
    while next < count {
        match consumer.peek() {
            Some(message) => {
                assert_eq!(message, &vec![next; len][..]);
                next += 1;
                consumer.advance();
                consumer.release();
            }
            None => {
                parker.park(None, || !consumer.is_empty());
            }
        }
    }
}

/// The producer outgrows its segment while the consumer sleeps; messages
/// are published in batches of two and by the final flush only.
#[test]
fn a_sleeping_consumer_follows_a_growth() {
    model(|| {
        let parker = Parker::new();
        let config = RingConfig::new(64).max_capacity(256).publish_batch(2);
        let (mut producer, mut consumer) = ring(config, Some(parker.waker()));
        let writer = thread::spawn(move || {
            for i in 0..3u8 {
                producer.push(&[i; 20]).unwrap();
            }
            producer.flush();
            producer
        });
        consume_sleeping(&mut consumer, &parker, 3, 20);
        drop(writer.join().unwrap());
    });
}

/// A fixed ring with a large batch: nothing is published by the commits;
/// the producer's Full path (skip the tail, flush) is what publishes and
/// wakes the sleeping consumer, which then makes room.
#[test]
fn the_full_path_publishes_and_wakes() {
    model(|| {
        let parker = Parker::new();
        let config = RingConfig::new(64).publish_batch(100);
        let (mut producer, mut consumer) = ring(config, Some(parker.waker()));
        let writer = thread::spawn(move || {
            for i in 0..3u8 {
                while producer.push(&[i; 20]).is_err() {
                    thread::yield_now();
                }
            }
            producer.flush();
            producer
        });
        consume_sleeping(&mut consumer, &parker, 3, 20);
        drop(writer.join().unwrap());
    });
}

/// Two growths (64 -> 128 -> 256) while the consumer reads and frees the
/// segments it leaves; every message arrives whole.
#[test]
fn two_growths_while_the_consumer_frees() {
    model(|| {
        let (mut producer, mut consumer) = ring(RingConfig::new(64).max_capacity(256), None);
        let writer = thread::spawn(move || {
            producer.push(&[0; 20]).unwrap();
            producer.push(&[1; 20]).unwrap();
            // A 48-byte record does not fit the 16-byte tail: grows to 128.
            producer.push(&[2; 44]).unwrap();
            assert_eq!(producer.capacity(), 128);
            // Behind what may be unread (up to 104 bytes), a 40-byte record
            // grows the ring to 256 unless the consumer released enough.
            producer.push(&[3; 36]).unwrap();
        });
        consume_yielding(&mut consumer, &[20, 20, 44, 36], true);
        writer.join().unwrap();
    });
}

/// A grown ring shrinks back once drained, while the consumer may still be
/// reading: the consumer follows into the small segment and frees the large
/// one, and every message arrives whole.
#[test]
fn a_drained_ring_shrinks_while_the_consumer_reads() {
    model(|| {
        let (mut producer, mut consumer) = ring(RingConfig::new(64).max_capacity(256), None);
        for i in 0..3u8 {
            producer.push(&[i; 20]).unwrap();
        }
        producer.flush();
        assert_eq!(producer.capacity(), 128);
        let writer = thread::spawn(move || {
            while !producer.shrink_if_drained() {
                thread::yield_now();
            }
            assert_eq!(producer.capacity(), 64);
            producer.push(&[3; 20]).unwrap();
            producer.flush();
        });
        consume_yielding(&mut consumer, &[20, 20, 20, 20], true);
        writer.join().unwrap();
    });
}

/// A timed park (loom's futex times out at once) must neither lose the
/// wake-up of a producer that claims it nor report `Woken` when nobody woke
/// it and nothing was published... the consumer re-checks either way.
#[test]
fn a_timed_park_never_misses_a_message() {
    model(|| {
        let parker = Parker::new();
        let (mut producer, mut consumer) = ring(RingConfig::new(64), Some(parker.waker()));
        let writer = thread::spawn(move || {
            producer.push(b"x").unwrap();
            producer.flush();
            producer
        });
        let mut seen = false;
        for _ in 0..3 {
            if consumer.peek().is_some() {
                consumer.advance();
                seen = true;
                break;
            }
            parker.park(Some(std::time::Duration::from_millis(1)), || {
                !consumer.is_empty()
            });
        }
        let producer = writer.join().unwrap();
        if !seen {
            assert!(consumer.peek().is_some(), "published and lost");
        }
        drop(producer);
    });
}
