//! One buffer of a ring: a power-of-two block of bytes holding records.
//!
//! A record is a 4-byte native-endian length followed by the message and
//! padding to the next multiple of [`RECORD_ALIGN`]. Two length values are
//! markers instead of messages: [`WRAP`] (the rest of the buffer is skipped,
//! continue at offset 0) and [`GROW`] (continue in the next, larger segment).

use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::ptr::{self, NonNull};

use crate::sync::{AtomicPtr, Ordering};

/// Records start at multiples of this, so a marker always fits at the end.
pub(crate) const RECORD_ALIGN: usize = 8;
/// Bytes of the length header in front of each message.
pub(crate) const HEADER_LEN: usize = 4;
/// The marker length value: skip to offset 0.
pub(crate) const WRAP: u32 = u32::MAX;
/// The marker length value: continue in the next segment.
pub(crate) const GROW: u32 = u32::MAX - 1;
/// The longest message: every smaller length value is a message, and its
/// record length (header and padding) is a `usize` on any target.
pub(crate) const MAX_MESSAGE_LEN: usize = {
    let below_markers = GROW as usize - 1;
    let record_fits = usize::MAX - HEADER_LEN - RECORD_ALIGN;
    if below_markers < record_fits {
        below_markers
    } else {
        record_fits
    }
};

/// The bytes a message of `len` bytes takes in a segment, header and padding
/// included.
pub(crate) const fn record_len(len: usize) -> usize {
    (HEADER_LEN + len).next_multiple_of(RECORD_ALIGN)
}

/// The alignment of segment memory from the allocator: a record's. No more,
/// so that `alloc_zeroed` is `calloc` (with a larger alignment std zeroes
/// the block itself, touching every page of it).
const SEGMENT_ALIGN: usize = RECORD_ALIGN;

/// Segments from this size on are mapped from the kernel directly, and
/// unmapped when freed. The allocator would not do that reliably: glibc
/// raises its threshold for mapping a block to the size of the last mapped
/// block freed (up to 32 MiB), so after a ring shrank from 64 MiB, its next
/// growth to 16 MiB came from the heap, zeroed page by page at once, and
/// stayed in the process when freed. Fresh mappings take memory as they
/// are written. Smaller segments come from the allocator (what a ring
/// leaves with it is less than this).
const MAP_MIN: usize = 2 << 20;

pub(crate) struct Segment {
    data: NonNull<u8>,
    capacity: usize,
    /// The ring position that maps to offset 0.
    base: u64,
    /// The segment that follows a [`GROW`] marker. Written by the producer
    /// before it publishes the marker, read by the consumer after.
    next: AtomicPtr<Segment>,
    /// Under loom, one cell per record-aligned slot, touched on every access
    /// to the slot's bytes so that loom checks the accesses are ordered.
    #[cfg(loom)]
    slots: Box<[loom::cell::UnsafeCell<()>]>,
}

impl Segment {
    /// Allocates a zeroed segment of `capacity` bytes (a power of two, at
    /// least `RECORD_ALIGN`) whose offset 0 is ring position `base`. `None`
    /// if the memory is not available.
    pub(crate) fn try_new(capacity: usize, base: u64) -> Option<NonNull<Segment>> {
        debug_assert!(capacity.is_power_of_two() && capacity >= RECORD_ALIGN);
        let data = if capacity >= MAP_MIN {
            map(capacity)?
        } else {
            // SAFETY: the layout has a non-zero size.
            NonNull::new(unsafe { alloc_zeroed(Self::layout(capacity)) })?
        };
        let segment = Box::new(Segment {
            data,
            capacity,
            base,
            next: AtomicPtr::new(ptr::null_mut()),
            #[cfg(loom)]
            slots: (0..capacity / RECORD_ALIGN)
                .map(|_| loom::cell::UnsafeCell::new(()))
                .collect(),
        });
        Some(NonNull::from(Box::leak(segment)))
    }

    /// Like [`Segment::try_new`], aborting as `Vec` does when memory is out.
    pub(crate) fn new(capacity: usize, base: u64) -> NonNull<Segment> {
        Self::try_new(capacity, base).unwrap_or_else(|| Self::out_of_memory(capacity))
    }

    /// Ends the process for want of `capacity` bytes, as `Vec` does.
    pub(crate) fn out_of_memory(capacity: usize) -> ! {
        handle_alloc_error(Self::layout(capacity))
    }

    fn layout(capacity: usize) -> Layout {
        Layout::from_size_align(capacity, SEGMENT_ALIGN)
            .expect("ring capacities are powers of two up to isize::MAX")
    }

