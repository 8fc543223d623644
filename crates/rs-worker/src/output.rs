//! A connection's pending output: what the socket did not take yet.
//!
//! A frame for one client is written straight from where it lies (the
//! app's ring, or a small buffer) when nothing is queued; only the part the
//! socket refuses is kept, in a reference-counted copy. Queued whole, in one
//! such copy that all its recipients share: a frame for many clients, a
//! frame in two parts (a header in the ring and an echoed payload lent
//! from the app's inbound ring, written with one vectored write), and a
//! client's second and later frame of a worker's delivery pass (an app
//! sending it several at once). Each recipient's queue goes out in one
//! vectored write. So a frame costs one copy at most, however many clients
//! get it or are slow, and the ring space is freed at once.
//!
//! The copies a worker holds are counted ([`Held`]), each once however many
//! clients it waits for, so that the worker can bound them together.
//! Both counts, per connection and per worker, add [`FRAME_OVERHEAD`] to
//! each frame's length: a client flooding itself with tiny echoes it does
//! not read would otherwise hold some thirty times the limits.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a queued frame costs beyond its bytes, counted with them: its queue
/// entry (16 bytes, up to twice that while the queue grows), its shared
/// copy's header (40) and the allocator's (8 to 24 per allocation, and
/// rounding). Measured: a million queued 3-byte frames took 96 bytes each.
/// The configuration's rules count it too.
pub(crate) const FRAME_OVERHEAD: usize = rs_conf::defaults::QUEUED_FRAME_COST;

/// The bytes of the frame copies one worker's connections hold: each copy
/// counted once, from when it is made until its last recipient has written
/// or dropped it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Held(Arc<AtomicUsize>);

impl Held {
    /// The bytes held now.
    #[inline(always)]
    pub(crate) fn bytes(&self) -> usize {
        // Relaxed: one thread counts and reads; atomic only for `Send`.
        self.0.load(Ordering::Relaxed)
    }
}

/// A frame's copy, shared by the clients it waits for, counted in [`Held`]
/// while it lives.
struct SharedFrame {
    bytes: Box<[u8]>,
    held: Held,
}

impl SharedFrame {
    fn new(bytes: Box<[u8]>, held: &Held) -> Self {
        held.0
            .fetch_add(bytes.len() + FRAME_OVERHEAD, Ordering::Relaxed);
        Self {
            bytes,
            held: held.clone(),
        }
    }
}

impl Drop for SharedFrame {
    fn drop(&mut self) {
        self.held
            .0
            .fetch_sub(self.bytes.len() + FRAME_OVERHEAD, Ordering::Relaxed);
    }
}

/// Queued frames written by one vectored write, at most.
const IOV_BATCH: usize = 64;
/// The most queue entries (16 bytes each) a connection keeps room for once
/// its queue is empty: a queue that grew past it (hundreds of thousands of
/// small frames for a client that fell behind) gives its buffer back, which
/// neither `max_pending_output` nor its total counts.
const KEPT_QUEUE: usize = 64;

/// A frame being sent (to one client or several): its bytes, in one part
/// or two, and the shared copy made the first time a client could not take
/// it all.
pub(crate) struct Frame<'a> {
    bytes: &'a [u8],
    /// The rest of the frame, if it lies apart from `bytes` (a lent payload).
    body: &'a [u8],
    shared: Option<Arc<SharedFrame>>,
}

impl<'a> Frame<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self::in_parts(bytes, &[])
    }

    /// A frame whose `head` and `body` lie apart.
    pub(crate) fn in_parts(head: &'a [u8], body: &'a [u8]) -> Self {
        Self {
            bytes: head,
            body,
            shared: None,
        }
    }

    /// The frame's bytes, in one piece (copied if it is in two).
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        [self.bytes, self.body].concat()
    }

    fn len(&self) -> usize {
        self.bytes.len() + self.body.len()
    }

    fn shared(&mut self, held: &Held) -> Arc<SharedFrame> {
        self.shared
            .get_or_insert_with(|| {
                let bytes = if self.body.is_empty() {
                    Box::from(self.bytes)
                } else {
                    [self.bytes, self.body].concat().into_boxed_slice()
                };
                Arc::new(SharedFrame::new(bytes, held))
            })
            .clone()
    }
}

/// Queued output: frames (shared) and how far each was written.
#[derive(Default)]
pub(crate) struct Output {
    queue: VecDeque<(Arc<SharedFrame>, usize)>,
    /// The bytes of the queued frames not written yet.
    bytes: usize,
}

