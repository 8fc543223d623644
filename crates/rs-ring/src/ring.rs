//! The ring itself: [`ring`], [`Producer`], [`Consumer`], [`Reservation`].
//!
//! # Memory ordering
//!
//! Two shared indices, each on its own cache lines, are the only
//! synchronisation. Both are monotonic byte positions (never reduced modulo
//! the capacity), so `write - read` is the space in use.
//!
//! - The producer writes records into space it owns (between its write
//!   position and the consumer's released read position plus the capacity),
//!   then publishes the write index with a `Release` (AcqRel) swap. The
//!   consumer loads it with `Acquire`, so every byte of every record before that position, and the
//!   `next` pointer behind a GROW marker, is visible to it.
//! - The consumer reads records, then stores the read index with `Release`.
//!   The producer loads it with `Acquire` before it reuses that space, so the
//!   consumer's reads happen before the producer's overwrites.
//!
//! Each side keeps a cached copy of the other side's index and reloads it
//! only when the cached value says the ring is empty (consumer) or full
//! (producer), so in steady state neither side touches the other's line.
//!
//! # Growth
//!
//! When the ring is full and may grow, the producer allocates a larger
//! segment, links it from the current one, writes a GROW marker, and goes on
//! in the new segment. The consumer drains the old segment, meets the marker,
//! frees the old segment and follows. Positions keep counting across
//! segments: space still unread in the old segment is counted as in use in
//! the new one, which is conservative and never lets the producer overwrite.
//! Whichever handle is dropped last frees the segments that remain.
//!
//! A grown ring gives its memory back the same way: once the consumer has
//! released everything, [`Producer::shrink_if_drained`] writes a GROW
//! marker to a segment of the initial size, and the consumer frees the
//! large one when it follows.
//!
//! # Holds
//!
//! A consumer may keep a message it has read from going back to the
//! producer ([`Consumer::hold_peeked`]): releases then stop at that message
//! until the hold is moved or lifted ([`Consumer::set_hold`]). Meanwhile the
//! message's bytes stay exactly as they are, and anyone the consumer hands
//! their address to may read them (RingSocket's worker sends an echoed
//! payload straight from its app's inbound ring this way). Segments are
//! therefore freed when the release position passes them, not when the
//! consumer reads past their end: a held message keeps its segment
//! allocated however far the ring has grown since.

use std::fmt;
use std::ptr::NonNull;

use crate::segment::{GROW, HEADER_LEN, MAX_MESSAGE_LEN, RECORD_ALIGN, Segment, WRAP, record_len};
use crate::sync::{Arc, AtomicBool, AtomicPtr, AtomicU64, CachePadded, Ordering};
use crate::wake::Waker;

/// Space kept free after every record, so that a WRAP or GROW marker always
/// fits at the write position.
const MARKER_LEN: usize = RECORD_ALIGN;

/// The smallest capacity a ring is given.
const MIN_CAPACITY: usize = 64;

/// How a ring is sized and when its producer publishes.
///
/// ```
/// use rs_ring::RingConfig;
/// let config = RingConfig::new(1 << 20).max_capacity(64 << 20).publish_batch(5);
/// assert_eq!(config.capacity(), 1 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingConfig {
    capacity: usize,
    max_capacity: usize,
    publish_batch: usize,
}

impl RingConfig {
    /// A ring of `capacity` bytes (rounded up to a power of two, at least
    /// 64, at most 2^62 on 64-bit targets) that does not grow and publishes
    /// every commit.
    pub fn new(capacity: usize) -> Self {
        let capacity = round_capacity(capacity);
        Self {
            capacity,
            max_capacity: capacity,
            publish_batch: 1,
        }
    }

    /// Lets the ring grow, by doubling or more, up to `max_capacity` bytes
    /// (rounded up to a power of two) when it is full. Beyond that, pushes
    /// fail with [`PushError::Full`].
    pub fn max_capacity(mut self, max_capacity: usize) -> Self {
        self.max_capacity = round_capacity(max_capacity).max(self.capacity);
        self
    }

    /// Publishes committed messages to the consumer after at most `batch`
    /// commits (the `update_queue_size` setting), and on every
    /// [`Producer::flush`]. At least 1. A consumer that is awake sees each
    /// publication at once; a sleeping one is woken by the next `flush`
    /// only, so a burst costs one wake-up rather than one per batch.
    pub fn publish_batch(mut self, batch: usize) -> Self {
        self.publish_batch = batch.max(1);
        self
    }

