//! `idle`: opens connections, then only keeps them open (answering pings)
//! until the deadline, so the main thread can measure the server's memory
//! per connection.

use std::time::Instant;

use crate::conn::{Conn, Ignore};
use crate::error::LoadError;
use crate::histogram::Histogram;
use crate::worker::{Ctx, ThreadResult};

/// One idle thread holding connections `ids`.
pub(crate) fn run_thread(mut ctx: Ctx, ids: &[usize]) -> Result<ThreadResult, LoadError> {
    let capacity = ctx.target.request.len();
    let mut conns: Vec<Conn<Ignore>> = ids
        .iter()
        .map(|&id| Conn::new(id, Ignore, capacity))
        .collect();
    ctx.open_all(&mut conns)?;
    let latency = Histogram::new();
    if let Some(window) = ctx.wait_for_start(&mut conns)? {
        while !ctx.shared.stopped() && Instant::now() < window.deadline {
            ctx.wait(window.deadline)?;
            ctx.dispatch(&mut conns)?;
        }
    }
    Ok(ctx.finish(latency, conns.len() as u64, None))
}
