//! The ring against a model, in one thread: random operations (sizes at
//! the wrap point, zero-length and maximum-length records, growth, holds,
//! dropped reservations, `position`/`released`) checked step by step, and
//! the edge cases at the end of the buffer. Bounded in count and time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rs_ring::{Producer, PushError, RingConfig, ring};

mod common;
use common::{Rng, pop};

fn fill(seq: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq as usize).wrapping_mul(31).wrapping_add(i) as u8)
        .collect()
}

/// A message held by the consumer: its position, where its bytes lie, and
/// what they must be.
struct Held {
    position: u64,
    ptr: *const u8,
    bytes: Vec<u8>,
}

fn check_holds(holds: &VecDeque<Held>) {
    for h in holds {
        // SAFETY: held, so its bytes stay in place and its segment allocated.
        let now = unsafe { std::slice::from_raw_parts(h.ptr, h.bytes.len()) };
        assert_eq!(now, &h.bytes[..], "held message at {} changed", h.position);
    }
}

/// Chooses a message length, biased toward the sizes that end exactly at
/// the end of the segment, one record past it, zero, and the maximum.
fn pick_len(rng: &mut Rng, producer: &Producer) -> usize {
    let max = producer.max_message_len();
    let cap = producer.capacity();
    let offset = (producer.position() as usize) % cap; // only a hint
    let tail = cap - offset;
    let choice = match rng.below(8) {
        0 => 0,
        1 => max,
        2 => tail.saturating_sub(4),     // exactly fills the tail
        3 => tail.saturating_sub(4) + 1, // one byte past: must skip
        4 => tail.saturating_sub(12),    // leaves exactly a marker
        5 => rng.below(9) as usize,
        _ => rng.below(cap as u64 / 2 + 1) as usize,
    };
    choice.min(max)
}

/// One randomized run against a model. Returns the number of messages that
/// went through.
fn run_model(config: RingConfig, seed: u64, steps: usize) -> u64 {
    let (mut producer, mut consumer) = ring(config, None);
    let mut rng = Rng(seed);
    // Committed, not yet peeked-and-advanced: (seq, end position, bytes).
    let mut pending: VecDeque<(u64, u64, Vec<u8>)> = VecDeque::new();
    // Advanced past: end positions not yet known released.
    let mut consumed_ends: VecDeque<u64> = VecDeque::new();
    let mut holds: VecDeque<Held> = VecDeque::new();
    let mut seq = 0u64;
    let mut delivered = 0u64;
    for step in 0..steps {
        match rng.below(10) {
            0..=4 => {
                let len = pick_len(&mut rng, &producer);
                let bytes = fill(seq, len);
                match producer.push(&bytes) {
                    Ok(()) => {
                        pending.push_back((seq, producer.position(), bytes));
                        seq += 1;
                    }
                    Err(PushError::Full { len: l }) => {
                        assert_eq!(l, len);
                        // Liveness: with nothing pending and nothing held,
                        // once the consumer has looked (drained, released),
                        // a message up to the maximum fits after at most one
                        // more Full (the one that publishes a skipped tail).
                        if pending.is_empty() && holds.is_empty() {
                            let mut ok = false;
                            for _ in 0..2 {
                                assert_eq!(consumer.peek(), None);
                                if producer.push(&bytes).is_ok() {
                                    ok = true;
                                    break;
                                }
                            }
                            assert!(
                                ok,
                                "seed {seed} step {step}: {len}-byte push (max {}) \
                                 full in an empty, released ring: {producer:?} released {} {consumer:?}",
                                producer.max_message_len(),
                                producer.released()
                            );
                            pending.push_back((seq, producer.position(), bytes));
                            seq += 1;
                        }
                    }
                    Err(e) => panic!("seed {seed} step {step}: {e}"),
                }
            }
            5 => {
                let choice = rng.below(3);
                if choice == 0 {
                    producer.flush();
                } else if choice == 1 {
                    // Shrinks exactly when grown and released up to the end.
                    let grown = producer.capacity() > config.capacity();
                    let drained = producer.released() == producer.position();
                    assert_eq!(
                        producer.shrink_if_drained(),
                        grown && drained,
                        "seed {seed} step {step}: {producer:?}"
                    );
                    if grown && drained {
                        assert_eq!(producer.capacity(), config.capacity());
                    }
                } else {
                    // A reservation dropped uncommitted (after a possible skip
                    // or growth) leaves nothing behind.
                    let len = pick_len(&mut rng, &producer);
                    if let Ok(mut r) = producer.reserve(len) {
                        r.fill(0xEE);
                    }
                }
            }
            6..=8 => {
                // Consume a few, maybe holding some.
                for _ in 0..=rng.below(4) {
                    // (An empty peek with messages pending is allowed: with
                    // `publish_batch` > 1 they may not be published yet.)
                    let Some(message) = consumer.peek() else {
                        break;
                    };
                    let (s, end, bytes) = pending.pop_front().unwrap_or_else(|| {
                        panic!("seed {seed} step {step}: a message beyond those pushed")
                    });
                    assert_eq!(message, &bytes[..], "seed {seed} step {step}: message {s}");
                    let ptr = message.as_ptr();
                    if rng.below(4) == 0 && holds.len() < 6 {
                        let position = consumer.hold_peeked().unwrap();
                        assert!(position < end);
                        holds.push_back(Held {
                            position,
                            ptr,
                            bytes,
                        });
                    }
                    consumer.advance();
                    consumed_ends.push_back(end);
                    delivered += 1;
                }
                if rng.below(2) == 0 {
                    consumer.release();
                }
            }
            _ => {
                // Lift the oldest hold, or all of them.
                if rng.below(2) == 0 {
                    holds.pop_front();
                } else {
                    holds.clear();
                }
                consumer.set_hold(holds.front().map(|h| h.position));
                consumer.release();
            }
        }
        check_holds(&holds);
        // released() never passes a record that is not consumed, nor a hold.
        let released = producer.released();
        if let Some((s, end, _)) = pending.front() {
            assert!(
                released < *end,
                "seed {seed} step {step}: released {released} passes unconsumed message {s} (end {end})"
            );
        }
        if let Some(h) = holds.front() {
            assert!(
                released <= h.position,
                "seed {seed} step {step}: released past a hold"
            );
        }
        while consumed_ends.front().is_some_and(|&e| e <= released) {
            consumed_ends.pop_front();
        }
    }
    // Drain: everything comes out in order.
    producer.flush();
    holds.clear();
    consumer.set_hold(None);
    while let Some(message) = consumer.peek() {
        let (s, _, bytes) = pending.pop_front().expect("no extra message");
        assert_eq!(message, &bytes[..], "seed {seed}: drained message {s}");
        consumer.advance();
        delivered += 1;
    }
    assert!(
        pending.is_empty(),
        "seed {seed}: {} messages lost",
        pending.len()
    );
    consumer.release();
    assert_eq!(producer.released(), producer.position());
    delivered
}

