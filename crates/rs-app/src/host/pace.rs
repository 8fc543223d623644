//! When an app thread hands the replies of its callbacks to the workers:
//! at the end of each batch, or as they go once callbacks are slow.
//!
//! Times are nanoseconds on the monotonic clock ([`now`]) rather than
//! `Instant`s: the arithmetic of `Instant` and `Duration` costs more than
//! reading the clock, and these readings are taken per batch.

/// A batch whose callbacks took longer than this (in nanoseconds) has slow
/// callbacks.
pub(super) const SLOW_BATCH: u64 = 1_000_000;

/// How long replies keep being flushed as they go after the last slow
/// batch: a quick batch in between (of open or close notices, say) does
/// not end it.
const STAY_SLOW: u64 = 1_000_000_000;

/// Callbacks between two clock readings at most while batches are slow:
/// how late a flush may come when quick callbacks turn slow.
pub(super) const MAX_STRIDE: u32 = 4;

/// The monotonic clock, in nanoseconds.
pub(super) fn now() -> u64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `time`, valid and
    // exclusively borrowed for the call. CLOCK_MONOTONIC exists on every
    // Linux this runs on, so it cannot fail (and `time` stays zero if it
    // did: the pace would see no time pass, and flush at batch ends).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut time) };
    (time.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(time.tv_nsec as u64)
}

/// How fast the app's callbacks run, judged by how long its batches take.
///
/// Replies wait in the outbound rings until the end of a batch, which costs
/// a sleeping worker one wake-up per batch rather than one per reply. With
/// slow callbacks (an app waiting on a database, say) that would hold the
/// first replies of a batch for as long as the whole batch takes: after a
/// batch slower than [`SLOW_BATCH`], replies are flushed as they go, about
/// that long apart, until no batch has been slow for [`STAY_SLOW`].
///
/// A batch is timed from the start of its second callback to its end: a
/// batch of one callback holds back no reply but its own, so it costs no
/// clock reading at all, and a longer one costs two. While batches are
/// slow the clock is also read between callbacks, about four times per
/// [`SLOW_BATCH`] at the pace of the callbacks since the last reading:
/// after every callback when each takes a quarter of it or more, and at
/// least every [`MAX_STRIDE`] callbacks, so that callbacks turning slow are
/// seen within that many. A batch can be slow with quick callbacks (a
/// preempted thread, or a run under valgrind), and a clock reading after
/// each would then cost as much as a callback.
///
/// The clock is passed in, so that the rules can be tested without time.
#[derive(Debug)]
pub(super) struct Pace {
    /// When the running batch's second callback started, if it has one.
    timed_from: Option<u64>,
    /// While callbacks are slow: when replies are flushed next.
    flush_at: Option<u64>,
    /// While callbacks are slow: until when at least.
    slow_until: u64,
    /// While callbacks are slow: callbacks between two clock readings.
    stride: u32,
    /// Callbacks left until the clock is read next.
    countdown: u32,
    /// When the clock was last read while callbacks are slow (unless the
    /// thread slept since), and how many callbacks ran since.
    last_reading: Option<u64>,
    since_reading: u32,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            timed_from: None,
            flush_at: None,
            slow_until: 0,
            stride: 1,
            countdown: 1,
            last_reading: None,
            since_reading: 0,
        }
    }
}

impl Pace {
    /// A batch's second callback starts at `now`: the batch is timed.
    pub(super) fn second_callback(&mut self, now: u64) {
        self.timed_from = Some(now);
    }

    /// Whether replies are due to be flushed now, after a callback in the
    /// middle of a batch; `now` is called only when the clock is read.
    #[inline(always)]
    pub(super) fn flush_due(&mut self, now: impl FnOnce() -> u64) -> bool {
        let Some(at) = self.flush_at else {
            return false;
        };
        self.since_reading += 1;
        self.countdown -= 1;
        if self.countdown > 0 {
            return false;
        }
        let now = now();
        self.read(now);
        if self.flush_at.is_none() || now < at {
            return false;
        }
        self.flush_at = Some(now + SLOW_BATCH);
        true
    }

    /// A batch has ended; `now` is called only if the batch was timed.
    pub(super) fn batch_ended(&mut self, now: impl FnOnce() -> u64) {
        let Some(from) = self.timed_from.take() else {
            return;
        };
        let now = now();
        if now.saturating_sub(from) > SLOW_BATCH {
            self.slow_until = now + STAY_SLOW;
            self.flush_at.get_or_insert(now + SLOW_BATCH);
        }
        self.read(now);
    }

    /// The thread slept: the time until the next reading is not the
    /// callbacks' pace.
    pub(super) fn woke(&mut self) {
        self.last_reading = None;
    }

