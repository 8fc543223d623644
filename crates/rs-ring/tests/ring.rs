//! Every path of the ring API, single-threaded unless a wake-up needs two.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rs_ring::{Consumer, Notifier, Parker, Producer, PushError, RingConfig, Wakeup, ring};

mod common;
use common::pop;

fn fixed(capacity: usize) -> (Producer, Consumer) {
    ring(RingConfig::new(capacity), None)
}

#[test]
fn messages_come_out_in_order_with_their_bytes() {
    let (mut producer, mut consumer) = fixed(1024);
    for message in [&b"one"[..], b"two", b"three"] {
        producer.push(message).unwrap();
    }
    assert_eq!(pop(&mut consumer).unwrap(), b"one");
    assert_eq!(pop(&mut consumer).unwrap(), b"two");
    assert_eq!(pop(&mut consumer).unwrap(), b"three");
    assert_eq!(pop(&mut consumer), None);
}

#[test]
fn zero_length_messages_are_messages() {
    let (mut producer, mut consumer) = fixed(64);
    producer.push(b"").unwrap();
    producer.push(b"").unwrap();
    assert_eq!(pop(&mut consumer), Some(vec![]));
    assert_eq!(pop(&mut consumer), Some(vec![]));
    assert_eq!(pop(&mut consumer), None);
}

#[test]
fn the_largest_message_fits_an_empty_ring_and_one_byte_more_never_does() {
    let (mut producer, mut consumer) = fixed(256);
    let max = producer.max_message_len();
    assert_eq!(max, 256 - 4);
    let message: Vec<u8> = (0..max).map(|i| i as u8).collect();
    producer.push(&message).unwrap();
    assert_eq!(pop(&mut consumer).unwrap(), message);
    assert_eq!(
        producer.push(&vec![0; max + 1]),
        Err(PushError::TooLarge { len: max + 1, max })
    );
    // Away from offset 0 the largest message only fits once the consumer
    // has passed the skipped tail: the producer publishes the skip, reports
    // Full, and succeeds after the consumer looked again.
    producer.push(&[1; 100]).unwrap();
    assert!(pop(&mut consumer).is_some());
    assert_eq!(producer.push(&message), Err(PushError::Full { len: max }));
    assert_eq!(consumer.peek(), None);
    producer.push(&message).unwrap();
    assert_eq!(pop(&mut consumer).unwrap(), message);
}

#[test]
fn capacities_round_up_to_a_power_of_two_of_at_least_64() {
    assert_eq!(RingConfig::new(0).capacity(), 64);
    assert_eq!(RingConfig::new(100).capacity(), 128);
    assert_eq!(RingConfig::new(4096).capacity(), 4096);
}

#[test]
fn capacities_stop_at_the_largest_allocatable_power_of_two() {
    // Rounding up usize::MAX would give 2^63, which no allocation may have.
    let largest = 1 << (usize::BITS - 2);
    assert_eq!(RingConfig::new(usize::MAX).capacity(), largest);
    assert_eq!(RingConfig::new(largest + 1).capacity(), largest);
    assert!(std::alloc::Layout::from_size_align(largest, 128).is_ok());
}

#[test]
fn messages_never_wrap_and_survive_many_laps() {
    // Sizes chosen so records keep landing at different offsets near the end.
    let (mut producer, mut consumer) = fixed(128);
    for i in 0..1000usize {
        let len = [5, 17, 40, 3, 60, 0][i % 6];
        let message: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
        producer.push(&message).unwrap();
        assert_eq!(pop(&mut consumer).unwrap(), message, "message {i}");
    }
}

#[test]
fn a_full_ring_reports_full_and_accepts_again_after_release() {
    let (mut producer, mut consumer) = fixed(128);
    let mut pushed = 0;
    let error = loop {
        match producer.push(&[pushed as u8; 20]) {
            Ok(()) => pushed += 1,
            Err(error) => break error,
        }
    };
    assert_eq!(error, PushError::Full { len: 20 });
    assert_eq!(
        pushed, 5,
        "five 24-byte records fit in 128 bytes with 8 kept free"
    );
    // Nothing was overwritten.
    assert_eq!(consumer.peek(), Some(&[0u8; 20][..]));
    // Advancing without releasing does not give space back.
    consumer.advance();
    assert_eq!(producer.push(&[9; 20]), Err(PushError::Full { len: 20 }));
    consumer.release();
    producer.push(&[9; 20]).unwrap();
    for i in 1..pushed {
        assert_eq!(pop(&mut consumer).unwrap(), [i as u8; 20]);
    }
    assert_eq!(pop(&mut consumer).unwrap(), [9; 20]);
}

