//! `broadcast`: every client sends one message per round and must receive
//! every client's message of that round (N² deliveries per round) before it
//! sends its next one.
//!
//! Rounds need no barrier across clients: a message carries its sender and
//! round, and a client still in round r can only receive messages of rounds
//! r and r + 1 (a round r + 2 message needs every client, this one
//! included, to have finished round r + 1). So each client counts two
//! rounds, with a bitset of senders per round that catches duplicates.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rs_proto::{DataKind, FrameHeader, apply_mask};

use crate::conn::{Conn, Session};
use crate::error::{ConnError, LoadError};
use crate::histogram::Histogram;
use crate::load_thread::{LoadThread, ThreadResult, hangup};
use crate::payload::{COUNTER_LEN, check_chunk, first_difference, hex_u32, parse_hex_u32};

/// Bytes in front of a broadcast payload: the sender, then the round.
pub(crate) const PREFIX_LEN: usize = 2 * COUNTER_LEN;

/// One broadcast client's state.
pub(crate) struct BroadcastSession {
    pattern: Arc<[u8]>,
    kind: DataKind,
    clients: u32,
    id: u32,
    /// The round this client is in: it has sent (or will send) its message
    /// of this round and waits for everybody's.
    round: u32,
    /// Messages received for rounds `round` and `round + 1`, by round parity.
    counts: [u32; 2],
    /// Senders seen, one bitset per round parity.
    seen: [Box<[u64]>; 2],
    /// The prefix of the message being received.
    prefix: [u8; PREFIX_LEN],
    /// Rounds still to send after the current one.
    left: u64,
    /// Every message of the current round has arrived.
    round_done: bool,
    /// Messages received and not yet counted by the thread.
    delivered: u64,
    sent_at: Instant,
}

impl BroadcastSession {
    /// Client `id` of `clients`, to send `rounds` messages of `pattern`
    /// (at least [`PREFIX_LEN`] bytes).
    pub(crate) fn new(
        pattern: Arc<[u8]>,
        kind: DataKind,
        clients: u32,
        id: u32,
        rounds: u64,
    ) -> Self {
        let words = (clients as usize).div_ceil(64);
        Self {
            pattern,
            kind,
            clients,
            id,
            round: 0,
            counts: [0; 2],
            seen: [vec![0; words].into(), vec![0; words].into()],
            prefix: [0; PREFIX_LEN],
            left: rounds,
            round_done: false,
            delivered: 0,
            sent_at: Instant::now(),
        }
    }

    /// Moves to the next round once the current one is complete.
    fn advance(&mut self) {
        let slot = (self.round % 2) as usize;
        self.counts[slot] = 0;
        self.seen[slot].fill(0);
        self.round = self.round.wrapping_add(1);
        self.round_done = false;
    }
}

impl Session for BroadcastSession {
    #[inline]
    fn data(&mut self, kind: DataKind, offset: u64, chunk: &[u8]) -> Result<(), ConnError> {
        let size = self.pattern.len();
        let start = check_chunk(self.kind, kind, size, offset, chunk.len())?;
        let in_prefix = PREFIX_LEN.saturating_sub(start).min(chunk.len());
        self.prefix[start.min(PREFIX_LEN)..start.min(PREFIX_LEN) + in_prefix]
            .copy_from_slice(&chunk[..in_prefix]);
        let expected = &self.pattern[start + in_prefix..start + chunk.len()];
        let got = &chunk[in_prefix..];
        if got != expected {
            let at = first_difference(expected, got);
            return Err(ConnError::Mismatch {
                message: self.round,
                offset: (start + in_prefix + at) as u64,
                expected: expected[at],
                got: got[at],
            });
        }
        Ok(())
    }

