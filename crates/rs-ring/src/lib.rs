//! Lock-free single-producer single-consumer rings of variable-length
//! messages, and the wake-ups that let their consumers sleep.
//!
//! `rs-ring` is the data path between RingSocket's worker threads and app
//! threads; it knows nothing of networking or WebSocket and can be used on
//! its own.
//!
//! - [`ring`] creates a [`Producer`] and a [`Consumer`]. Messages are
//!   reserved and written in place ([`Producer::reserve`]), committed, and
//!   published in batches; the consumer borrows each message straight from
//!   the ring ([`Consumer::peek`]) and releases space in batches. A message
//!   never wraps around the end of the buffer.
//! - A full ring never overwrites or loses anything: it grows into a larger
//!   buffer up to [`RingConfig::max_capacity`], then reports
//!   [`PushError::Full`] so the caller can apply back-pressure. Once
//!   drained, a grown ring can go back to its initial size
//!   ([`Producer::shrink_if_drained`]); buffers take memory as they are
//!   written.
//! - [`Parker`] (a futex) and [`Notifier`] (an eventfd for epoll loops) let a
//!   consumer sleep while its rings are empty; the [`Waker`] given to each
//!   producer wakes it after a publication, without a syscall when the
//!   consumer is awake and without ever losing a wake-up.
//!
//! The memory-ordering argument is in the docs of the `ring` and `wake`
//! modules' source; loom models (`RUSTFLAGS="--cfg loom" cargo test -p
//! rs-ring --test loom --release`) check it.
//!
//! # Example
//!
//! ```
//! use rs_ring::{ring, Parker, RingConfig};
//!
//! let parker = Parker::new();
//! let config = RingConfig::new(4096).max_capacity(1 << 20).publish_batch(8);
//! let (mut producer, mut consumer) = ring(config, Some(parker.waker()));
//!
//! let writer = std::thread::spawn(move || {
//!     for i in 0u32..1000 {
//!         let mut message = producer.reserve(4).unwrap();
//!         message.copy_from_slice(&i.to_le_bytes());
//!         message.commit();
//!     }
//!     producer.flush();
//! });
//!
//! let mut expected = 0u32;
//! while expected < 1000 {
//!     match consumer.peek() {
//!         Some(message) => {
//!             assert_eq!(message, expected.to_le_bytes());
//!             expected += 1;
//!             consumer.advance();
//!             consumer.release();
//!         }
//!         None => {
//!             parker.park(None, || !consumer.is_empty());
//!         }
//!     }
//! }
//! writer.join().unwrap();
//! ```

mod futex;
mod ring;
mod segment;
mod sync;
mod wake;

pub use ring::{Consumer, Producer, PushError, Reservation, RingConfig, ring};
#[cfg(not(loom))]
pub use wake::Notifier;
pub use wake::{Parker, Waker, Wakeup};
