//! `idle`: opens connections, then only keeps them open (answering pings)
//! until the deadline, so the main thread can measure the server's memory
//! per connection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::conn::{Conn, Ignore};
use crate::error::{ConnError, LoadError};
use crate::handshake::{accept_for, check_response, new_key};
use crate::histogram::Histogram;
use crate::load_thread::{LoadThread, ThreadResult};
use crate::rng::Rng;
use crate::target::Target;

/// How long the warm-up connection's connect, handshake and each read may
/// take.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection opened before the server's memory is first read and kept
/// open through the run: what a server allocates once, for its first
/// client (a first block of connection slots, buffers touched for the first
/// time), is then in the baseline instead of divided among the measured
/// connections. Measured against RingSocket without it: 12,288 B per
/// connection for one, 8,602 B for 10 (with it: 0 and 819 B; the same
/// within a few bytes at 10,000).
///
/// It sends nothing after its handshake and reads nothing: a server that
/// closes silent clients may close it during a long run, after the
/// measurement (taken a second after the connections are open).
pub(crate) struct WarmUp {
    _stream: Box<dyn Write + Send>,
}

/// Opens the warm-up connection to `target` (blocking).
pub(crate) fn warm_up(target: &Target) -> Result<WarmUp, LoadError> {
    open_warm_up(target).map_err(LoadError::WarmUp)
}

fn open_warm_up(target: &Target) -> Result<WarmUp, ConnError> {
    trait Stream: Read + Write + Send {}
    impl<S: Read + Write + Send> Stream for S {}
    let tcp =
        TcpStream::connect_timeout(&target.addr, WARM_UP_TIMEOUT).map_err(ConnError::Connect)?;
    tcp.set_read_timeout(Some(WARM_UP_TIMEOUT))
        .and_then(|()| tcp.set_write_timeout(Some(WARM_UP_TIMEOUT)))
        .map_err(ConnError::Io)?;
    let mut stream: Box<dyn Stream> = match &target.tls {
        Some(tls) => Box::new(rustls::StreamOwned::new(
            tls.session().map_err(ConnError::Tls)?,
            tcp,
        )),
        None => Box::new(tcp),
    };
    let key = new_key(&mut Rng::new(u64::MAX));
    let mut request = Vec::with_capacity(target.request.len());
    target.request.write(&mut request, &key);
    stream.write_all(&request).map_err(tls_or_io)?;
    let accept = accept_for(&key);
    let (mut received, mut buf) = (Vec::new(), [0u8; 1024]);
    loop {
        let n = stream.read(&mut buf).map_err(tls_or_io)?;
        if n == 0 {
            return Err(ConnError::Eof);
        }
        received.extend_from_slice(&buf[..n]);
        if check_response(&received, &accept)
            .map_err(ConnError::Handshake)?
            .is_some()
        {
            return Ok(WarmUp { _stream: stream });
        }
    }
}

/// rustls's streams report TLS failures as I/O errors wrapping them.
fn tls_or_io(error: std::io::Error) -> ConnError {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => ConnError::Tls(tls.clone()),
        None => ConnError::Io(error),
    }
}

/// One idle thread holding connections `ids`.
pub(crate) fn run_thread(mut ctx: LoadThread, ids: &[usize]) -> Result<ThreadResult, LoadError> {
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
            ctx.dispatch(&mut conns, |_, _| {})?;
        }
    }
    Ok(ctx.finish(latency, conns.len() as u64, None))
}