impl Output {
    /// Bytes accepted but not yet written to the socket, with
    /// [`FRAME_OVERHEAD`] for each frame they are in.
    pub(crate) fn pending(&self) -> usize {
        self.bytes + self.queue.len() * FRAME_OVERHEAD
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Writes `frame` behind what is queued: straight to the socket if
    /// nothing is, queuing whatever the socket does not take (a copy
    /// counted in `held`).
    pub(crate) fn send(
        &mut self,
        socket: &mut impl Write,
        frame: &mut Frame<'_>,
        held: &Held,
    ) -> io::Result<()> {
        let mut written = 0;
        if self.queue.is_empty() {
            written = if frame.body.is_empty() {
                write_some(socket, frame.bytes)?
            } else {
                write_some_parts(socket, frame.bytes, frame.body)?
            };
            if written == frame.len() {
                return Ok(());
            }
        }
        self.bytes += frame.len() - written;
        self.queue.push_back((frame.shared(held), written));
        Ok(())
    }

    /// Queues `frame` without writing: a broadcast queues its frames for
    /// every recipient, then [`flush`](Self::flush)es each recipient once,
    /// so a client that gets many frames in a batch costs one system call,
    /// not one per frame.
    pub(crate) fn queue(&mut self, frame: &mut Frame<'_>, held: &Held) {
        self.bytes += frame.len();
        self.queue.push_back((frame.shared(held), 0));
    }

    /// Writes queued output until the socket would block or all is written,
    /// up to [`IOV_BATCH`] frames per (vectored) write.
    pub(crate) fn flush(&mut self, socket: &mut impl Write) -> io::Result<()> {
        while !self.queue.is_empty() {
            let mut slices = [IoSlice::new(&[]); IOV_BATCH];
            let mut count = 0;
            for ((bytes, offset), slice) in self.queue.iter().zip(&mut slices) {
                *slice = IoSlice::new(&bytes.bytes[*offset..]);
                count += 1;
            }
            let mut n = match socket.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.bytes -= n;
            while let Some((bytes, offset)) = self.queue.front_mut() {
                let left = bytes.bytes.len() - *offset;
                if n < left {
                    *offset += n;
                    break;
                }
                n -= left;
                self.queue.pop_front();
            }
        }
        self.release_room();
        Ok(())
    }

    /// Gives back a large buffer once the queue is empty (see [`KEPT_QUEUE`]).
    fn release_room(&mut self) {
        if self.queue.is_empty() && self.queue.capacity() > KEPT_QUEUE {
            self.queue = VecDeque::new();
        }
    }

    /// Drops every queued frame that has not started going out. A frame
    /// already partly written stays, so the stream stays well-formed.
    pub(crate) fn drop_unstarted(&mut self) {
        self.drop_unstarted_in(self.queue.len());
    }

    /// Like [`drop_unstarted`](Self::drop_unstarted), but control frames
    /// stay too: a closing connection's own close frame, and the pongs
    /// queued behind it for what the client sends until its close comes.
    /// (Each queued entry starts with a frame header, whose opcode's high
    /// bit marks a control frame: pongs and a close queued together start
    /// with one. An HTTP response's 'H' has that bit too: never dropped.)
    pub(crate) fn drop_unstarted_data(&mut self) {
        let started = self.queue.front().is_some_and(|(_, offset)| *offset > 0);
        let (mut index, mut dropped) = (0, 0);
        self.queue.retain(|(bytes, offset)| {
            let control = bytes.bytes.first().is_some_and(|b| b & 0x08 != 0);
            let keep = (index == 0 && started) || control;
            index += 1;
            if !keep {
                dropped += bytes.bytes.len() - offset;
            }
            keep
        });
        self.bytes -= dropped;
        self.release_room();
    }

    /// Drops the frames that have not started going out among the first
    /// `end` queued.
    fn drop_unstarted_in(&mut self, end: usize) {
        let start = usize::from(self.queue.front().is_some_and(|(_, offset)| *offset > 0));
        for (bytes, offset) in self.queue.drain(start..end.max(start)) {
            self.bytes -= bytes.bytes.len() - offset;
        }
        self.release_room();
    }
}

/// Writes as much as the socket takes now; 0 when it would block.
fn write_some(socket: &mut impl Write, mut bytes: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while !bytes.is_empty() {
        match socket.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                written += n;
                bytes = &bytes[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// [`write_some`] for a frame in two parts, with vectored writes.
fn write_some_parts(socket: &mut impl Write, head: &[u8], body: &[u8]) -> io::Result<usize> {
    let total = head.len() + body.len();
    let mut written = 0;
    while written < total {
        let slices = if written < head.len() {
            [IoSlice::new(&head[written..]), IoSlice::new(body)]
        } else {
            [
                IoSlice::new(&body[written - head.len()..]),
                IoSlice::new(&[]),
            ]
        };
        match socket.write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes at most `room` more bytes.
    #[derive(Default)]
    struct Socket {
        room: usize,
        written: Vec<u8>,
        /// Vectored writes made.
        writes: usize,
    }

    impl Write for Socket {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = bytes.len().min(self.room);
            self.room -= n;
            self.written.extend_from_slice(&bytes[..n]);
            Ok(n)
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.writes += 1;
            let mut total = 0;
            for buf in bufs {
                match self.write(buf) {
                    Ok(n) => total += n,
                    Err(e) if total == 0 => return Err(e),
                    Err(_) => break,
                }
                if total < buf.len() {
                    break;
                }
            }
            Ok(total)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_queue_that_grew_long_gives_its_room_back_once_written() {
        let held = Held::default();
        let mut socket = Socket::default();
        let mut output = Output::default();
        for _ in 0..100_000 {
            output.queue(&mut Frame::new(b"tiny"), &held);
        }
        assert!(output.queue.capacity() >= 100_000);
        socket.room = usize::MAX;
        output.flush(&mut socket).unwrap();
        assert_eq!(socket.written.len(), 400_000);
        assert!(output.is_empty());
        assert_eq!(output.queue.capacity(), 0, "1.6 MB kept for nothing");
        // A short queue keeps its room: no allocation per burst.
        for _ in 0..10 {
            output.queue(&mut Frame::new(b"tiny"), &held);
        }
        let room = output.queue.capacity();
        output.flush(&mut socket).unwrap();
        assert_eq!(output.queue.capacity(), room);
        // Dropped frames too.
        for _ in 0..1000 {
            output.queue(&mut Frame::new(b"tiny"), &held);
        }
        output.drop_unstarted();
        assert_eq!(output.queue.capacity(), 0);
    }

    #[test]
    fn a_frame_the_socket_takes_is_never_copied() {
        let held = Held::default();
        let mut socket = Socket {
            room: 100,
            ..Socket::default()
        };
        let mut output = Output::default();
        let mut frame = Frame::new(b"hello");
        output.send(&mut socket, &mut frame, &held).unwrap();
        assert!(output.is_empty());
        assert!(frame.shared.is_none());
        assert_eq!(socket.written, b"hello");
    }

    #[test]
    fn the_rest_is_queued_once_for_all_recipients_and_flushed_in_order() {
        let held = Held::default();
        let mut slow = [
            Socket {
                room: 2,
                ..Socket::default()
            },
            Socket {
                room: 0,
                ..Socket::default()
            },
        ];
        let mut outputs = [Output::default(), Output::default()];
        let mut frame = Frame::new(b"hello");
        for (socket, output) in slow.iter_mut().zip(&mut outputs) {
            output.send(socket, &mut frame, &held).unwrap();
        }
        let shared = frame.shared.clone().unwrap();
        // One copy, held by the frame, both queues and this test.
        assert_eq!(Arc::strong_count(&shared), 4);
        assert_eq!(
            (outputs[0].pending(), outputs[1].pending()),
            (3 + FRAME_OVERHEAD, 5 + FRAME_OVERHEAD)
        );
        // Later frames queue behind, even if the socket has room again.
        slow[1].room = 100;
        outputs[1]
            .send(&mut slow[1], &mut Frame::new(b" world"), &held)
            .unwrap();
        assert!(slow[1].written.is_empty());
        outputs[1].flush(&mut slow[1]).unwrap();
        assert_eq!(slow[1].written, b"hello world");
        assert!(outputs[1].is_empty());
        assert_eq!(outputs[1].pending(), 0);
    }

    #[test]
    fn each_copy_is_held_once_until_its_last_recipient_lets_it_go() {
        let held = Held::default();
        let mut slow = [Socket::default(), Socket::default()];
        let mut outputs = [Output::default(), Output::default()];
        let mut frame = Frame::new(b"hello");
        for (socket, output) in slow.iter_mut().zip(&mut outputs) {
            output.send(socket, &mut frame, &held).unwrap();
        }
        drop(frame);
        assert_eq!(held.bytes(), 5 + FRAME_OVERHEAD, "one copy for both");
        outputs[0].queue(&mut Frame::new(b"abc"), &held);
        assert_eq!(held.bytes(), 8 + 2 * FRAME_OVERHEAD);
        slow[0].room = 100;
        outputs[0].flush(&mut slow[0]).unwrap();
        assert_eq!(
            held.bytes(),
            5 + FRAME_OVERHEAD,
            "written by one, still owed to the other"
        );
        outputs[1].drop_unstarted();
        assert_eq!(held.bytes(), 0);
        outputs[1].queue(&mut Frame::new(b"xyz"), &held);
        assert_eq!(held.bytes(), 3 + FRAME_OVERHEAD);
        drop(outputs);
        assert_eq!(held.bytes(), 0, "a connection dropped lets its copies go");
    }

    #[test]
    fn queued_frames_go_out_in_one_vectored_write_and_a_partial_one_resumes() {
        let held = Held::default();
        let mut output = Output::default();
        for frame in [&b"ab"[..], b"cde", b"f"] {
            output.queue(&mut Frame::new(frame), &held);
        }
        assert_eq!(output.pending(), 6 + 3 * FRAME_OVERHEAD);
        let mut socket = Socket {
            room: 4,
            ..Socket::default()
        };
        // Takes "ab" and "cd", then would block.
        output.flush(&mut socket).unwrap();
        assert_eq!(socket.written, b"abcd");
        assert_eq!(output.pending(), 2 + 2 * FRAME_OVERHEAD);
        socket.room = 100;
        output.flush(&mut socket).unwrap();
        assert_eq!(socket.written, b"abcdef");
        assert!(output.is_empty());
        assert_eq!(output.pending(), 0);
        let mut socket = Socket {
            room: 100,
            ..Socket::default()
        };
        for frame in [&b"x"[..], b"y", b"z"] {
            output.queue(&mut Frame::new(frame), &held);
        }
        output.flush(&mut socket).unwrap();
        assert_eq!((socket.written.as_slice(), socket.writes), (&b"xyz"[..], 1));
    }

    #[test]
    fn a_frame_in_two_parts_goes_out_in_one_write_or_is_queued_whole() {
        let held = Held::default();
        let mut socket = Socket {
            room: 100,
            ..Socket::default()
        };
        let mut output = Output::default();
        let mut frame = Frame::in_parts(b"he", b"llo");
        output.send(&mut socket, &mut frame, &held).unwrap();
        assert!(output.is_empty() && frame.shared.is_none());
        assert_eq!(
            (socket.written.as_slice(), socket.writes),
            (&b"hello"[..], 1)
        );
        // Cut inside the head, then inside the body.
        for room in [1, 3] {
            let mut socket = Socket {
                room,
                ..Socket::default()
            };
            let mut frame = Frame::in_parts(b"he", b"llo");
            output.send(&mut socket, &mut frame, &held).unwrap();
            assert_eq!(&*frame.shared.clone().unwrap().bytes, b"hello");
            assert_eq!(output.pending(), 5 - room + FRAME_OVERHEAD);
            socket.room = 100;
            output.flush(&mut socket).unwrap();
            assert_eq!(socket.written, b"hello");
            assert!(output.is_empty());
        }
        // Queued, it is one piece.
        output.queue(&mut Frame::in_parts(b"ab", b"cd"), &held);
        let mut socket = Socket {
            room: 100,
            ..Socket::default()
        };
        output.flush(&mut socket).unwrap();
        assert_eq!(socket.written, b"abcd");
        assert_eq!(Frame::in_parts(b"ab", b"cd").to_vec(), b"abcd");
    }

    #[test]
    fn dropping_unstarted_output_keeps_a_partly_written_frame() {
        let held = Held::default();
        let mut socket = Socket {
            room: 2,
            ..Socket::default()
        };
        let mut output = Output::default();
        output
            .send(&mut socket, &mut Frame::new(b"first"), &held)
            .unwrap();
        output
            .send(&mut socket, &mut Frame::new(b"second"), &held)
            .unwrap();
        assert_eq!(output.pending(), 3 + 6 + 2 * FRAME_OVERHEAD);
        output.drop_unstarted();
        assert_eq!(output.pending(), 3 + FRAME_OVERHEAD);
        socket.room = 100;
        output.flush(&mut socket).unwrap();
        assert_eq!(socket.written, b"first");
    }

    #[test]
    fn dropping_unstarted_data_keeps_control_frames() {
        let held = Held::default();
        let mut socket = Socket {
            room: 2,
            ..Socket::default()
        };
        let mut output = Output::default();
        // Data frames (0x82), a close (0x88), then pongs (0x8a) behind it.
        for frame in [
            &b"\x82first"[..],
            b"\x82second",
            b"\x88close",
            b"\x82third",
            b"\x8apong",
        ] {
            output
                .send(&mut socket, &mut Frame::new(frame), &held)
                .unwrap();
        }
        output.drop_unstarted_data();
        assert_eq!(output.pending(), 4 + 6 + 5 + 3 * FRAME_OVERHEAD);
        assert_eq!(
            held.bytes(),
            6 + 6 + 5 + 3 * FRAME_OVERHEAD,
            "the dropped copies are freed"
        );
        socket.room = 100;
        output.flush(&mut socket).unwrap();
        assert_eq!(socket.written, b"\x82first\x88close\x8apong");
        // Nothing at all: nothing to drop.
        let mut empty = Output::default();
        empty.drop_unstarted_data();
        assert_eq!(empty.pending(), 0);
    }
}
