//! [`ClientId`]: which worker, connection slot and generation a message
//! is about, packed into a `u64` (layout in the [module docs](super)).

use std::fmt;
use std::num::NonZeroU64;

const SLOT_BITS: u32 = 22;
const GENERATION_BITS: u32 = 32;
const SLOT_SHIFT: u32 = GENERATION_BITS;
const WORKER_SHIFT: u32 = GENERATION_BITS + SLOT_BITS;

/// Worker indexes a [`ClientId`] can hold: `0..MAX_WORKERS`.
pub const MAX_WORKERS: u16 = 1 << (64 - WORKER_SHIFT);
/// Connection slots per worker a [`ClientId`] can hold: `0..MAX_SLOTS`.
pub const MAX_SLOTS: u32 = 1 << SLOT_BITS;
/// The largest generation; generations run `1..=MAX_GENERATION`.
pub const MAX_GENERATION: u32 = ((1u64 << GENERATION_BITS) - 1) as u32;

/// A client, as apps see it: worker, connection slot and generation packed
/// into a `u64` that is never 0 (see the [module docs](super)).
///
/// `repr(transparent)`: a `&[ClientId]` is a valid `u64` array, which is how
/// the SDK passes recipient lists through the C ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct ClientId(NonZeroU64);

impl ClientId {
    /// Packs an id, or `None` if `worker >= MAX_WORKERS`, `slot >= MAX_SLOTS`,
    /// or `generation` is 0.
    ///
    /// ```
    /// use rs_app::wire::ClientId;
    /// let id = ClientId::new(3, 1000, 7).unwrap();
    /// assert_eq!((id.worker(), id.slot(), id.generation()), (3, 1000, 7));
    /// assert_eq!(ClientId::new(3, 1000, 0), None);
    /// ```
    pub const fn new(worker: u16, slot: u32, generation: u32) -> Option<ClientId> {
        // Every nonzero u32 is a generation (MAX_GENERATION is u32::MAX).
        if worker >= MAX_WORKERS || slot >= MAX_SLOTS || generation == 0 {
            return None;
        }
        let raw = (worker as u64) << WORKER_SHIFT | (slot as u64) << SLOT_SHIFT | generation as u64;
        ClientId::from_u64(raw)
    }

    /// The id whose number is `raw`, or `None` if its generation bits are 0
    /// (which includes `raw == 0`): no client ever has such an id.
    pub const fn from_u64(raw: u64) -> Option<ClientId> {
        if raw & MAX_GENERATION as u64 == 0 {
            return None;
        }
        match NonZeroU64::new(raw) {
            Some(raw) => Some(ClientId(raw)),
            None => None,
        }
    }

    /// The number apps see (`rs_get_client_id`).
    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// The index of the worker thread that holds the connection.
    pub const fn worker(self) -> u16 {
        (self.get() >> WORKER_SHIFT) as u16
    }

    /// The connection slot within that worker.
    pub const fn slot(self) -> u32 {
        ((self.get() >> SLOT_SHIFT) & (MAX_SLOTS as u64 - 1)) as u32
    }

    /// The slot's generation when this client got it: 1..=[`MAX_GENERATION`].
    pub const fn generation(self) -> u32 {
        (self.get() & MAX_GENERATION as u64) as u32
    }