    /// The initial capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// The largest capacity: the largest power of two an allocation may have
/// (`Layout` sizes stop at `isize::MAX`).
const MAX_CAPACITY: usize = 1 << (usize::BITS - 2);

fn round_capacity(capacity: usize) -> usize {
    capacity
        .clamp(MIN_CAPACITY, MAX_CAPACITY)
        .next_power_of_two()
}

/// Why a message could not be pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushError {
    /// The ring is full and may not grow further: retry after the consumer
    /// has released space, or apply back-pressure.
    Full {
        /// The length of the message that did not fit.
        len: usize,
    },
    /// The message can never fit, even in an empty ring of the maximum size.
    TooLarge {
        /// The length of the message.
        len: usize,
        /// The longest message this ring can ever hold.
        max: usize,
    },
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full { len } => write!(f, "ring full: no room for a {len}-byte message"),
            Self::TooLarge { len, max } => {
                write!(
                    f,
                    "a {len}-byte message exceeds the ring's {max}-byte maximum"
                )
            }
        }
    }
}

impl std::error::Error for PushError {}

/// State shared by the two ends.
struct Shared {
    /// Published write position: written by the producer, read by the consumer.
    write: CachePadded<AtomicU64>,
    /// Released read position: written by the consumer, read by the producer.
    read: CachePadded<AtomicU64>,
    /// The consumer's current segment, the head of the chain still allocated.
    consumer_segment: AtomicPtr<Segment>,
    /// The consumer was dropped: nobody will release space again.
    consumer_gone: AtomicBool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let mut next = NonNull::new(self.consumer_segment.load(Ordering::Relaxed));
        while let Some(segment) = next {
            // SAFETY: both handles are gone (this is the last reference), so
            // nothing points into the chain; each segment is freed once.
            unsafe {
                next = segment.as_ref().next();
                Segment::free(segment);
            }
        }
    }
}

/// Creates a ring and returns its two ends. `waker`, if given, is woken
/// whenever the producer publishes and the consumer announced it was going
/// to sleep.
///
/// ```
/// use rs_ring::{ring, RingConfig};
/// let (mut producer, mut consumer) = ring(RingConfig::new(1024), None);
/// producer.push(b"hello").unwrap();
/// producer.flush();
/// assert_eq!(consumer.peek(), Some(&b"hello"[..]));
/// consumer.advance();
/// consumer.release();
/// assert_eq!(consumer.peek(), None);
/// ```
pub fn ring(config: RingConfig, waker: Option<Waker>) -> (Producer, Consumer) {
    let segment = Segment::new(config.capacity, 0);
    let shared = Arc::new(Shared {
        write: CachePadded(AtomicU64::new(0)),
        read: CachePadded(AtomicU64::new(0)),
        consumer_segment: AtomicPtr::new(segment.as_ptr()),
        consumer_gone: AtomicBool::new(false),
    });
    let producer = Producer {
        shared: shared.clone(),
        segment,
        write: 0,
        published: 0,
        cached_read: 0,
        unpublished: 0,
        publish_batch: config.publish_batch,
        wake_due: false,
        initial_capacity: config.capacity,
        max_capacity: config.max_capacity,
        waker,
    };
    let consumer = Consumer {
        shared,
        segment,
        oldest: segment,
        read: 0,
        released: 0,
        hold: u64::MAX,
        cached_write: 0,
        peeked: None,
    };
    (producer, consumer)
}

/// The writing end of a ring. `Send` but not `Sync` or `Clone`: exactly one
/// thread produces.
pub struct Producer {
    shared: Arc<Shared>,
    /// The segment being written. Owned by the chain in `shared`.
    segment: NonNull<Segment>,
    /// Position after the last committed record.
    write: u64,
    /// Position last stored to `shared.write`.
    published: u64,
    /// The consumer's read position as last loaded.
    cached_read: u64,
    /// Commits since the last publication.
    unpublished: usize,
    /// Something was published since the last wake-up check.
    wake_due: bool,
    publish_batch: usize,
    initial_capacity: usize,
    max_capacity: usize,
    waker: Option<Waker>,
}

