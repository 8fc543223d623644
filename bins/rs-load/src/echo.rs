//! `echo`: each connection sends one message and waits for its echo before
//! sending the next (a closed loop), checking every byte that comes back.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rs_proto::{DataKind, FrameHeader, apply_mask};

use crate::conn::{Conn, Session};
use crate::error::{ConnError, LoadError};
use crate::histogram::Histogram;
use crate::load_thread::{END_GRACE, LoadThread, ThreadResult, hangup};
use crate::payload::{COUNTER_LEN, check_chunk, first_difference, hex_u32};

/// One echo connection's state: the message in flight and what is left.
pub(crate) struct EchoSession {
    /// The payload every message carries, after its counter.
    pattern: Arc<[u8]>,
    kind: DataKind,
    /// The counter of the message in flight, as sent (8 hex digits).
    counter: [u8; COUNTER_LEN],
    seq: u32,
    /// Messages still to send after the one in flight.
    left: u64,
    /// A message is in flight.
    expecting: bool,
    /// Its echo has arrived complete and correct.
    complete: bool,
    sent_at: Instant,
}

impl EchoSession {
    /// A session that will send `budget` messages of `pattern`.
    pub(crate) fn new(pattern: Arc<[u8]>, kind: DataKind, budget: u64) -> Self {
        Self {
            pattern,
            kind,
            counter: counter(0),
            seq: 0,
            left: budget,
            expecting: false,
            complete: false,
            sent_at: Instant::now(),
        }
    }

    fn mismatch(&self, offset: usize, expected: u8, got: u8) -> ConnError {
        ConnError::Mismatch {
            message: self.seq,
            offset: offset as u64,
            expected,
            got,
        }
    }
}

impl Session for EchoSession {
    #[inline]
    fn data(&mut self, kind: DataKind, offset: u64, chunk: &[u8]) -> Result<(), ConnError> {
        if !self.expecting {
            return Err(ConnError::UnexpectedMessage);
        }
        let size = self.pattern.len();
        let start = check_chunk(self.kind, kind, size, offset, chunk.len())?;
        // The counter bytes first, then the pattern.
        let counter_end = COUNTER_LEN.min(size);
        let i = counter_end.saturating_sub(start).min(chunk.len());
        if i > 0 {
            let expected = &self.counter[start..start + i];
            if chunk[..i] != *expected {
                let at = first_difference(expected, &chunk[..i]);
                return Err(self.mismatch(start + at, expected[at], chunk[at]));
            }
        }
        let expected = &self.pattern[start + i..start + chunk.len()];
        let got = &chunk[i..];
        if got != expected {
            let at = first_difference(expected, got);
            return Err(self.mismatch(start + i + at, expected[at], got[at]));
        }
        Ok(())
    }

    fn message_end(&mut self, kind: DataKind, len: u64) -> Result<(), ConnError> {
        if !self.expecting {
            return Err(ConnError::UnexpectedMessage);
        }
        if kind != self.kind {
            return Err(ConnError::WrongKind {
                expected: self.kind,
                got: kind,
            });
        }
        if len != self.pattern.len() as u64 {
            return Err(ConnError::WrongLength {
                expected: self.pattern.len() as u64,
                got: len,
            });
        }
        self.expecting = false;
        self.complete = true;
        Ok(())
    }
}

/// Message `seq`'s counter: its hex digits, least significant first, so
/// that a message shorter than the counter still carries the digits that
/// change from one message to the next (a duplicated echo of 1 byte is
/// caught unless it is 16 messages late).
fn counter(seq: u32) -> [u8; COUNTER_LEN] {
    let mut digits = hex_u32(seq);
    digits.reverse();
    digits
}

/// Writes the first masked frame: header, then the pattern with counter 0.
fn build_frame(conn: &mut Conn<EchoSession>) {
    let key = conn.mask_key();
    let session = &conn.session;
    let header = FrameHeader::masked(
        session.kind.opcode(),
        true,
        session.pattern.len() as u64,
        key,
    );
    let (pattern, counter) = (Arc::clone(&session.pattern), session.counter);
    let out = conn.out_mut();
    out.clear();
    out.extend_from_slice(header.as_bytes());
    let start = out.len();
    out.extend_from_slice(&pattern);
    let counter_len = COUNTER_LEN.min(pattern.len());
    out[start..start + counter_len].copy_from_slice(&counter[..counter_len]);
    apply_mask(&mut out[start..], key);
}

