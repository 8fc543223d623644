//! Cross-thread throughput and wake-up latency of rs-ring next to rtrb.
//!
//! Run with `cargo bench -p rs-ring --bench throughput`. Both rings move the
//! same variable-length messages (rtrb, a ring of bytes, carries each as a
//! 4-byte length and the payload, written and read in one chunk, which is
//! what rs-ring's records are too). Each row is the median of several
//! interleaved rounds; the ratio is rs-ring over rtrb.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rs_ring::{Parker, RingConfig, ring};

const CAPACITY: usize = 1 << 20;
const ROUNDS: usize = 7;
const BATCH: usize = 32;

fn main() {
    println!(
        "{:<24} {:>16} {:>16} {:>8}",
        "throughput", "rs-ring msg/s", "rtrb msg/s", "ratio"
    );
    for (len, count) in [(16usize, 20_000_000u64), (64, 10_000_000), (4096, 500_000)] {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for _ in 0..ROUNDS {
            ours.push(count as f64 / rs_ring_run(len, count).as_secs_f64());
            theirs.push(count as f64 / rtrb_run(len, count).as_secs_f64());
        }
        let (ours, theirs) = (median(&mut ours), median(&mut theirs));
        println!(
            "{:<24} {ours:>16.0} {theirs:>16.0} {:>7.2}x",
            format!("{len}-byte messages"),
            ours / theirs
        );
    }
    println!();
    println!(
        "{:<24} {:>16} {:>16} {:>8}",
        "wake-up latency", "rs-ring Parker", "rtrb+thread::park", "ratio"
    );
    // Interleaved rounds, the order swapped each time: whichever runs
    // first after the throughput runs above sees a slower machine.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..10 {
        if round % 2 == 0 {
            ours.extend(rs_ring_wakeups(200));
            theirs.extend(rtrb_wakeups(200));
        } else {
            theirs.extend(rtrb_wakeups(200));
            ours.extend(rs_ring_wakeups(200));
        }
    }
    for (name, q) in [("median", 0.5), ("p99", 0.99)] {
        let (a, b) = (quantile(&mut ours, q), quantile(&mut theirs, q));
        println!("{:<24} {:>14.1}µs {:>14.1}µs {:>7.2}x", name, a, b, b / a);
    }
}

fn median(values: &mut [f64]) -> f64 {
    quantile(values, 0.5)
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q) as usize]
}

fn rs_ring_run(len: usize, count: u64) -> Duration {
    let (mut producer, mut consumer) = ring(RingConfig::new(CAPACITY).publish_batch(BATCH), None);
    let start = Instant::now();
    let writer = std::thread::spawn(move || {
        let payload = vec![0xa5u8; len];
        for i in 0..count {
            loop {
                match producer.reserve(len) {
                    Ok(mut message) => {
                        message.copy_from_slice(&payload);
                        message[0] = i as u8;
                        message.commit();
                        break;
                    }
                    Err(_) => {
                        producer.flush();
                        std::hint::spin_loop();
                    }
                }
            }
        }
        producer.flush();
    });
    let mut received = 0u64;
    while received < count {
        match consumer.peek() {
            Some(message) => {
                assert_eq!(message[0], received as u8);
                black_box(message);
                consumer.advance();
                received += 1;
                if received.is_multiple_of(BATCH as u64) {
                    consumer.release();
                }
            }
            None => std::hint::spin_loop(),
        }
    }
    writer.join().unwrap();
    start.elapsed()
}

fn rtrb_run(len: usize, count: u64) -> Duration {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<u8>::new(CAPACITY);
    let start = Instant::now();
    let writer = std::thread::spawn(move || {
        let payload = vec![0xa5u8; len];
        let header = (len as u32).to_ne_bytes();
        for i in 0..count {
            loop {
                match producer.write_chunk(4 + len) {
                    Ok(mut chunk) => {
                        let (a, b) = chunk.as_mut_slices();
                        write_split(a, b, 0, &header);
                        write_split(a, b, 4, &payload);
                        // The first payload byte carries the sequence number.
                        write_split(a, b, 4, &[i as u8]);
                        chunk.commit_all();
                        break;
                    }
                    Err(_) => std::hint::spin_loop(),
                }
            }
        }
    });
    let mut received = 0u64;
    while received < count {
        let Ok(chunk) = consumer.read_chunk(4) else {
            std::hint::spin_loop();
            continue;
        };
        let (a, b) = chunk.as_slices();
        let mut header = [0u8; 4];
        for (dst, src) in header.iter_mut().zip(a.iter().chain(b)) {
            *dst = *src;
        }
        chunk.commit_all();
        let n = u32::from_ne_bytes(header) as usize;
        let chunk = consumer
            .read_chunk(n)
            .expect("the payload was committed with its length");
        // Read in place, as rs-ring's peek does: no copy into a message buffer.
        let (a, b) = chunk.as_slices();
        let first = a.first().or(b.first()).copied();
        assert_eq!(first, Some(received as u8));
        black_box((a, b));
        chunk.commit_all();
        received += 1;
    }
    writer.join().unwrap();
    start.elapsed()
}

/// Copies `bytes` to position `at` of the concatenation `a ++ b` (the two
/// halves of an rtrb chunk that wraps), with one or two memcpys.
fn write_split(a: &mut [u8], b: &mut [u8], at: usize, bytes: &[u8]) {
    if at >= a.len() {
        b[at - a.len()..at - a.len() + bytes.len()].copy_from_slice(bytes);
    } else {
        let first = bytes.len().min(a.len() - at);
        a[at..at + first].copy_from_slice(&bytes[..first]);
        b[..bytes.len() - first].copy_from_slice(&bytes[first..]);
    }
}

/// Microseconds from a producer's commit to the sleeping consumer running.
fn rs_ring_wakeups(samples: usize) -> Vec<f64> {
    let parker = Parker::new();
    let (mut producer, mut consumer) = ring(RingConfig::new(4096), Some(parker.waker()));
    let origin = Instant::now();
    let writer = std::thread::spawn(move || {
        for _ in 0..samples {
            std::thread::sleep(Duration::from_micros(300));
            let sent = origin.elapsed().as_nanos() as u64;
            producer.push(&sent.to_ne_bytes()).unwrap();
            // The end of the batch: the wake-up check.
            producer.flush();
        }
    });
    let mut latencies = Vec::with_capacity(samples);
    while latencies.len() < samples {
        if let Some(message) = consumer.peek() {
            let sent = u64::from_ne_bytes(message.try_into().unwrap());
            latencies.push((origin.elapsed().as_nanos() as u64 - sent) as f64 / 1000.0);
            consumer.advance();
        } else {
            parker.park(Some(Duration::from_millis(100)), || !consumer.is_empty());
        }
    }
    writer.join().unwrap();
    latencies
}

fn rtrb_wakeups(samples: usize) -> Vec<f64> {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<u64>::new(512);
    let origin = Instant::now();
    let consumer_thread = std::thread::current();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = done.clone();
        std::thread::spawn(move || {
            for _ in 0..samples {
                std::thread::sleep(Duration::from_micros(300));
                producer.push(origin.elapsed().as_nanos() as u64).unwrap();
                consumer_thread.unpark();
            }
            done.store(true, Ordering::Release);
        })
    };
    let mut latencies = Vec::with_capacity(samples);
    while latencies.len() < samples {
        match consumer.pop() {
            Ok(sent) => latencies.push((origin.elapsed().as_nanos() as u64 - sent) as f64 / 1000.0),
            Err(_) => std::thread::park_timeout(Duration::from_millis(100)),
        }
    }
    writer.join().unwrap();
    latencies
}
