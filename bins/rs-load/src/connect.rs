//! `connect`: each slot opens a connection, completes the upgrade, runs the
//! closing handshake (our close, the server's close, the server's end of
//! TCP) and starts over. Waiting for the server to close TCP first leaves
//! TIME_WAIT on its side, so the client's ephemeral ports are not used up.

use std::sync::atomic::Ordering;
use std::time::Instant;

use mio::Token;

use crate::conn::{Conn, Ignore, State};
use crate::error::{ConnError, LoadError};
use crate::histogram::Histogram;
use crate::load_thread::{LoadThread, ThreadResult, hangup};

/// One connect thread: slots numbered `slots`, each doing `budgets[i]`
/// handshakes (or as many as fit before the deadline).
pub(crate) fn run_thread(
    mut ctx: LoadThread,
    slots: &[usize],
    budgets: &[u64],
) -> Result<ThreadResult, LoadError> {
    let capacity = ctx.target.request.len();
    let mut conns: Vec<Conn<Ignore>> = slots
        .iter()
        .map(|&slot| Conn::new(slot, Ignore, capacity))
        .collect();
    let mut left = budgets.to_vec();
    let mut latency = Histogram::new();
    let Some(window) = ctx.wait_for_start(&mut conns)? else {
        return Ok(ctx.finish(latency, 0, None));
    };
    let mut active = 0usize;
    for (i, conn) in conns.iter_mut().enumerate() {
        if left[i] > 0 {
            conn.open(&ctx.target, ctx.poll.registry(), Token(i), &mut ctx.rng)
                .map_err(|e| conn.fail(e))?;
            active += 1;
        }
    }
    let mut total = 0u64;
    while active > 0 {
        let now = Instant::now();
        if ctx.shared.stopped() || now >= window.deadline {
            break;
        }
        ctx.wait(window.deadline)?;
        for event in ctx.events.iter() {
            let i = event.token().0;
            let Some(conn) = conns.get_mut(i) else {
                continue;
            };
            let before = conn.state();
            conn.on_ready(&mut ctx.rbuf, hangup(event))
                .map_err(|e| conn.fail(e))?;
            match conn.state() {
                State::Open if before != State::Open => {
                    latency.record_duration(conn.started.elapsed());
                    conn.close().map_err(|e| conn.fail(e))?;
                }
                State::Closed => {
                    total += 1;
                    left[i] -= 1;
                    if left[i] > 0 && Instant::now() < window.deadline {
                        conn.open(&ctx.target, ctx.poll.registry(), Token(i), &mut ctx.rng)
                            .map_err(|e| conn.fail(e))?;
                    } else {
                        conn.drop_socket();
                        active -= 1;
                    }
                }
                _ => {}
            }
        }
        ctx.progress().total.store(total, Ordering::Relaxed);
    }
    if active > 0 && Instant::now() >= window.deadline {
        let now = Instant::now();
        for (i, conn) in conns.iter().enumerate() {
            if left[i] > 0
                && conn.state() != State::Closed
                && let Some(waited) = window.stalled(conn.started, now)
            {
                let what = "a handshake and its close";
                return Err(conn.fail(ConnError::Stalled { what, waited }));
            }
        }
    }
    let finished_at = (active == 0).then(Instant::now);
    Ok(ctx.finish(latency, total, finished_at))
}