    fn message_end(&mut self, kind: DataKind, len: u64) -> Result<(), ConnError> {
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
        let mut sender = [0u8; COUNTER_LEN];
        let mut round = [0u8; COUNTER_LEN];
        sender.copy_from_slice(&self.prefix[..COUNTER_LEN]);
        round.copy_from_slice(&self.prefix[COUNTER_LEN..]);
        let sender = parse_hex_u32(&sender)
            .filter(|&s| s < self.clients)
            .ok_or_else(|| {
                ConnError::Broadcast(format!(
                    "a message whose sender field {:?} names no client",
                    String::from_utf8_lossy(&sender)
                ))
            })?;
        let round = parse_hex_u32(&round).ok_or_else(|| {
            ConnError::Broadcast(format!(
                "a message whose round field {:?} is not a round",
                String::from_utf8_lossy(&round)
            ))
        })?;
        if round != self.round && round != self.round.wrapping_add(1) {
            return Err(ConnError::Broadcast(format!(
                "client {sender}'s message of round {round} arrived during round {}",
                self.round
            )));
        }
        let slot = (round % 2) as usize;
        let (word, bit) = (sender as usize / 64, 1u64 << (sender % 64));
        if self.seen[slot][word] & bit != 0 {
            return Err(ConnError::Broadcast(format!(
                "client {sender}'s message of round {round} arrived twice"
            )));
        }
        self.seen[slot][word] |= bit;
        self.counts[slot] += 1;
        self.delivered += 1;
        if round == self.round && self.counts[slot] == self.clients {
            self.round_done = true;
        }
        Ok(())
    }
}

/// The least wait at the deadline that counts a broadcast round as lost
/// (see `run_thread`).
const LOST_ROUND_MIN: Duration = Duration::from_millis(100);

/// Writes the first masked frame: sender, round 0, pattern.
fn build_frame(conn: &mut Conn<BroadcastSession>) {
    let key = conn.mask_key();
    let session = &conn.session;
    let size = session.pattern.len();
    let header = FrameHeader::masked(session.kind.opcode(), true, size as u64, key);
    let pattern = Arc::clone(&session.pattern);
    let (id, round) = (hex_u32(session.id), hex_u32(session.round));
    let out = conn.out_mut();
    out.clear();
    out.extend_from_slice(header.as_bytes());
    let start = out.len();
    out.extend_from_slice(&pattern);
    out[start..start + COUNTER_LEN].copy_from_slice(&id);
    out[start + COUNTER_LEN..start + PREFIX_LEN].copy_from_slice(&round);
    apply_mask(&mut out[start..], key);
}

/// Writes the current round into the frame, masked, in place.
fn set_round(conn: &mut Conn<BroadcastSession>) {
    // The round cannot be complete before our own message was written.
    debug_assert!(!conn.is_sending());
    let key = conn.mask_key();
    let size = conn.session.pattern.len();
    let round = hex_u32(conn.session.round);
    let out = conn.out_mut();
    let start = out.len() - size + COUNTER_LEN;
    for (i, byte) in round.iter().enumerate() {
        // COUNTER_LEN is a multiple of 4: the key lines up as at offset 0.
        out[start + i] = byte ^ key[i % 4];
    }
}

fn send(conn: &mut Conn<BroadcastSession>, now: Instant) -> Result<(), LoadError> {
    conn.session.left -= 1;
    conn.session.sent_at = now;
    conn.send().map_err(|error| conn.fail(error))
}

