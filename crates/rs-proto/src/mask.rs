//! Payload masking (RFC 6455 §5.3), a block at a time.
//!
//! Whole blocks let the compiler use vector registers: SSE2 (16 bytes) on
//! every x86-64, and AVX2 (32 bytes) where the CPU has it, chosen at run
//! time for payloads long enough to pay for the check.

/// Bytes XORed per loop step.
const BLOCK: usize = 64;
/// Bytes XORed per loop step while copying (eight AVX2 registers): the
/// payloads copied are long ones, over which the loop's own instructions
/// are best spread thin.
const COPY_BLOCK: usize = 256;
/// From this length on, AVX2 is used when available.
#[cfg(target_arch = "x86_64")]
const AVX2_FROM: usize = 256;
/// Bytes XORed per step of what is left after the blocks: one 64-bit register.
const WORD: usize = 8;

/// XORs `payload` with the repeating four-byte masking `key`, starting at key
/// byte 0. Masking and unmasking are the same operation.
///
/// To mask a payload that arrives in pieces, rotate the key left by the
/// number of bytes already processed (mod 4) before each piece, as
/// [`rotate_key`] does.
///
/// ```
/// use rs_proto::apply_mask;
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut payload = *b"Hello";
/// apply_mask(&mut payload, key);
/// assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]); // RFC 6455 §5.7
/// apply_mask(&mut payload, key);
/// assert_eq!(&payload, b"Hello");
/// ```
pub fn apply_mask(payload: &mut [u8], key: [u8; 4]) {
    if payload.len() < BLOCK {
        mask_short(payload, key);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if payload.len() >= AVX2_FROM && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, just checked, which is all that
        // calling a function compiled for it requires.
        unsafe { apply_mask_avx2(payload, key) };
        return;
    }
    mask_words(payload, key);
}

/// Copies `src` into `dst` XORed with the masking `key` (starting at key
/// byte 0): unmasking and copying in one pass over the bytes, for a payload
/// that is moved anyway.
///
/// # Panics
///
/// If the two lengths differ.
///
/// ```
/// use rs_proto::mask_into;
/// let masked = [0x7f, 0x9f, 0x4d, 0x51, 0x58]; // RFC 6455 §5.7
/// let mut plain = [0; 5];
/// mask_into(&mut plain, &masked, [0x37, 0xfa, 0x21, 0x3d]);
/// assert_eq!(&plain, b"Hello");
/// ```
pub fn mask_into(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len(), "mask_into: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if src.len() >= AVX2_FROM && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, just checked, which is all that
        // calling a function compiled for it requires.
        unsafe { mask_into_avx2(dst, src, key) };
        return;
    }
    mask_copy_words(dst, src, key);
}

/// [`mask_copy_words`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn mask_into_avx2(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    mask_copy_words(dst, src, key);
}

/// The copying twin of [`mask_words`]; `dst` and `src` have one length.
#[inline(always)]
fn mask_copy_words(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    let key32 = u32::from_ne_bytes(key);
    let key64 = u64::from(key32) | (u64::from(key32) << 32);
    let (dst_blocks, dst_tail) = dst.as_chunks_mut::<COPY_BLOCK>();
    let (src_blocks, src_tail) = src.as_chunks::<COPY_BLOCK>();
    for (d, s) in dst_blocks.iter_mut().zip(src_blocks) {
        for (dw, sw) in d
            .as_chunks_mut::<WORD>()
            .0
            .iter_mut()
            .zip(s.as_chunks::<WORD>().0)
        {
            *dw = (u64::from_ne_bytes(*sw) ^ key64).to_ne_bytes();
        }
    }
    let (dst_words, dst_tail) = dst_tail.as_chunks_mut::<WORD>();
    let (src_words, src_tail) = src_tail.as_chunks::<WORD>();
    for (dw, sw) in dst_words.iter_mut().zip(src_words) {
        *dw = (u64::from_ne_bytes(*sw) ^ key64).to_ne_bytes();
    }
    for ((d, s), k) in dst_tail
        .iter_mut()
        .zip(src_tail)
        .zip(key.into_iter().cycle())
    {
        *d = s ^ k;
    }
}

/// [`mask_words`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn apply_mask_avx2(payload: &mut [u8], key: [u8; 4]) {
    mask_words(payload, key);
}

/// Masking for payloads shorter than a block (most chat-sized messages):
/// plain word steps, without the block loop's setup. Inlined into the
/// decoder's short-frame path, where a call's register saves would cost
/// about as much as the masking of a 20-byte payload.
#[inline(always)]
pub(crate) fn mask_short(payload: &mut [u8], key: [u8; 4]) {
    let key32 = u32::from_ne_bytes(key);
    let key64 = u64::from(key32) | (u64::from(key32) << 32);
    let (words, tail) = payload.as_chunks_mut::<WORD>();
    for word in words {
        *word = (u64::from_ne_bytes(*word) ^ key64).to_ne_bytes();
    }
    mask_tail(tail, key);
}