    /// Frees a segment made by [`Segment::new`].
    ///
    /// # Safety
    /// `segment` came from `new`/`try_new`, is freed once, and no reference
    /// into it outlives this call.
    pub(crate) unsafe fn free(segment: NonNull<Segment>) {
        // SAFETY: per the contract, the box was leaked by `try_new` and is
        // reclaimed exactly once.
        let segment = unsafe { Box::from_raw(segment.as_ptr()) };
        if segment.capacity >= MAP_MIN {
            // SAFETY: `try_new` mapped `data` with this length, and this
            // is its only release (the contract).
            unsafe { unmap(segment.data, segment.capacity) };
        } else {
            // SAFETY: `try_new` allocated `data` with this layout.
            unsafe { dealloc(segment.data.as_ptr(), Self::layout(segment.capacity)) };
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn base(&self) -> u64 {
        self.base
    }

    /// The offset of ring position `pos`, which must not be below `base`.
    pub(crate) fn offset(&self, pos: u64) -> usize {
        (pos - self.base) as usize & (self.capacity - 1)
    }

    pub(crate) fn next(&self) -> Option<NonNull<Segment>> {
        NonNull::new(self.next.load(Ordering::Relaxed))
    }

    /// Links the segment that follows this one. Published to the consumer by
    /// the release store of the write index that publishes the GROW marker.
    pub(crate) fn set_next(&self, next: NonNull<Segment>) {
        self.next.store(next.as_ptr(), Ordering::Relaxed);
    }

    /// Writes a record's length header.
    ///
    /// # Safety
    /// `offset` is record-aligned and below the capacity, and the caller has
    /// exclusive access to the record there (the producer, for unpublished
    /// space).
    pub(crate) unsafe fn write_header(&self, offset: usize, value: u32) {
        self.touch(offset, HEADER_LEN, true);
        // SAFETY: in bounds and 4-byte aligned (offset and data are
        // 8-aligned); exclusive per the contract.
        unsafe { self.data.as_ptr().add(offset).cast::<u32>().write(value) }
    }

    /// Reads a record's length header.
    ///
    /// # Safety
    /// As for [`Segment::write_header`], with shared access (the consumer,
    /// for published records).
    pub(crate) unsafe fn read_header(&self, offset: usize) -> u32 {
        self.touch(offset, HEADER_LEN, false);
        // SAFETY: in bounds, aligned, and not being written per the contract.
        unsafe { self.data.as_ptr().add(offset).cast::<u32>().read() }
    }

    /// The payload bytes of the record at `offset`.
    ///
    /// # Safety
    /// `offset + HEADER_LEN + len` is within the capacity and the caller has
    /// exclusive access to these bytes for `'a`.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn payload_mut<'a>(&self, offset: usize, len: usize) -> &'a mut [u8] {
        self.touch(offset + HEADER_LEN, len, true);
        // SAFETY: in bounds and exclusive per the contract; the memory was
        // zero-initialised at allocation.
        unsafe { std::slice::from_raw_parts_mut(self.data.as_ptr().add(offset + HEADER_LEN), len) }
    }

    /// The payload bytes of the record at `offset`.
    ///
    /// # Safety
    /// As for [`Segment::payload_mut`], with shared access: nobody writes
    /// these bytes during `'a`.
    pub(crate) unsafe fn payload<'a>(&self, offset: usize, len: usize) -> &'a [u8] {
        self.touch(offset + HEADER_LEN, len, false);
        // SAFETY: in bounds, initialised, and not written during 'a per the contract.
        unsafe { std::slice::from_raw_parts(self.data.as_ptr().add(offset + HEADER_LEN), len) }
    }

    #[cfg(loom)]
    fn touch(&self, offset: usize, len: usize, write: bool) {
        let first = offset / RECORD_ALIGN;
        let last = (offset + len.max(1)).div_ceil(RECORD_ALIGN);
        for slot in &self.slots[first..last] {
            if write {
                slot.with_mut(|_| ());
            } else {
                slot.with(|_| ());
            }
        }
    }

    #[cfg(not(loom))]
    #[inline(always)]
    fn touch(&self, _offset: usize, _len: usize, _write: bool) {}
}

/// A fresh anonymous mapping of `len` bytes: zero pages until written.
/// `None` if the kernel refuses it (out of memory or address space).
fn map(len: usize) -> Option<NonNull<u8>> {
    // SAFETY: a new private anonymous mapping at an address the kernel
    // chooses: no existing memory is affected, and the result is checked.
    let addr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return None;
    }
    NonNull::new(addr.cast())
}

/// Releases a mapping made by [`map`].
///
/// # Safety
/// `data` and `len` are a mapping `map` returned, released once, with no
/// reference into it left.
unsafe fn unmap(data: NonNull<u8>, len: usize) {
    // SAFETY: per the contract. It fails only for arguments that are not a
    // mapping, which the contract rules out.
    unsafe { libc::munmap(data.as_ptr().cast(), len) };
}