#[test]
fn a_full_ring_grows_and_the_consumer_follows() {
    let (mut producer, mut consumer) = ring(RingConfig::new(64).max_capacity(1024), None);
    let messages: Vec<Vec<u8>> = (0..30u8).map(|i| vec![i; 10 + i as usize]).collect();
    for message in &messages {
        producer.push(message).unwrap();
    }
    assert!(producer.capacity() > 64);
    for message in &messages {
        assert_eq!(&pop(&mut consumer).unwrap(), message);
    }
    assert_eq!(pop(&mut consumer), None);
    // The new segment keeps working, including wrap-around.
    for i in 0..500usize {
        producer.push(&[i as u8; 33]).unwrap();
        assert_eq!(pop(&mut consumer).unwrap(), [i as u8; 33]);
    }
}

/// Peeks the next message, holds it, and moves past it; returns its
/// position and where its bytes lie.
fn hold_next(consumer: &mut Consumer) -> (u64, *const u8, usize) {
    let message = consumer.peek().expect("a message");
    let (ptr, len) = (message.as_ptr(), message.len());
    let position = consumer.hold_peeked().expect("a peeked message");
    consumer.advance();
    (position, ptr, len)
}

/// The bytes of a held message.
fn held(ptr: *const u8, len: usize) -> Vec<u8> {
    // SAFETY: the tests call this only while the message is held, when the
    // producer does not write its bytes and its segment stays allocated.
    unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec()
}

#[test]
fn a_held_message_is_not_released_and_its_bytes_stay_while_the_ring_fills() {
    let (mut producer, mut consumer) = fixed(128);
    producer.push(&[1; 20]).unwrap();
    producer.push(&[2; 20]).unwrap();
    let (position, ptr, len) = hold_next(&mut consumer);
    assert_eq!(pop(&mut consumer).unwrap(), [2; 20]);
    assert_eq!(
        pop(&mut consumer),
        None,
        "peek finds it drained and releases"
    );
    assert_eq!(
        producer.released(),
        position,
        "released up to the hold only"
    );
    // The space after the hold is back; the held record's is not, so the
    // ring fills up around it instead of overwriting it.
    let mut pushed = 0u8;
    while producer.push(&[100 + pushed; 20]).is_ok() {
        pushed += 1;
    }
    // Records from position 48 on fill the ring until the next would need
    // the held record's space (positions 128 to 152).
    assert_eq!(pushed, 3);
    assert_eq!(held(ptr, len), [1; 20]);
    for i in 0..pushed {
        assert_eq!(pop(&mut consumer).unwrap(), [100 + i; 20]);
    }
    assert_eq!(pop(&mut consumer), None, "past the skipped tail");
    consumer.set_hold(None);
    consumer.release();
    assert_eq!(
        producer.released(),
        producer.position(),
        "everything is back"
    );
    producer.push(&[7; 20]).unwrap();
    assert_eq!(pop(&mut consumer).unwrap(), [7; 20]);
}

#[test]
fn a_hold_moves_forward_to_the_next_held_message() {
    let (mut producer, mut consumer) = fixed(256);
    for i in 0..3u8 {
        producer.push(&[i; 12]).unwrap();
    }
    let (first, _, _) = hold_next(&mut consumer);
    let (second, ptr, len) = hold_next(&mut consumer);
    assert!(second > first);
    assert_eq!(pop(&mut consumer).unwrap(), [2; 12]);
    assert_eq!(
        producer.released(),
        first,
        "the earlier hold stays in force"
    );
    consumer.set_hold(Some(second));
    consumer.release();
    assert_eq!(producer.released(), second);
    assert_eq!(held(ptr, len), [1; 12]);
    consumer.set_hold(None);
    consumer.release();
    assert_eq!(producer.released(), producer.position());
}