/// Moves to the next message: a new counter, masked into the frame in place
/// (only those bytes change, so a message costs no copy of its payload).
fn next_message(conn: &mut Conn<EchoSession>) {
    // The echo cannot be complete before the whole frame was written.
    debug_assert!(!conn.is_sending());
    let key = conn.mask_key();
    let session = &mut conn.session;
    session.seq = session.seq.wrapping_add(1);
    session.counter = counter(session.seq);
    let (size, counter) = (session.pattern.len(), session.counter);
    let out = conn.out_mut();
    let start = out.len() - size;
    for (i, byte) in counter.iter().take(size).enumerate() {
        out[start + i] = byte ^ key[i % 4];
    }
}

/// Sends the message in the frame buffer and starts its clock.
fn send(conn: &mut Conn<EchoSession>, now: Instant) -> Result<(), ConnError> {
    conn.session.left -= 1;
    conn.session.expecting = true;
    conn.session.sent_at = now;
    conn.send()
}

/// One echo thread: opens `budgets.len()` connections (numbered from
/// `first` in steps of `step`), waits for the start, then runs the closed
/// loop until the deadline or until every budget is spent.
pub(crate) fn run_thread(
    mut ctx: LoadThread,
    conn_indices: &[usize],
    budgets: &[u64],
    pattern: Arc<[u8]>,
    kind: DataKind,
) -> Result<ThreadResult, LoadError> {
    let frame_capacity = pattern.len() + rs_proto::MAX_MASKED_HEADER_LEN;
    let capacity = frame_capacity.max(ctx.target.request.len());
    let mut conns: Vec<Conn<EchoSession>> = conn_indices
        .iter()
        .zip(budgets)
        .map(|(&index, &budget)| {
            Conn::new(
                index,
                EchoSession::new(Arc::clone(&pattern), kind, budget),
                capacity,
            )
        })
        .collect();
    ctx.open_all(&mut conns)?;
    let mut latency = Histogram::new();
    let Some(window) = ctx.wait_for_start(&mut conns)? else {
        return Ok(ctx.finish(latency, 0, None));
    };
    let mut active = 0usize;
    for conn in &mut conns {
        build_frame(conn);
        if conn.session.left > 0 {
            active += 1;
            // Timed from now, not from the window's start: this thread saw
            // the start up to a poll's wait (1 ms) late.
            send(conn, Instant::now()).map_err(|error| conn.fail(error))?;
        }
    }
    let mut total = 0u64;
    let mut finished_at = (active == 0).then(Instant::now);
    // Past the deadline nothing more is sent or counted, but the echoes in
    // flight are still awaited and checked, for at most END_GRACE.
    let mut in_window = true;
    let mut until = window.deadline;
    while active > 0 {
        if ctx.shared.stopped() {
            return Ok(ctx.finish(latency, total, None));
        }
        let now = Instant::now();
        if in_window && now >= window.deadline {
            in_window = false;
            until = now + END_GRACE;
            for conn in conns.iter().filter(|c| c.session.expecting) {
                if let Some(waited) = window.stalled(conn.session.sent_at, now) {
                    let what = "an echo";
                    return Err(conn.fail(ConnError::Stalled { what, waited }));
                }
            }
        } else if !in_window && now >= until {
            let conn = conns.iter().find(|c| c.session.expecting);
            let error = ConnError::Unanswered {
                what: "the echo of the last message",
                waited: END_GRACE,
            };
            return Err(LoadError::Conn {
                conn: conn.map_or(0, |c| c.index),
                error,
            });
        }
        ctx.wait(until)?;
        for event in ctx.events.iter() {
            let Some(conn) = conns.get_mut(event.token().0) else {
                continue;
            };
            conn.on_ready(&mut ctx.rbuf, hangup(event))
                .map_err(|error| conn.fail(error))?;
            if !conn.session.complete {
                continue;
            }
            conn.session.complete = false;
            if !in_window {
                active -= 1;
                continue;
            }
            let now = Instant::now();
            latency.record_duration(now - conn.session.sent_at);
            total += 1;
            if conn.session.left == 0 {
                active -= 1;
                continue;
            }
            next_message(conn);
            send(conn, now).map_err(|error| conn.fail(error))?;
        }
        if in_window {
            ctx.progress().total.store(total, Ordering::Relaxed);
            if active == 0 {
                finished_at = Some(Instant::now());
            }
        }
    }
    let result = ctx.finish(latency, total, finished_at);
    ctx.close_all(&mut conns)?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::pattern;

    fn session(size: usize) -> EchoSession {
        let mut s = EchoSession::new(pattern(size, false).into(), DataKind::Binary, 10);
        s.expecting = true;
        s
    }

    fn expected_payload(s: &EchoSession) -> Vec<u8> {
        let mut p = s.pattern.to_vec();
        let n = COUNTER_LEN.min(p.len());
        p[..n].copy_from_slice(&s.counter[..n]);
        p
    }

    #[test]
    fn a_correct_echo_in_any_pieces_completes() {
        for size in [0usize, 3, 8, 9, 100] {
            for piece in 1..=size.max(1) {
                let mut s = session(size);
                let payload = expected_payload(&s);
                for (i, chunk) in payload.chunks(piece).enumerate() {
                    s.data(DataKind::Binary, (i * piece) as u64, chunk).unwrap();
                }
                s.message_end(DataKind::Binary, size as u64).unwrap();
                assert!(s.complete && !s.expecting);
            }
        }
    }

    #[test]
    fn a_changed_byte_is_reported_with_its_offset() {
        for at in [0usize, 7, 8, 50] {
            let mut s = session(64);
            let mut payload = expected_payload(&s);
            let sent = payload[at];
            payload[at] ^= 0x20;
            let error = s.data(DataKind::Binary, 0, &payload).unwrap_err();
            assert!(
                matches!(error, ConnError::Mismatch { message: 0, offset, expected, got }
                    if offset == at as u64 && expected == sent && got == sent ^ 0x20),
                "{error:?}"
            );
        }
    }

    #[test]
    fn a_longer_or_shorter_echo_is_refused() {
        let mut s = session(8);
        let error = s.data(DataKind::Binary, 0, &[b'0'; 9]).unwrap_err();
        assert!(matches!(
            error,
            ConnError::WrongLength {
                expected: 8,
                got: 9
            }
        ));
        let mut s = session(8);
        let error = s.message_end(DataKind::Binary, 7).unwrap_err();
        assert!(matches!(
            error,
            ConnError::WrongLength {
                expected: 8,
                got: 7
            }
        ));
    }

    #[test]
    fn the_wrong_kind_is_refused() {
        let mut s = session(8);
        let error = s.data(DataKind::Text, 0, b"0").unwrap_err();
        assert!(matches!(
            error,
            ConnError::WrongKind {
                expected: DataKind::Binary,
                got: DataKind::Text
            }
        ));
    }

    #[test]
    fn a_message_nobody_waits_for_is_refused() {
        let mut s = session(0);
        s.message_end(DataKind::Binary, 0).unwrap();
        assert!(matches!(
            s.message_end(DataKind::Binary, 0),
            Err(ConnError::UnexpectedMessage)
        ));
    }

    #[test]
    fn a_duplicated_echo_shorter_than_the_counter_is_caught() {
        for size in 1..COUNTER_LEN {
            let mut s = session(size);
            let first = expected_payload(&s);
            s.data(DataKind::Binary, 0, &first).unwrap();
            s.message_end(DataKind::Binary, size as u64).unwrap();
            s.seq += 1;
            s.counter = counter(s.seq);
            s.expecting = true;
            let error = s.data(DataKind::Binary, 0, &first).unwrap_err();
            assert!(
                matches!(
                    error,
                    ConnError::Mismatch {
                        message: 1,
                        offset: 0,
                        ..
                    }
                ),
                "{size}: {error:?}"
            );
        }
    }

    #[test]
    fn the_next_message_carries_the_next_counter_masked() {
        let mut conn = Conn::new(0, session(12), 64);
        build_frame(&mut conn);
        conn.mark_sent();
        next_message(&mut conn);
        next_message(&mut conn);
        let key = conn.mask_key();
        let mut payload = conn.out_mut()[2 + 4..].to_vec();
        apply_mask(&mut payload, key);
        assert_eq!(&payload[..8], b"20000000");
        assert_eq!(&payload[8..], &pattern(12, false)[8..]);
    }
}