// SAFETY: the producer's raw segment pointer is only dereferenced by the
// thread that owns the producer, and only for the space the protocol gives
// the producer; moving it to another thread moves that ownership along.
unsafe impl Send for Producer {}

impl Producer {
    /// Reserves room for a message of exactly `len` bytes and returns it for
    /// writing in place. Nothing reaches the consumer until
    /// [`Reservation::commit`]; a reservation dropped uncommitted is discarded.
    ///
    /// ```
    /// use rs_ring::{ring, RingConfig};
    /// let (mut producer, mut consumer) = ring(RingConfig::new(256), None);
    /// let mut message = producer.reserve(3).unwrap();
    /// message.copy_from_slice(&[1, 2, 3]);
    /// message.commit();
    /// producer.flush();
    /// assert_eq!(consumer.peek(), Some(&[1, 2, 3][..]));
    /// ```
    #[inline]
    pub fn reserve(&mut self, len: usize) -> Result<Reservation<'_>, PushError> {
        // The common case, kept small enough to inline: the record fits
        // before the end of the segment by the cached read position.
        if len <= MAX_MESSAGE_LEN {
            let record = record_len(len);
            let offset = self.segment().offset(self.write);
            if record <= self.capacity() - offset && self.fits(record) {
                return Ok(Reservation {
                    producer: self,
                    offset,
                    len,
                    record,
                });
            }
        }
        self.reserve_slow(len)
    }

    /// [`reserve`](Self::reserve) when the record does not fit as things
    /// stand: reload the read position, skip the tail, grow, or fail.
    #[cold]
    #[inline(never)]
    fn reserve_slow(&mut self, len: usize) -> Result<Reservation<'_>, PushError> {
        let max = self.max_message_len();
        if len > max {
            return Err(PushError::TooLarge { len, max });
        }
        let record = record_len(len);
        loop {
            let capacity = self.capacity();
            let offset = self.segment().offset(self.write);
            // A record never wraps: if it does not fit before the end, the
            // tail is skipped and counts as used until the consumer passes it.
            let tail = capacity - offset;
            if record <= tail {
                if self.has_room(record) {
                    return Ok(Reservation {
                        producer: self,
                        offset,
                        len,
                        record,
                    });
                }
            } else if self.has_room(tail + record) {
                // SAFETY: `offset` is the write position's, and the tail is
                // free (has_room just above).
                unsafe { self.skip_tail(offset, tail) };
                return Ok(Reservation {
                    producer: self,
                    offset: 0,
                    len,
                    record,
                });
            } else if self.has_room(tail) && !self.can_grow() {
                // The record may fit at offset 0 once the consumer has passed
                // the skipped tail: publish the skip now so that it can.
                // SAFETY: as above (has_room(tail) in the condition).
                unsafe { self.skip_tail(offset, tail) };
                self.flush();
                continue;
            }
            if !self.grow(record) {
                // Whatever was written so far (a GROW or WRAP marker
                // included) must reach the consumer, or the space it holds
                // would never come back.
                self.flush();
                return Err(PushError::Full { len });
            }
        }
    }

    /// Copies `message` into the ring and commits it.
    pub fn push(&mut self, message: &[u8]) -> Result<(), PushError> {
        let mut reservation = self.reserve(message.len())?;
        reservation.copy_from_slice(message);
        reservation.commit();
        Ok(())
    }

    /// Publishes every committed message to the consumer, and wakes it if it
    /// announced it was going to sleep. Call at the end of each batch.
    pub fn flush(&mut self) {
        self.publish();
        if std::mem::take(&mut self.wake_due)
            && let Some(waker) = &self.waker
        {
            waker.wake();
        }
    }

    /// Publishes every committed message without the wake-up check, which
    /// waits for the next [`flush`](Self::flush).
    fn publish(&mut self) {
        if self.write != self.published {
            // A read-modify-write rather than a store: it is the producer's
            // half of the wake-up protocol (see the `wake` module), whose
            // check may come any time later.
            self.shared.write.swap(self.write, Ordering::AcqRel);
            self.published = self.write;
            self.unpublished = 0;
            self.wake_due = true;
        }
    }

    /// The ring position after the last committed record. A record has been
    /// consumed once [`released`](Self::released) reaches the position
    /// read just after its commit.
    ///
    /// ```
    /// use rs_ring::{ring, RingConfig};
    /// let (mut producer, mut consumer) = ring(RingConfig::new(256), None);
    /// producer.push(b"hi").unwrap();
    /// let end = producer.position();
    /// producer.flush();
    /// assert!(producer.released() < end);
    /// consumer.peek();
    /// consumer.advance();
    /// consumer.release();
    /// assert_eq!(producer.released(), end);
    /// ```
    pub fn position(&self) -> u64 {
        self.write
    }

    /// The position up to which the consumer has released the ring: every
    /// record that ended there or before is consumed for good.
    pub fn released(&mut self) -> u64 {
        self.cached_read = self.shared.read.load(Ordering::Acquire);
        self.cached_read
    }

    /// Whether the consumer has yet to release more than `limit` bytes of
    /// what was committed (published or not). Cheap while the cached read
    /// position says no: it is reloaded only when that says yes. For a
    /// producer that writes for several sources and pauses those that
    /// would fill the ring faster than the consumer reads it.
    ///
    /// ```
    /// use rs_ring::{ring, RingConfig};
    /// let (mut producer, mut consumer) = ring(RingConfig::new(1024), None);
    /// producer.push(&[7; 100]).unwrap();
    /// assert!(producer.unreleased_exceeds(50));
    /// producer.flush();
    /// assert!(consumer.peek().is_some());
    /// consumer.advance();
    /// consumer.release();
    /// assert!(!producer.unreleased_exceeds(50));
    /// ```
    pub fn unreleased_exceeds(&mut self, limit: u64) -> bool {
        if self.write - self.cached_read <= limit {
            return false;
        }
        self.cached_read = self.shared.read.load(Ordering::Acquire);
        self.write - self.cached_read > limit
    }

    /// Publishes what is committed and wakes the consumer if it sleeps, even
    /// if nothing new was published: for a producer waiting for room that
    /// only the consumer can give (the consumer may be holding a message).
    pub fn wake_consumer(&mut self) {
        self.publish();
        self.wake_due = false;
        if let Some(waker) = &self.waker {
            waker.wake();
        }
    }

    /// Gives a grown ring's memory back: if the ring is larger than its
    /// initial capacity and the consumer has released every message
    /// committed, moves on to a segment of the initial capacity, publishes
    /// that and wakes the consumer, which frees the large segment when it
    /// follows. Returns whether it did. Costs one load of the consumer's
    /// position when the ring has grown, nothing otherwise: for a producer
    /// to call from time to time (a ring that a burst grew keeps its size
    /// otherwise, however little it is used afterwards).
    ///
    /// ```
    /// use rs_ring::{ring, RingConfig};
    /// let (mut producer, mut consumer) = ring(RingConfig::new(64).max_capacity(1024), None);
    /// for i in 0..10u8 {
    ///     producer.push(&[i; 20]).unwrap(); // grows: 10 records need 240 bytes
    /// }
    /// producer.flush();
    /// assert!(producer.capacity() > 64);
    /// assert!(!producer.shrink_if_drained(), "not read yet");
    /// while consumer.peek().is_some() {
    ///     consumer.advance();
    /// }
    /// consumer.release();
    /// assert!(producer.shrink_if_drained());
    /// assert_eq!(producer.capacity(), 64);
    /// assert_eq!(consumer.peek(), None); // follows, and frees the 256 bytes
    /// producer.push(b"on").unwrap();
    /// producer.flush();
    /// assert_eq!(consumer.peek(), Some(&b"on"[..]));
    /// ```
    pub fn shrink_if_drained(&mut self) -> bool {
        // (An abandoned ring is not worth a new segment: the large one
        // stays until both ends are gone.)
        if !self.has_grown() || self.released() != self.write || self.is_abandoned() {
            return false;
        }
        // SAFETY: nothing is in use, so the whole segment is free and a
        // marker fits at the write position (records are RECORD_ALIGN-
        // aligned, a multiple of MARKER_LEN).
        if !unsafe { self.move_to(self.initial_capacity) } {
            return false;
        }
        self.flush();
        true
    }

    /// Whether the ring is larger than its initial capacity (it grew, and
    /// did not shrink back since).
    pub fn has_grown(&self) -> bool {
        self.capacity() > self.initial_capacity
    }

    /// Whether the consumer was dropped: what is pushed from now on is
    /// never read, and a full ring never gets room again, so a producer
    /// waiting for room should give up.
    ///
    /// ```
    /// use rs_ring::{ring, RingConfig};
    /// let (producer, consumer) = ring(RingConfig::new(1024), None);
    /// assert!(!producer.is_abandoned());
    /// drop(consumer);
    /// assert!(producer.is_abandoned());
    /// ```
    pub fn is_abandoned(&self) -> bool {
        self.shared.consumer_gone.load(Ordering::Acquire)
    }

    /// The longest message this ring can ever hold.
    pub fn max_message_len(&self) -> usize {
        // The largest segment keeps no slack: it never grows.
        (self.max_capacity - HEADER_LEN).min(MAX_MESSAGE_LEN)
    }

    /// The capacity of the segment being written, in bytes.
    pub fn capacity(&self) -> usize {
        self.segment().capacity()
    }

    fn segment(&self) -> &Segment {
        // SAFETY: the producer's segment stays allocated while the producer
        // exists: only the consumer frees segments, and only after it has
        // passed the GROW marker that the producer wrote when it left one.
        unsafe { self.segment.as_ref() }
    }

    /// Whether `bytes` more bytes fit, reloading the consumer's position if
    /// the cached one says they do not.
    fn has_room(&mut self, bytes: usize) -> bool {
        if !self.fits(bytes) {
            self.cached_read = self.shared.read.load(Ordering::Acquire);
        }
        self.fits(bytes)
    }

    /// Whether `bytes` more bytes fit by the cached read position, keeping
    /// room for a GROW marker after them while the ring may still grow.
    fn fits(&self, bytes: usize) -> bool {
        let used = (self.write - self.cached_read) as usize;
        let slack = if self.can_grow() { MARKER_LEN } else { 0 };
        used + bytes + slack <= self.capacity()
    }

    fn can_grow(&self) -> bool {
        self.capacity() < self.max_capacity
    }

    /// Marks the `tail` bytes from `offset` to the end of the segment as
    /// skipped; the next record goes at offset 0.
    ///
    /// # Safety
    ///
    /// `offset` is the write position's offset in the segment (record-
    /// aligned, in bounds), `tail` the bytes from it to the segment's end,
    /// and they are free ([`has_room`](Self::has_room)`(tail)` holds): the
    /// consumer reads none of them until the marker is published.
    unsafe fn skip_tail(&mut self, offset: usize, tail: usize) {
        // SAFETY: free space the producer owns, per the contract.
        unsafe { self.segment().write_header(offset, WRAP) };
        self.write += tail as u64;
    }

    /// Moves to a larger segment that can hold a `record`-byte record.
    /// `false` when the ring is at its maximum size, or out of memory (see
    /// [`out_of_memory`](Self::out_of_memory)).
    fn grow(&mut self, record: usize) -> bool {
        if !self.can_grow() {
            return false;
        }
        let capacity = self.capacity();
        // Unread bytes of the old segment count as used in the new one.
        let needed = (capacity + record + 2 * MARKER_LEN).checked_next_power_of_two();
        let new_capacity = needed
            .map_or(self.max_capacity, |n| n.max(capacity * 2))
            .min(self.max_capacity);
        // SAFETY: while the ring may grow (checked above), `fits` leaves
        // MARKER_LEN free bytes after every record, so they are free at the
        // write position.
        let moved = unsafe { self.move_to(new_capacity) };
        moved || self.out_of_memory(record, new_capacity)
    }

    /// Continues in a new segment of `capacity` bytes, behind a GROW marker
    /// at the write position; `false` if the memory is not available.
    ///
    /// # Safety
    ///
    /// MARKER_LEN bytes at the write position are free (the producer's).
    unsafe fn move_to(&mut self, capacity: usize) -> bool {
        let offset = self.segment().offset(self.write);
        let base = self.write + MARKER_LEN as u64;
        let Some(next) = Segment::try_new(capacity, base) else {
            return false;
        };
        self.segment().set_next(next);
        // SAFETY: free bytes the producer owns, per the contract.
        unsafe { self.segment().write_header(offset, GROW) };
        self.write = base;
        self.segment = next;
        true
    }

    /// A growth failed for want of memory. A record the current segment can
    /// hold waits for the consumer as in a ring that cannot grow (`false`:
    /// the caller reports `Full`), the tail skipped now if the record must
    /// go at offset 0, so that it fits once the consumer has caught up. For
    /// a larger record no wait would help, and a `Full` would be retried
    /// forever: aborts, as `Vec` does.
    #[cold]
    fn out_of_memory(&mut self, record: usize, new_capacity: usize) -> bool {
        let capacity = self.capacity();
        if record + MARKER_LEN > capacity {
            Segment::out_of_memory(new_capacity);
        }
        let offset = self.segment().offset(self.write);
        let tail = capacity - offset;
        if record > tail && self.has_room(tail) {
            // SAFETY: the write position's offset, and a free tail (has_room).
            unsafe { self.skip_tail(offset, tail) };
        }
        false
    }

    fn commit(&mut self, record: usize) {
        self.write += record as u64;
        self.unpublished += 1;
        if self.unpublished >= self.publish_batch {
            self.publish();
        }
    }
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("write", &self.write)
            .field("published", &self.published)
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // Whatever was committed reaches the consumer.
        self.flush();
    }
}

