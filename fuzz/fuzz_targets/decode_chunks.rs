//! The frame decoder on arbitrary bytes: it never panics, chunking never
//! changes what it reports, lending whole messages masked (as the server
//! does) never changes it either, and no allocation exceeds what the size
//! limits allow.

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rs_proto::{Decoder, Event, Limits, ProtocolError};

/// Records the largest single allocation made while the decoder runs (and
/// only then: this target's own bookkeeping does not count), to bound the
/// decoder's buffers.
struct Tracking;

static LARGEST: AtomicUsize = AtomicUsize::new(0);
static TRACKING: AtomicBool = AtomicBool::new(false);

fn record(size: usize) {
    if TRACKING.load(Ordering::Relaxed) {
        LARGEST.fetch_max(size, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

#[derive(Arbitrary, Debug)]
struct Input {
    max_message_size: u16,
    chain_extra: u16,
    chunks: Vec<u8>,
    bytes: Vec<u8>,
}

#[derive(Debug, PartialEq)]
enum Owned {
    Message(bool, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

fn decode(
    decoder: Decoder,
    bytes: &[u8],
    chunks: &[u8],
) -> (Vec<Owned>, Option<ProtocolError>) {
    let mut decoder = decoder;
    let decoder_limit = decoder.limits().max_message_size;
    let mut input = bytes.to_vec();
    let mut events = Vec::new();
    let mut start = 0;
    let mut sizes = chunks.iter().map(|&c| usize::from(c).max(1)).chain(std::iter::repeat(usize::MAX));
    while start < input.len() {
        let end = start.saturating_add(sizes.next().unwrap_or(usize::MAX)).min(input.len());
        let mut pos = start;
        while pos < end {
            TRACKING.store(true, Ordering::Relaxed);
            let decoded = decoder.decode(&mut input[pos..end]);
            TRACKING.store(false, Ordering::Relaxed);
            match decoded {
                Ok(decoded) => {
                    assert!(decoded.consumed > 0, "no progress");
                    assert!(
                        decoded.partial_len as u64 <= decoder_limit,
                        "holds more than a message may have"
                    );
                    pos += decoded.consumed;
                    let event = decoded.event.map(|event| {
                        Ok(match event {
                            Event::Message { kind, payload } => {
                                Owned::Message(kind == rs_proto::DataKind::Text, payload.to_vec())
                            }
                            Event::MaskedMessage(masked) => Owned::Message(
                                masked.kind() == rs_proto::DataKind::Text,
                                masked.to_vec()?,
                            ),
                            Event::Ping(p) => Owned::Ping(p.to_vec()),
                            Event::Pong(p) => Owned::Pong(p.to_vec()),
                            Event::Close(c) => {
                                Owned::Close(c.map(|c| (c.code.get(), c.reason.to_owned())))
                            }
                        })
                    });
                    match event.transpose() {
                        Ok(event) => events.extend(event),
                        Err(error) => return (events, Some(error)),
                    }
                }
                Err(error) => return (events, Some(error)),
            }
        }
        start = end;
    }
    (events, None)
}

fuzz_target!(|input: Input| {
    let max_message_size = u64::from(input.max_message_size);
    let limits = Limits {
        max_message_size,
        max_frame_chain_size: max_message_size + u64::from(input.chain_extra),
    };
    LARGEST.store(0, Ordering::Relaxed);
    let whole = decode(Decoder::new(limits), &input.bytes, &[]);
    // What the decoder may hold: one message, twice while its Vec grows.
    let bound = 2 * max_message_size as usize + 64;
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest <= bound, "an allocation of {largest} bytes exceeds {bound}");
    let decoder = Decoder::new(limits);
    let lending = decoder.clone().lending_masked();
    assert_eq!(decode(decoder.clone(), &input.bytes, &input.chunks), whole, "chunking changed the outcome");
    assert_eq!(decode(decoder, &input.bytes, &[1]), whole, "byte by byte changed the outcome");
    assert_eq!(decode(lending.clone(), &input.bytes, &[]), whole, "lending masked changed the outcome");
    assert_eq!(
        decode(lending, &input.bytes, &input.chunks),
        whole,
        "lending masked in chunks changed the outcome"
    );
});