#[test]
fn a_hold_set_before_the_released_space_does_not_take_it_back() {
    let (mut producer, mut consumer) = fixed(256);
    producer.push(b"a").unwrap();
    let (stale, _, _) = hold_next(&mut consumer);
    consumer.set_hold(None);
    consumer.release();
    let released = producer.released();
    assert!(released > stale);
    consumer.set_hold(Some(stale));
    consumer.release();
    assert_eq!(producer.released(), released);
    // It holds from where the release stood: what comes next stays.
    producer.push(b"b").unwrap();
    assert_eq!(pop(&mut consumer).unwrap(), b"b");
    consumer.release();
    assert_eq!(producer.released(), released);
    consumer.set_hold(None);
    consumer.release();
    assert_eq!(producer.released(), producer.position());
}

#[test]
fn hold_peeked_without_a_peeked_message_holds_nothing() {
    let (mut producer, mut consumer) = fixed(256);
    assert_eq!(consumer.hold_peeked(), None);
    producer.push(b"x").unwrap();
    assert_eq!(pop(&mut consumer).unwrap(), b"x");
    assert_eq!(consumer.hold_peeked(), None, "advanced past already");
    assert_eq!(producer.released(), producer.position());
}

#[test]
fn a_held_message_survives_the_ring_growing_past_its_segment() {
    let (mut producer, mut consumer) = ring(RingConfig::new(64).max_capacity(4096), None);
    producer.push(&[1; 20]).unwrap();
    let (position, ptr, len) = hold_next(&mut consumer);
    // Grow twice while the first segment is held; read everything.
    let messages: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 30]).collect();
    for message in &messages {
        producer.push(message).unwrap();
        assert_eq!(&pop(&mut consumer).unwrap(), message);
    }
    assert!(producer.capacity() >= 256, "the ring grew");
    assert_eq!(producer.released(), position);
    assert_eq!(held(ptr, len), [1; 20], "the first segment is still there");
    consumer.set_hold(None);
    consumer.release();
    assert_eq!(producer.released(), producer.position());
    // The ring goes on working in its last segment.
    for i in 0..200u8 {
        producer.push(&[i; 50]).unwrap();
        assert_eq!(pop(&mut consumer).unwrap(), [i; 50]);
    }
}

#[test]
fn a_producer_can_wake_its_consumer_without_publishing() {
    let parker = Parker::new();
    let (mut producer, mut consumer) = ring(RingConfig::new(256), Some(parker.waker()));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Woken again and again, so that a wake-up before the consumer
    // announces its sleep (which is no wake-up) cannot fail the test.
    let waker = std::thread::spawn({
        let done = done.clone();
        move || {
            let started = Instant::now();
            while !done.load(std::sync::atomic::Ordering::Acquire)
                && started.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(5));
                producer.wake_consumer();
            }
            producer
        }
    });
    let woken = parker.park(Some(Duration::from_secs(10)), || !consumer.is_empty());
    done.store(true, std::sync::atomic::Ordering::Release);
    assert_eq!(
        woken,
        Wakeup::Woken,
        "nothing was published: only the wake-up ends it"
    );
    drop(waker.join().unwrap());
}

#[test]
fn growth_stops_at_the_maximum_and_then_reports_full() {
    let (mut producer, mut consumer) = ring(RingConfig::new(64).max_capacity(256), None);
    let mut pushed = 0u32;
    while producer.push(&pushed.to_le_bytes()).is_ok() {
        pushed += 1;
    }
    assert_eq!(producer.capacity(), 256);
    assert_eq!(producer.push(b"more"), Err(PushError::Full { len: 4 }));
    for i in 0..pushed {
        assert_eq!(pop(&mut consumer).unwrap(), i.to_le_bytes());
    }
    producer.push(b"more").unwrap();
    assert_eq!(pop(&mut consumer).unwrap(), b"more");
}