/// Masks the last 0-7 bytes of a payload, after a multiple of 8 bytes
/// (so they start at key byte 0).
#[inline(always)]
fn mask_tail(tail: &mut [u8], key: [u8; 4]) {
    let (quads, tail) = tail.as_chunks_mut::<4>();
    for quad in quads {
        *quad = (u32::from_ne_bytes(*quad) ^ u32::from_ne_bytes(key)).to_ne_bytes();
    }
    for (byte, k) in tail.iter_mut().zip(key) {
        *byte ^= k;
    }
}

/// The masking loop, written in whole words so that it vectorises for the
/// target it is compiled for.
#[inline(always)]
fn mask_words(payload: &mut [u8], key: [u8; 4]) {
    // The key repeated over a register: byte i of the payload meets key
    // byte i % 4 at every 4-byte-aligned offset, whatever the endianness.
    let key32 = u32::from_ne_bytes(key);
    let key64 = u64::from(key32) | (u64::from(key32) << 32);
    let (blocks, tail) = payload.as_chunks_mut::<BLOCK>();
    for block in blocks {
        for word in block.as_chunks_mut::<WORD>().0 {
            *word = (u64::from_ne_bytes(*word) ^ key64).to_ne_bytes();
        }
    }
    mask_short(tail, key);
}

/// The key to continue masking with after `processed` bytes were masked with
/// `key`.
///
/// ```
/// use rs_proto::{apply_mask, rotate_key};
/// let key = [1, 2, 3, 4];
/// let mut whole = [9u8; 11];
/// apply_mask(&mut whole, key);
/// let mut pieces = [9u8; 11];
/// apply_mask(&mut pieces[..5], key);
/// apply_mask(&mut pieces[5..], rotate_key(key, 5));
/// assert_eq!(whole, pieces);
/// ```
pub const fn rotate_key(key: [u8; 4], processed: u64) -> [u8; 4] {
    let word = u32::from_be_bytes(key).rotate_left(8 * (processed % 4) as u32);
    word.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_bytewise(payload: &mut [u8], key: [u8; 4]) {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= key[i % 4];
        }
    }

    #[test]
    fn block_masking_equals_bytewise_masking_at_every_length() {
        let key = [0xa1, 0x02, 0xf3, 0x44];
        // Past AVX2_FROM too, where the vector path takes over.
        for len in (0..200).chain([255, 256, 257, 319, 320, 1000, 4099]) {
            let original: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut fast = original.clone();
            let mut slow = original.clone();
            apply_mask(&mut fast, key);
            mask_bytewise(&mut slow, key);
            assert_eq!(fast, slow, "length {len}");
        }
    }

    #[test]
    fn masking_into_a_copy_equals_masking_in_place_at_every_length() {
        let key = [0x5c, 0xe0, 0x13, 0x9b];
        for len in (0..200).chain([255, 256, 257, 319, 320, 1000, 4099, 16384]) {
            let original: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
            let mut in_place = original.clone();
            apply_mask(&mut in_place, key);
            let mut copy = vec![0xaa; len];
            mask_into(&mut copy, &original, key);
            assert_eq!(copy, in_place, "length {len}");
        }
    }

    #[test]
    #[should_panic(expected = "lengths differ")]
    fn masking_into_a_buffer_of_another_length_panics() {
        mask_into(&mut [0; 3], &[0; 4], [1, 2, 3, 4]);
    }

    #[test]
    fn masking_in_pieces_with_rotated_keys_equals_masking_at_once() {
        let key = [0x10, 0x20, 0x30, 0x40];
        let original: Vec<u8> = (0..100u8).collect();
        let mut whole = original.clone();
        apply_mask(&mut whole, key);
        for split in 0..original.len() {
            let mut pieces = original.clone();
            let (a, b) = pieces.split_at_mut(split);
            apply_mask(a, key);
            apply_mask(b, rotate_key(key, split as u64));
            assert_eq!(pieces, whole, "split at {split}");
        }
    }

    #[test]
    fn rotating_by_a_multiple_of_four_is_identity() {
        let key = [1, 2, 3, 4];
        assert_eq!(rotate_key(key, 0), key);
        assert_eq!(rotate_key(key, 4), key);
        assert_eq!(rotate_key(key, 1), [2, 3, 4, 1]);
        assert_eq!(rotate_key(key, u64::MAX), [4, 1, 2, 3]);
    }
}
