//! Clients that say nothing: at each tick of the idle ticker (every
//! `idle_timeout`), a client heard from since the last tick is left alone,
//! one not heard from is pinged, and one that did not answer that ping
//! either (two ticks of silence) is closed with 1001. A peer that vanished
//! without closing TCP, or one that holds a connection and never reads,
//! does not keep its place for ever; a live client answers the ping (every
//! WebSocket client does) and stays.
//!
//! One flag set per read is all the data path pays; the check walks the
//! connections once per tick.

use rs_proto::CloseCode;

use crate::output::Frame;

use super::Worker;
use super::conn::{Phase, shown};

/// A ping without payload.
const PING: [u8; 2] = [0x89, 0x00];

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
            // a client whose reading is paused (its app's ring is full)
            // may be talking, unheard.
            if !matches!(conn.phase, Phase::Open(_)) || conn.stalled.is_some() {
                continue;
            }
            if std::mem::take(&mut conn.heard) {
                conn.pinged = false;
            } else if !conn.pinged {
                conn.pinged = true;
                self.send(slot, &mut Frame::new(&PING));
            } else {
                log::debug!(
                    "client {} ({}): closing with 1001: it answered no ping for {period} s",
                    conn.id,
                    shown(&conn.peer),
                );
                self.fail_with(slot, CloseCode::GOING_AWAY, "idle");
            }
        }
    }
}
