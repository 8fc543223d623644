//! Clients that say nothing: at each tick of the idle ticker (every
//! `idle_timeout`), a client heard from since the last tick is left alone,
//! one not heard from is pinged, and one that did not answer that ping
//! either (two ticks of silence) is closed with 1001. A peer that vanished
//! without closing TCP, or one that holds a connection and never reads,
//! does not keep its place for ever; a live client answers the ping (every
//! WebSocket client does) and stays.
//!
//! The ping goes behind what the client has not received yet, which may
//! take longer than a tick to reach a slow reader (a long reply, a slow
//! link). So a pinged client that was still receiving since the last tick
//! (its TCP peer acknowledged more than a ping's worth of bytes) is given
//! another tick instead of being closed; one that stopped reading fills its
//! receive window, acknowledges nothing more, and is closed as before.
//!
//! One flag set per read is all the data path pays; the check walks the
//! connections once per tick, and asks the kernel only about silent ones.

use std::os::fd::AsFd;

use rs_proto::CloseCode;

use crate::output::Frame;
use crate::sys;

use super::Worker;
use super::conn::Phase;

/// A ping without payload.
const PING: [u8; 2] = [0x89, 0x00];

/// More than a ping takes on the wire, TLS record included: a pinged
/// client whose peer acknowledged more than this since the last tick was
/// receiving what we sent it before the ping, not just the ping.
const PING_ON_THE_WIRE: u64 = 64;

impl Worker {
    /// The idle ticker ticked: ping the silent, close the still silent.
    #[cold]
    pub(super) fn check_idle(&mut self) {
        if let Some(ticker) = &self.idle_ticker {
            ticker.take();
        }
        let period = self.limits.idle_timeout.as_secs();
        for slot in 0..self.slots.len() as u32 {
            let Some(conn) = self.conn(slot) else {
                continue;
            };
            // Handshakes, closes and answers have deadlines of their own;
            // a client whose reading is paused for its app (its ring is
            // full) may be talking, unheard.
            if !matches!(conn.phase, Phase::Open(_)) || conn.stalled.is_some() {
                continue;
            }
            if std::mem::take(&mut conn.heard) && !conn.output_paused {
                conn.struck = false;
                continue;
            }
            // Unknown (not TCP, or a kernel without the count) is the
            // same as no progress: only the ping's answer counts then.
            let counted = sys::bytes_acked(conn.stream.tcp_mut().as_fd());
            let acked = *counted.as_ref().unwrap_or(&0);
            let receiving =
                acked.saturating_sub(std::mem::replace(&mut conn.acked, acked)) > PING_ON_THE_WIRE;
            if conn.output_paused {
                // Not read until it reads its output (a ping would wait
                // behind that): judged by whether its peer acknowledges
                // any of it, over two ticks in a row (a full receive
                // window opens only once a segment's room is free: a slow
                // reader's may stay shut for a while). Not judged at all
                // without the count: max_pending_output still holds.
                if receiving || counted.is_err() {
                    conn.struck = false;
                } else if !std::mem::replace(&mut conn.struck, true) {
                    // Its first tick without progress.
                } else {
                    log::debug!(
                        "client {} ({}): closing a slow consumer: its reading paused for its \
                         unread output, its peer acknowledged none of it for two periods of \
                         {period} s",
                        conn.id,
                        conn.peer,
                    );
                    conn.output.drop_unstarted();
                    self.fail_with(slot, CloseCode::POLICY_VIOLATION, "too much unread output");
                }
                continue;
            }
            if !conn.struck {
                conn.struck = true;
                self.send(slot, &mut Frame::new(&PING));
            } else if receiving {
                log::debug!(
                    "client {} ({}): silent for {period} s but still receiving: its ping may be \
                     behind what it reads",
                    conn.id,
                    conn.peer,
                );
            } else {
                log::debug!(
                    "client {} ({}): closing with 1001: it answered no ping for {period} s",
                    conn.id,
                    conn.peer,
                );
                // It is not reading: what it has not started to receive
                // would only hold memory until its close times out.
                conn.output.drop_unstarted();
                self.fail_with(slot, CloseCode::GOING_AWAY, "idle");
            }
        }
    }
}