#[test]
fn the_largest_message_fits_after_growing_to_the_maximum() {
    // Growing writes a GROW marker; when the record still does not fit in the
    // largest segment, the marker must be published with the Full error so
    // that the consumer can pass it and the retry succeeds.
    let (mut producer, mut consumer) = ring(RingConfig::new(64).max_capacity(128), None);
    producer.push(&[1; 8]).unwrap();
    assert_eq!(pop(&mut consumer).unwrap(), [1; 8]);
    let max = producer.max_message_len();
    assert_eq!(
        producer.push(&vec![2; max]),
        Err(PushError::Full { len: max })
    );
    assert_eq!(consumer.peek(), None);
    producer.push(&vec![2; max]).unwrap();
    assert_eq!(pop(&mut consumer).unwrap(), vec![2; max]);
}

#[test]
fn a_message_larger_than_the_current_segment_grows_the_ring() {
    let (mut producer, mut consumer) = ring(RingConfig::new(64).max_capacity(4096), None);
    producer.push(b"small").unwrap();
    let big = vec![7u8; 1000];
    producer.push(&big).unwrap();
    assert_eq!(pop(&mut consumer).unwrap(), b"small");
    assert_eq!(pop(&mut consumer).unwrap(), big);
    assert_eq!(producer.max_message_len(), 4096 - 4);
}

#[test]
fn messages_are_published_in_batches_or_on_flush() {
    let (mut producer, mut consumer) = ring(RingConfig::new(1024).publish_batch(3), None);
    producer.push(b"1").unwrap();
    producer.push(b"2").unwrap();
    assert!(consumer.is_empty(), "two commits stay unpublished");
    producer.push(b"3").unwrap();
    assert!(!consumer.is_empty(), "the third commit publishes all three");
    producer.push(b"4").unwrap();
    for expected in [b"1", b"2", b"3"] {
        assert_eq!(pop(&mut consumer).unwrap(), expected);
    }
    assert_eq!(pop(&mut consumer), None);
    producer.flush();
    assert_eq!(pop(&mut consumer).unwrap(), b"4");
}

#[test]
fn dropping_the_producer_publishes_what_it_committed() {
    let (mut producer, mut consumer) = ring(RingConfig::new(1024).publish_batch(100), None);
    producer.push(b"last words").unwrap();
    drop(producer);
    assert_eq!(pop(&mut consumer).unwrap(), b"last words");
}

#[test]
fn a_reservation_is_written_in_place_and_discarded_if_not_committed() {
    let (mut producer, mut consumer) = fixed(128);
    {
        let mut reservation = producer.reserve(4).unwrap();
        reservation.copy_from_slice(b"lost");
        // Goes out of scope without a commit.
    }
    producer.flush();
    assert_eq!(pop(&mut consumer), None);
    let mut reservation = producer.reserve(4).unwrap();
    assert_eq!(reservation.len(), 4);
    reservation.copy_from_slice(b"kept");
    reservation.commit();
    assert_eq!(pop(&mut consumer).unwrap(), b"kept");
}

#[test]
fn peek_returns_the_same_message_until_advance() {
    let (mut producer, mut consumer) = fixed(128);
    producer.push(b"a").unwrap();
    producer.push(b"b").unwrap();
    assert_eq!(consumer.peek(), Some(&b"a"[..]));
    assert_eq!(consumer.peek(), Some(&b"a"[..]));
    consumer.advance();
    consumer.advance(); // no peek since the last advance: nothing happens
    assert_eq!(consumer.peek(), Some(&b"b"[..]));
}

#[test]
fn the_ends_drop_in_either_order() {
    let (mut producer, consumer) = ring(RingConfig::new(64).max_capacity(1 << 16), None);
    drop(consumer);
    for i in 0..100u8 {
        producer.push(&[i; 100]).unwrap();
    }
    drop(producer);

    let (mut producer, mut consumer) = ring(RingConfig::new(64).max_capacity(1 << 16), None);
    producer.push(&[1; 100]).unwrap();
    drop(producer);
    assert_eq!(pop(&mut consumer).unwrap(), [1; 100]);
}