/// Room for one message, written in place. Dereferences to the message bytes.
pub struct Reservation<'a> {
    producer: &'a mut Producer,
    /// Offset of the record (its header) in the producer's segment.
    offset: usize,
    len: usize,
    record: usize,
}

impl Reservation<'_> {
    /// Makes the message visible to the consumer (at the next publication).
    pub fn commit(self) {
        // `reserve` bounds the length by MAX_MESSAGE_LEN, below both markers.
        let len = self.len as u32;
        // SAFETY: the record was reserved for this producer and is
        // unpublished; `reserve` placed it at a record-aligned offset with
        // its header and payload inside the segment.
        unsafe { self.producer.segment().write_header(self.offset, len) };
        self.producer.commit(self.record);
    }
}

impl std::ops::Deref for Reservation<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the reserved bytes are owned by this reservation until it
        // commits or drops; the unique borrow of the producer keeps it so.
        unsafe { self.producer.segment().payload(self.offset, self.len) }
    }
}

impl std::ops::DerefMut for Reservation<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`, and `&mut self` makes the access unique.
        unsafe { self.producer.segment().payload_mut(self.offset, self.len) }
    }
}

/// The reading end of a ring. `Send` but not `Sync` or `Clone`: exactly one
/// thread consumes.
pub struct Consumer {
    shared: Arc<Shared>,
    /// The segment being read.
    segment: NonNull<Segment>,
    /// The oldest segment not freed yet (`shared.consumer_segment`): the
    /// one being read, or one it grew out of whose space is not released.
    oldest: NonNull<Segment>,
    /// Position after the last message advanced past.
    read: u64,
    /// Position last stored to `shared.read`.
    released: u64,
    /// Releases stop here ([`Consumer::set_hold`]); `u64::MAX` for none.
    hold: u64,
    /// The producer's write position as last loaded.
    cached_write: u64,
    /// The record length of the message `peek` returned.
    peeked: Option<usize>,
}

// SAFETY: as for `Producer`: the segment pointer is only used by the owning
// thread, for the records the protocol gives the consumer.
unsafe impl Send for Consumer {}

impl Drop for Consumer {
    fn drop(&mut self) {
        // Release: a producer that sees it also sees the consumer's last
        // release of space (there is none to wait for after it).
        self.shared.consumer_gone.store(true, Ordering::Release);
    }
}

impl Consumer {
    /// The next message, borrowed from the ring, or `None` if none is
    /// published. The same message is returned until [`Consumer::advance`].
    /// Finding the ring empty releases all space advanced past, as
    /// [`Consumer::release`] does.
    pub fn peek(&mut self) -> Option<&[u8]> {
        loop {
            if self.read == self.cached_write {
                self.cached_write = self.shared.write.load(Ordering::Acquire);
                if self.read == self.cached_write {
                    // Drained: give everything back, skipped tails included,
                    // so a producer waiting for room is never held up.
                    self.release();
                    return None;
                }
            }
            let segment = self.segment();
            let capacity = segment.capacity();
            let offset = segment.offset(self.read);
            // SAFETY: `read < cached_write`, so the record at `read` was
            // published (Acquire above) and the producer will not touch it
            // before we release it.
            let header = unsafe { segment.read_header(offset) };
            match header {
                WRAP => self.read += (capacity - offset) as u64,
                GROW => self.follow_next(),
                len => {
                    let len = len as usize;
                    self.peeked = Some(record_len(len));
                    // SAFETY: as for the header: published and not released.
                    return Some(unsafe { self.segment().payload(offset, len) });
                }
            }
        }
    }

    /// Moves past the message [`Consumer::peek`] returned. Its space goes back
    /// to the producer at the next [`Consumer::release`]. Does nothing if no
    /// message was peeked.
    pub fn advance(&mut self) {
        if let Some(record) = self.peeked.take() {
            self.read += record as u64;
        }
    }

    /// Gives the space of every message advanced past back to the producer,
    /// up to the hold if there is one. Releasing after each message is
    /// cheap; releasing per batch is cheaper.
    pub fn release(&mut self) {
        let upto = self.read.min(self.hold);
        if upto != self.released {
            self.shared.read.store(upto, Ordering::Release);
            self.released = upto;
            if self.oldest != self.segment {
                self.free_released();
            }
        }
    }

    /// Holds the message [`peek`](Self::peek) returned: from the next
    /// release on, neither it nor anything after it goes back to the
    /// producer until [`set_hold`](Self::set_hold) moves the hold past it,
    /// so its bytes stay in place, unchanged, however far the consumer
    /// reads on. Returns the message's position (to give `set_hold` later),
    /// or `None` if no message is peeked. An earlier hold stays in force.
    /// While it does, the segment the message lies in and every later one
    /// stay allocated: a ring that grows under a hold can take up to about
    /// twice its maximum capacity.
    ///
    /// ```
    /// use rs_ring::{ring, RingConfig};
    /// let (mut producer, mut consumer) = ring(RingConfig::new(256), None);
    /// producer.push(b"kept").unwrap();
    /// producer.flush();
    /// let kept = consumer.peek().unwrap().as_ptr();
    /// let position = consumer.hold_peeked().unwrap();
    /// consumer.advance();
    /// consumer.release();
    /// assert_eq!(producer.released(), position); // not given back
    /// // SAFETY: held, so the producer does not write these 4 bytes.
    /// assert_eq!(unsafe { std::slice::from_raw_parts(kept, 4) }, b"kept");
    /// consumer.set_hold(None);
    /// consumer.release();
    /// assert!(producer.released() > position);
    /// ```
    pub fn hold_peeked(&mut self) -> Option<u64> {
        self.peeked?;
        self.hold = self.hold.min(self.read);
        Some(self.read)
    }

    /// Whether more than `limit` bytes are published past the last message
    /// advanced past (reloading the producer's position): for a consumer
    /// that reads in batches, how far behind it is.
    ///
    /// ```
    /// use rs_ring::{ring, RingConfig};
    /// let (mut producer, mut consumer) = ring(RingConfig::new(1024), None);
    /// producer.push(&[7; 100]).unwrap();
    /// producer.flush();
    /// assert!(consumer.unread_exceeds(50));
    /// assert!(consumer.peek().is_some());
    /// consumer.advance();
    /// assert!(!consumer.unread_exceeds(50));
    /// ```
    pub fn unread_exceeds(&mut self, limit: u64) -> bool {
        self.cached_write = self.shared.write.load(Ordering::Acquire);
        self.cached_write - self.read > limit
    }

    /// Moves the hold to `position` (a position [`hold_peeked`](Self::hold_peeked)
    /// returned, at or after the current hold), or lifts it (`None`). Takes
    /// effect at the next release. Space already released is never taken
    /// back: a position before it holds from where the release stands.
    pub fn set_hold(&mut self, position: Option<u64>) {
        self.hold = position.map_or(u64::MAX, |hold| hold.max(self.released));
    }

    /// Whether no message is published. This is the re-check of the wake-up
    /// protocol: when the cached position says empty, it reloads the
    /// producer's with a read-modify-write (see the `wake` module), which
    /// also makes it the right check for [`Parker::park`](crate::Parker::park).
    pub fn is_empty(&mut self) -> bool {
        if self.read == self.cached_write {
            self.cached_write = self.shared.write.fetch_add(0, Ordering::AcqRel);
        }
        self.read == self.cached_write
    }

    fn segment(&self) -> &Segment {
        // SAFETY: the consumer's segment is freed only by the consumer itself
        // (in `free_released`, once it has moved on from it and released
        // it) or by `Shared::drop`.
        unsafe { self.segment.as_ref() }
    }

    /// Continues in the segment that follows the drained one, which is freed
    /// once released (see [`free_released`](Self::free_released)).
    fn follow_next(&mut self) {
        self.segment = self
            .segment()
            .next()
            .expect("the producer links a segment before publishing GROW");
        self.read = self.segment().base();
    }

    /// Frees the segments the consumer grew out of whose every byte is
    /// released: a segment is done once the release position reaches the
    /// base of the one after it.
    #[cold]
    fn free_released(&mut self) {
        while self.oldest != self.segment {
            // SAFETY: `oldest` is allocated until freed below, by this
            // consumer only (or by `Shared::drop`, once both ends are gone).
            let next = unsafe { self.oldest.as_ref() }
                .next()
                .expect("a segment the consumer left links its successor");
            // SAFETY: as above.
            if self.released < unsafe { next.as_ref() }.base() {
                return;
            }
            let old = std::mem::replace(&mut self.oldest, next);
            self.shared
                .consumer_segment
                .store(next.as_ptr(), Ordering::Relaxed);
            // SAFETY: the producer left `old` for good when it wrote the GROW
            // marker; every message in it was advanced past and released, so
            // no hold points into it (holds are never released), no borrow
            // from `peek` is alive (this runs inside `&mut self`), and
            // `consumer_segment` no longer points at it.
            unsafe { Segment::free(old) };
        }
    }
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("read", &self.read)
            .field("released", &self.released)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Segments allocated on the consumer's side of the chain.
    fn live_segments(consumer: &Consumer) -> usize {
        let mut count = 1;
        let mut segment = consumer.oldest;
        while segment != consumer.segment {
            // SAFETY: every segment from `oldest` on is allocated.
            segment = unsafe { segment.as_ref() }.next().unwrap();
            count += 1;
        }
        count
    }

    #[test]
    fn a_segment_grown_out_of_is_freed_when_released_not_before() {
        let (mut producer, mut consumer) = ring(RingConfig::new(64).max_capacity(1024), None);
        producer.push(&[1; 20]).unwrap();
        producer.flush();
        consumer.peek().unwrap();
        consumer.hold_peeked().unwrap();
        consumer.advance();
        for i in 0..10u8 {
            producer.push(&[i; 20]).unwrap();
        }
        producer.flush();
        while consumer.peek().is_some() {
            consumer.advance();
        }
        assert!(live_segments(&consumer) >= 2, "the held segment stays");
        consumer.set_hold(None);
        consumer.release();
        assert_eq!(live_segments(&consumer), 1);
        assert_eq!(
            consumer.shared.consumer_segment.load(Ordering::Relaxed),
            consumer.segment.as_ptr()
        );
    }

    #[test]
    fn a_shrunk_ring_frees_its_large_segment_once_the_consumer_follows() {
        let (mut producer, mut consumer) = ring(RingConfig::new(64).max_capacity(1024), None);
        for i in 0..20u8 {
            producer.push(&[i; 20]).unwrap();
        }
        producer.flush();
        assert_eq!(producer.capacity(), 512);
        // A held message is not released: no shrink until the hold goes.
        consumer.peek().unwrap();
        consumer.hold_peeked().unwrap();
        while consumer.peek().is_some() {
            consumer.advance();
        }
        assert!(!producer.shrink_if_drained());
        consumer.set_hold(None);
        consumer.release();
        assert!(producer.shrink_if_drained());
        assert!(!producer.shrink_if_drained(), "already at its initial size");
        assert_eq!(consumer.peek(), None);
        assert_eq!(live_segments(&consumer), 1);
        assert_eq!(consumer.segment().capacity(), 64);
        // And it grows again as needed, from where it stands.
        for i in 0..20u8 {
            producer.push(&[i; 20]).unwrap();
        }
        producer.flush();
        for i in 0..20u8 {
            assert_eq!(consumer.peek(), Some(&[i; 20][..]));
            consumer.advance();
        }
        assert_eq!(consumer.peek(), None);
        assert_eq!(live_segments(&consumer), 1);
    }

    #[test]
    fn without_a_hold_a_segment_is_freed_as_soon_as_it_is_drained() {
        let (mut producer, mut consumer) = ring(RingConfig::new(64).max_capacity(1024), None);
        for i in 0..10u8 {
            producer.push(&[i; 20]).unwrap();
        }
        producer.flush();
        while consumer.peek().is_some() {
            consumer.advance();
        }
        assert_eq!(live_segments(&consumer), 1);
    }
}