/// One broadcast thread: its clients are `ids` of `clients`; each sends
/// `rounds` messages (unbounded until the deadline with `u64::MAX`).
pub(crate) fn run_thread(
    mut ctx: LoadThread,
    ids: &[usize],
    clients: usize,
    rounds: u64,
    pattern: Arc<[u8]>,
    kind: DataKind,
) -> Result<ThreadResult, LoadError> {
    let capacity = (pattern.len() + rs_proto::MAX_MASKED_HEADER_LEN).max(ctx.target.request.len());
    let mut conns: Vec<Conn<BroadcastSession>> = ids
        .iter()
        .map(|&id| {
            let session = BroadcastSession::new(
                Arc::clone(&pattern),
                kind,
                clients as u32,
                id as u32,
                rounds,
            );
            Conn::new(id, session, capacity)
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
            // Timed from now (see `echo`).
            send(conn, Instant::now())?;
        }
    }
    let mut total = 0u64;
    while active > 0 {
        if ctx.shared.stopped() {
            return Ok(ctx.finish(latency, total, None));
        }
        if Instant::now() >= window.deadline {
            break;
        }
        ctx.wait(window.deadline)?;
        for event in ctx.events.iter() {
            let Some(conn) = conns.get_mut(event.token().0) else {
                continue;
            };
            conn.on_ready(&mut ctx.rbuf, hangup(event))
                .map_err(|error| conn.fail(error))?;
            total += std::mem::take(&mut conn.session.delivered);
            if !conn.session.round_done {
                continue;
            }
            let now = Instant::now();
            latency.record_duration(now - conn.session.sent_at);
            conn.session.advance();
            if conn.session.left == 0 {
                active -= 1;
                continue;
            }
            set_round(conn);
            send(conn, now)?;
        }
        ctx.progress().total.store(total, Ordering::Relaxed);
    }
    if active > 0 && Instant::now() >= window.deadline {
        let now = Instant::now();
        // A round still open at the deadline that has waited ten times the
        // slowest round before it (and 100 ms) was lost: the run stalled
        // then, and its rate is not the server's. (Before ten rounds, only
        // a wait of half the run tells.)
        let slowest = Duration::from_nanos(latency.max());
        let lost_after = (latency.count() >= 10).then(|| (slowest * 10).max(LOST_ROUND_MIN));
        for conn in conns.iter().filter(|c| c.session.left > 0) {
            let waited = now.saturating_duration_since(conn.session.sent_at);
            let lost = lost_after
                .is_some_and(|after| waited > after)
                .then_some(waited)
                .or_else(|| window.stalled(conn.session.sent_at, now));
            if let Some(waited) = lost {
                let what = "a broadcast round";
                return Err(conn.fail(ConnError::Stalled { what, waited }));
            }
        }
    }
    let finished_at = (active == 0).then(Instant::now);
    let result = ctx.finish(latency, total, finished_at);
    ctx.close_all(&mut conns)?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::pattern;

    fn message(sender: u32, round: u32, size: usize) -> Vec<u8> {
        let mut p = pattern(size, true).to_vec();
        p[..8].copy_from_slice(&hex_u32(sender));
        p[8..16].copy_from_slice(&hex_u32(round));
        p
    }

    fn receive(s: &mut BroadcastSession, payload: &[u8]) -> Result<(), ConnError> {
        for (i, chunk) in payload.chunks(5).enumerate() {
            s.data(DataKind::Text, (i * 5) as u64, chunk)?;
        }
        s.message_end(DataKind::Text, payload.len() as u64)
    }

    fn session(clients: u32) -> BroadcastSession {
        BroadcastSession::new(pattern(20, true).into(), DataKind::Text, clients, 0, 10)
    }

    #[test]
    fn a_round_completes_when_every_sender_arrived_once() {
        let mut s = session(3);
        receive(&mut s, &message(2, 0, 20)).unwrap();
        receive(&mut s, &message(1, 1, 20)).unwrap(); // a fast client's next round
        receive(&mut s, &message(0, 0, 20)).unwrap();
        assert!(!s.round_done);
        receive(&mut s, &message(1, 0, 20)).unwrap();
        assert!(s.round_done);
        assert_eq!(s.delivered, 4);
        s.advance();
        assert_eq!((s.round, s.counts), (1, [0, 1]));
    }

    #[test]
    fn a_duplicate_is_refused() {
        let mut s = session(3);
        receive(&mut s, &message(2, 0, 20)).unwrap();
        let error = receive(&mut s, &message(2, 0, 20)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "broadcast: client 2's message of round 0 arrived twice"
        );
    }

    #[test]
    fn a_message_from_a_round_too_far_is_refused() {
        let mut s = session(3);
        let error = receive(&mut s, &message(1, 2, 20)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "broadcast: client 1's message of round 2 arrived during round 0"
        );
    }

    #[test]
    fn an_unknown_sender_is_refused() {
        let mut s = session(3);
        let error = receive(&mut s, &message(3, 0, 20)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "broadcast: a message whose sender field \"00000003\" names no client"
        );
    }

    #[test]
    fn a_changed_pattern_byte_is_reported() {
        let mut s = session(3);
        let mut m = message(1, 0, 20);
        m[17] = b'#';
        let error = receive(&mut s, &m).unwrap_err();
        assert!(
            matches!(
                error,
                ConnError::Mismatch {
                    offset: 17,
                    got: b'#',
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn the_round_field_is_rewritten_masked() {
        let mut conn = Conn::new(0, session(3), 64);
        build_frame(&mut conn);
        conn.mark_sent();
        conn.session.advance();
        set_round(&mut conn);
        let mut payload = conn.out_mut()[2 + 4..].to_vec();
        apply_mask(&mut payload, conn.mask_key());
        assert_eq!(&payload[..16], b"0000000000000001");
    }
}
