//! A small, fast pseudo-random generator (xorshift64*) for handshake keys and
//! masking keys. Not cryptographic: a load generator needs variety, not
//! secrecy.

/// An xorshift64* generator.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value; 0 is remapped).
    pub(crate) fn new(seed: u64) -> Self {
        // SplitMix64's finaliser spreads nearby seeds (thread numbers) apart.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Self(if z == 0 { 1 } else { z })
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A masking key.
    pub(crate) fn mask_key(&mut self) -> [u8; 4] {
        (self.next_u64() as u32).to_le_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_seeds_give_different_streams() {
        let (mut a, mut b) = (Rng::new(0), Rng::new(1));
        let a: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let b: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_ne!(a, b);
        assert!(a.iter().all(|&x| x != 0));
    }
}