    /// The clock read `now`: the flushing ends a while after the last slow
    /// batch, and while it lasts, the pace of the callbacks since the last
    /// reading sets when to read the clock next.
    fn read(&mut self, now: u64) {
        if now >= self.slow_until {
            *self = Self::default();
            return;
        }
        if let Some(last) = self.last_reading
            && self.since_reading > 0
        {
            let took = now.saturating_sub(last).max(1);
            let wanted = SLOW_BATCH * u64::from(self.since_reading) / (4 * took);
            self.stride = wanted.clamp(1, u64::from(MAX_STRIDE)) as u32;
        }
        self.last_reading = Some(now);
        self.since_reading = 0;
        self.countdown = self.stride;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: u64 = 1_000;

    /// Runs `callbacks` callbacks of `each` nanoseconds in one batch as the
    /// app thread does, from `*now` (the fake clock, moved on); returns
    /// the times at which replies were flushed and how often the clock was
    /// read.
    fn batch(pace: &mut Pace, now: &mut u64, callbacks: u32, each: u64) -> (Vec<u64>, u32) {
        let (mut flushes, mut readings) = (Vec::new(), 0);
        for i in 0..callbacks {
            if i == 1 {
                pace.second_callback(*now);
                readings += 1;
            }
            *now += each;
            let at = *now;
            if pace.flush_due(|| {
                readings += 1;
                at
            }) {
                flushes.push(at);
            }
        }
        pace.batch_ended(|| {
            readings += 1;
            *now
        });
        (flushes, readings)
    }

    #[test]
    fn quick_batches_read_the_clock_twice_and_batches_of_one_never() {
        let (mut pace, mut now) = (Pace::default(), 1);
        for _ in 0..100 {
            assert_eq!(batch(&mut pace, &mut now, 64, 10 * US), (vec![], 2));
            assert_eq!(batch(&mut pace, &mut now, 1, 10 * US), (vec![], 0));
        }
    }

    #[test]
    fn slow_callbacks_are_flushed_one_by_one() {
        let (mut pace, mut now) = (Pace::default(), 1);
        // The first slow batch is seen only at its end.
        assert_eq!(batch(&mut pace, &mut now, 4, 2000 * US).0.len(), 0);
        let (flushes, readings) = batch(&mut pace, &mut now, 4, 2000 * US);
        assert_eq!((flushes.len(), readings), (4, 6));
        // A slow callback alone in its batch holds back no other reply.
        let mut pace = Pace::default();
        for _ in 0..10 {
            assert_eq!(batch(&mut pace, &mut now, 1, 2000 * US), (vec![], 0));
        }
    }

    #[test]
    fn quick_callbacks_in_slow_batches_read_the_clock_a_few_times_per_flush() {
        let (mut pace, mut now) = (Pace::default(), 1);
        // 40 callbacks of 50 µs: a batch of 2 ms, slow.
        batch(&mut pace, &mut now, 40, 50 * US);
        let mut all = Vec::new();
        let mut total_readings = 0;
        for _ in 0..10 {
            let (flushes, readings) = batch(&mut pace, &mut now, 40, 50 * US);
            all.extend(flushes);
            total_readings += readings;
        }
        // 20 ms of callbacks: flushed every millisecond or a little later.
        assert!((15..=20).contains(&all.len()), "{} flushes", all.len());
        for pair in all.windows(2) {
            let apart = pair[1] - pair[0];
            assert!(
                (SLOW_BATCH..=SLOW_BATCH * 3 / 2).contains(&apart),
                "{apart} ns"
            );
        }
        // About five readings per flush, not one per callback (400).
        assert!(
            total_readings <= 6 * all.len() as u32 + 20,
            "{total_readings} readings"
        );
    }

    #[test]
    fn callbacks_turning_slow_are_flushed_one_by_one_within_a_few() {
        let (mut pace, mut now) = (Pace::default(), 1);
        batch(&mut pace, &mut now, 3, 1000 * US);
        // Quick callbacks while batches count as slow: the clock is read
        // rarely...
        let (_, readings) = batch(&mut pace, &mut now, 4000, 2 * US);
        assert!(readings <= 4000 / MAX_STRIDE + 10, "{readings} readings");
        // ...but when they turn slow (a database), within MAX_STRIDE
        // callbacks every reply is flushed as it is made.
        let mut flushes = Vec::new();
        for i in 0..40 {
            now += 10_000 * US;
            let moment = now;
            if pace.flush_due(|| moment) {
                flushes.push(i);
            }
        }
        let first = *flushes.first().expect("a flush among the slow callbacks");
        assert!(
            first < MAX_STRIDE as usize,
            "first flush after {first} slow callbacks"
        );
        assert_eq!(flushes, (first..40).collect::<Vec<_>>());
    }

    #[test]
    fn a_second_without_slow_batches_ends_the_flushing() {
        let (mut pace, mut now) = (Pace::default(), 1);
        batch(&mut pace, &mut now, 3, 1000 * US);
        assert!(pace.flush_at.is_some());
        let start = now;
        while now - start <= STAY_SLOW {
            batch(&mut pace, &mut now, 10, 10 * US);
        }
        assert!(pace.flush_at.is_none());
        assert_eq!(batch(&mut pace, &mut now, 64, 10 * US), (vec![], 2));
    }

    #[test]
    fn batches_of_one_end_the_flushing_too() {
        let (mut pace, mut now) = (Pace::default(), 1);
        batch(&mut pace, &mut now, 3, 1000 * US);
        let start = now;
        while now - start <= STAY_SLOW {
            batch(&mut pace, &mut now, 1, 10 * US);
        }
        assert!(pace.flush_at.is_none());
    }

    #[test]
    fn a_sleep_does_not_count_as_the_callbacks_pace() {
        let (mut pace, mut now) = (Pace::default(), 1);
        // Slow batches of quick callbacks: a reading every MAX_STRIDE.
        batch(&mut pace, &mut now, 3, 1000 * US);
        batch(&mut pace, &mut now, 40, 2 * US);
        assert_eq!(pace.stride, MAX_STRIDE);
        // A sleep of 100 ms, then quick callbacks: at the first reading
        // after it, the stride is what they set, not what the sleep would
        // (a reading after every callback).
        now += 100_000 * US;
        pace.woke();
        let mut readings = 0;
        while readings == 0 {
            now += 2 * US;
            let moment = now;
            pace.flush_due(|| {
                readings += 1;
                moment
            });
        }
        assert_eq!(pace.stride, MAX_STRIDE);
    }

    #[test]
    fn the_clock_moves_on() {
        let first = now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = now();
        assert!(second - first >= 2_000_000, "{first} then {second}");
    }
}