#[test]
fn the_ends_move_to_other_threads() {
    let (mut producer, mut consumer) = fixed(1024);
    std::thread::spawn(move || producer.push(b"from afar").unwrap())
        .join()
        .unwrap();
    let message = std::thread::spawn(move || pop(&mut consumer))
        .join()
        .unwrap();
    assert_eq!(message.unwrap(), b"from afar");
}

// --- Parker ---------------------------------------------------------------------

#[test]
fn park_returns_at_once_when_the_recheck_finds_work() {
    let parker = Parker::new();
    let start = Instant::now();
    assert_eq!(
        parker.park(Some(Duration::from_secs(10)), || true),
        Wakeup::Work
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn park_times_out() {
    let parker = Parker::new();
    let start = Instant::now();
    assert_eq!(
        parker.park(Some(Duration::from_millis(30)), || false),
        Wakeup::TimedOut
    );
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(
        parker.park(Some(Duration::ZERO), || false),
        Wakeup::TimedOut
    );
}

#[test]
fn a_timeout_the_clock_cannot_reach_means_no_timeout() {
    let parker = Parker::new();
    let waker = parker.waker();
    let woken = Arc::new(AtomicBool::new(false));
    // Woken again and again: one wake-up before the park began would be
    // nobody's (the protocol is about rings, which this test has none of).
    let nudger = std::thread::spawn({
        let woken = woken.clone();
        move || {
            while !woken.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(10));
                waker.wake();
            }
        }
    });
    assert_eq!(parker.park(Some(Duration::MAX), || false), Wakeup::Woken);
    woken.store(true, Ordering::Release);
    nudger.join().unwrap();
}

#[test]
fn a_flush_wakes_a_parked_consumer() {
    let parker = Parker::new();
    let (mut producer, mut consumer) = ring(RingConfig::new(1024), Some(parker.waker()));
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        producer.push(b"wake").unwrap();
    });
    let start = Instant::now();
    let wakeup = parker.park(Some(Duration::from_secs(20)), || !consumer.is_empty());
    assert_eq!(wakeup, Wakeup::Woken);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(pop(&mut consumer).unwrap(), b"wake");
    sender.join().unwrap();
}

// --- Notifier -------------------------------------------------------------------

fn readable(notifier: &Notifier) -> bool {
    use std::os::fd::AsRawFd;
    let mut pollfd = libc_pollfd(notifier.as_raw_fd());
    // SAFETY: one valid pollfd, zero timeout.
    let ready = unsafe { poll(&mut pollfd, 1, 0) };
    ready == 1
}

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

fn libc_pollfd(fd: i32) -> PollFd {
    PollFd {
        fd,
        events: 1,
        revents: 0,
    } // POLLIN
}

unsafe extern "C" {
    fn poll(fds: *mut PollFd, nfds: u64, timeout: i32) -> i32;
}

#[test]
fn the_eventfd_is_signalled_only_by_a_flush_after_the_consumer_announced_sleep() {
    let notifier = Notifier::new().unwrap();
    let (mut producer, mut consumer) = ring(RingConfig::new(1024), Some(notifier.waker()));
    // Awake consumer: publishing does not touch the eventfd.
    producer.push(b"1").unwrap();
    assert!(!readable(&notifier));
    // Work pending: the consumer must not sleep.
    assert!(!notifier.prepare_sleep(|| !consumer.is_empty()));
    assert_eq!(pop(&mut consumer).unwrap(), b"1");
    // Asleep: a publication by batch (every commit here) makes the message
    // visible but leaves the wake-up to the flush that ends the batch.
    assert!(notifier.prepare_sleep(|| !consumer.is_empty()));
    producer.push(b"2").unwrap();
    assert!(!readable(&notifier));
    assert!(!consumer.is_empty());
    producer.flush();
    assert!(readable(&notifier));
    notifier.awake();
    assert!(
        readable(&notifier),
        "awake() alone leaves the eventfd as it is"
    );
    notifier.drain();
    assert!(!readable(&notifier), "drain() resets the eventfd");
    // Awake again: no signal.
    producer.push(b"3").unwrap();
    assert!(!readable(&notifier));
    assert_eq!(pop(&mut consumer).unwrap(), b"2");
    assert_eq!(pop(&mut consumer).unwrap(), b"3");
}