    /// The generation that follows `generation`: one more, wrapping from
    /// [`MAX_GENERATION`] to 1 so that it is never 0. Any input gives a
    /// valid generation.
    ///
    /// ```
    /// use rs_app::wire::{ClientId, MAX_GENERATION};
    /// assert_eq!(ClientId::next_generation(1), 2);
    /// assert_eq!(ClientId::next_generation(MAX_GENERATION), 1);
    /// ```
    pub const fn next_generation(generation: u32) -> u32 {
        match generation.wrapping_add(1) {
            0 => 1,
            next => next,
        }
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

impl From<ClientId> for u64 {
    fn from(id: ClientId) -> u64 {
        id.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::id;
    use proptest::prelude::*;

    #[test]
    fn client_id_smallest_is_one() {
        let id = id(0, 0, 1);
        assert_eq!(id.get(), 1);
        assert_eq!((id.worker(), id.slot(), id.generation()), (0, 0, 1));
    }

    #[test]
    fn client_id_largest_is_all_ones() {
        let id = id(MAX_WORKERS - 1, MAX_SLOTS - 1, MAX_GENERATION);
        assert_eq!(id.get(), u64::MAX);
        assert_eq!(id.worker(), 1023);
        assert_eq!(id.slot(), 0x003F_FFFF);
        assert_eq!(id.generation(), 0xFFFF_FFFF);
    }

    #[test]
    fn client_id_fields_sit_at_their_bits() {
        assert_eq!(id(1, 0, 1).get(), 1 << 54 | 1);
        assert_eq!(id(0, 1, 1).get(), 1 << 32 | 1);
        assert_eq!(
            id(0x02AB, 0x0012_3456, 0x89AB_CDEF).get(),
            0xAAD2_3456_89AB_CDEF
        );
    }

    #[test]
    fn client_id_constants() {
        assert_eq!(MAX_WORKERS, 1024);
        assert_eq!(MAX_SLOTS, 1 << 22);
        assert_eq!(MAX_GENERATION, u32::MAX);
    }

    #[test]
    fn client_id_new_refuses_out_of_range() {
        assert_eq!(ClientId::new(MAX_WORKERS, 0, 1), None);
        assert_eq!(ClientId::new(0, MAX_SLOTS, 1), None);
        assert_eq!(ClientId::new(0, 0, 0), None);
    }

    #[test]
    fn client_id_from_u64_refuses_zero_generation() {
        assert_eq!(ClientId::from_u64(0), None);
        assert_eq!(ClientId::from_u64(1 << 32), None);
        assert_eq!(ClientId::from_u64(u64::MAX << 32), None);
    }

    #[test]
    fn client_id_from_u64_round_trips() {
        let id = ClientId::from_u64(0xAAD2_3456_89AB_CDEF).expect("valid");
        assert_eq!(id, self::id(0x02AB, 0x0012_3456, 0x89AB_CDEF));
        assert_eq!(u64::from(id), 0xAAD2_3456_89AB_CDEF);
    }

    #[test]
    fn client_id_displays_the_number() {
        assert_eq!(id(0, 1, 5).to_string(), "4294967301");
        assert_eq!(
            id(MAX_WORKERS - 1, MAX_SLOTS - 1, MAX_GENERATION).to_string(),
            u64::MAX.to_string()
        );
    }

    #[test]
    fn next_generation_increments() {
        assert_eq!(ClientId::next_generation(1), 2);
        assert_eq!(
            ClientId::next_generation(MAX_GENERATION - 1),
            MAX_GENERATION
        );
    }

    #[test]
    fn next_generation_wraps_to_one() {
        assert_eq!(ClientId::next_generation(MAX_GENERATION), 1);
    }

    #[test]
    fn next_generation_of_invalid_input_is_valid() {
        assert_eq!(ClientId::next_generation(0), 1);
        assert_eq!(ClientId::next_generation(u32::MAX), 1);
    }

    proptest! {
        #[test]
        fn client_id_packs_and_unpacks(w in 0..MAX_WORKERS, s in 0..MAX_SLOTS, g in 1..=MAX_GENERATION) {
            let id = id(w, s, g);
            prop_assert_eq!((id.worker(), id.slot(), id.generation()), (w, s, g));
            prop_assert_eq!(ClientId::from_u64(id.get()), Some(id));
        }

        #[test]
        fn next_generation_is_never_zero_and_in_range(g in any::<u32>()) {
            let next = ClientId::next_generation(g);
            prop_assert!((1..=MAX_GENERATION).contains(&next));
        }
    }
}