fn configs() -> Vec<RingConfig> {
    vec![
        RingConfig::new(64),
        RingConfig::new(128),
        RingConfig::new(256).publish_batch(3),
        RingConfig::new(64).max_capacity(128),
        RingConfig::new(64).max_capacity(512),
        RingConfig::new(64).max_capacity(4096).publish_batch(2),
        RingConfig::new(128).max_capacity(256),
    ]
}

#[test]
fn random_operations_agree_with_a_model() {
    // Every configuration with each seed, until 300 seeds or 10 s.
    let start = Instant::now();
    let mut total = 0;
    'seeds: for seed in 1..=300u64 {
        for (c, config) in configs().into_iter().enumerate() {
            total += run_model(config, seed * 7919 + c as u64, 3000);
        }
        if start.elapsed() > Duration::from_secs(10) {
            break 'seeds;
        }
    }
    assert!(total > 1000);
}

/// Records that exactly fill the end of the segment, lap after lap, in a
/// fixed and in a growing ring: no WRAP marker is written and the next
/// record must start at offset 0.
#[test]
fn records_that_exactly_fill_the_end_of_the_buffer() {
    for config in [RingConfig::new(128), RingConfig::new(64).max_capacity(1024)] {
        let (mut producer, mut consumer) = ring(config, None);
        for lap in 0..200u64 {
            let cap = producer.capacity();
            let offset = (producer.position() % cap as u64) as usize;
            // This position is exact only for the first segment; compute the
            // tail from a fresh push when grown.
            let tail = cap - offset;
            let len = (tail - 4).min(producer.max_message_len());
            let message = fill(lap, len);
            match producer.push(&message) {
                Ok(()) => {}
                Err(PushError::Full { .. }) => {
                    assert_eq!(consumer.peek(), None);
                    producer.push(&message).unwrap();
                }
                Err(e) => panic!("{e}"),
            }
            producer.flush();
            assert_eq!(pop(&mut consumer).unwrap(), message, "lap {lap}");
            let small = fill(lap + 1000, (lap % 13) as usize);
            producer.push(&small).unwrap();
            producer.flush();
            assert_eq!(pop(&mut consumer).unwrap(), small, "lap {lap}");
        }
    }
}

/// Zero-length records fill a fixed ring to exactly its capacity (8 bytes
/// each), and one more is Full, not an overwrite.
#[test]
fn zero_length_records_fill_the_ring_exactly() {
    let (mut producer, mut consumer) = ring(RingConfig::new(64), None);
    for _ in 0..8 {
        producer.push(b"").unwrap();
    }
    assert_eq!(producer.push(b""), Err(PushError::Full { len: 0 }));
    for _ in 0..8 {
        assert_eq!(pop(&mut consumer), Some(vec![]));
    }
    assert_eq!(pop(&mut consumer), None);
    for i in 0..1000u64 {
        producer.push(b"").unwrap();
        if i % 3 == 0 {
            producer.push(&fill(i, 3)).unwrap();
            assert_eq!(pop(&mut consumer), Some(vec![]));
            assert_eq!(pop(&mut consumer), Some(fill(i, 3)));
        } else {
            assert_eq!(pop(&mut consumer), Some(vec![]));
        }
    }
}

/// The longest message goes through a growing ring whatever the offset the
/// producer is at, once the consumer has caught up.
#[test]
fn the_longest_message_goes_through_a_growing_ring_from_any_offset() {
    for (initial, max) in [(64, 128), (64, 256), (128, 1024)] {
        for lead in 0..(initial / 8) {
            let (mut producer, mut consumer) =
                ring(RingConfig::new(initial).max_capacity(max), None);
            let longest = producer.max_message_len();
            for i in 0..lead {
                producer.push(&fill(i as u64, 4)).unwrap();
                assert_eq!(pop(&mut consumer).unwrap(), fill(i as u64, 4));
            }
            // Then again, from wherever that left the producer.
            for (seq, which) in [(99, "first"), (100, "second")] {
                let message = fill(seq, longest);
                let mut tries = 0;
                while let Err(error) = producer.push(&message) {
                    assert!(matches!(error, PushError::Full { .. }), "{error}");
                    tries += 1;
                    assert!(
                        tries < 4,
                        "({initial},{max}) lead {lead}: {which} never fits"
                    );
                    assert_eq!(consumer.peek(), None);
                }
                assert_eq!(pop(&mut consumer).unwrap(), message);
            }
        }
    }
}
