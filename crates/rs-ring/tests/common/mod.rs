//! Helpers shared by the ring's test binaries (each uses a part of them).
#![allow(dead_code)]

use rs_ring::Consumer;

/// A small, fast, deterministic generator (xorshift64*).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The next message, copied, with its space released.
pub(crate) fn pop(consumer: &mut Consumer) -> Option<Vec<u8>> {
    let message = consumer.peek()?.to_vec();
    consumer.advance();
    consumer.release();
    Some(message)
}
