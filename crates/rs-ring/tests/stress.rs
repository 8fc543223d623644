//! Multi-threaded stress: millions of messages of random sizes, each with a
//! sequence number and a checksum, through deliberately small rings, with
//! consumers that sleep and wake. Any loss, reordering or corruption fails.
//! Bounded: every run has a fixed message count and a deadline.

use std::time::{Duration, Instant};

use rs_ring::{Consumer, Parker, Producer, PushError, RingConfig, ring};

const DEADLINE: Duration = Duration::from_secs(240);

/// A small, fast, deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

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
