//! The runtime and the accept loop, until SIGTERM or SIGINT.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::signal::unix::{SignalKind, signal};

use crate::{Hub, Options, UsageError};

/// The server could not start.
#[derive(Debug)]
pub enum ServeError {
    /// The tokio runtime could not be built.
    Runtime(io::Error),
    /// The port could not be bound.
    Bind(SocketAddr, io::Error),
    /// The signal handlers could not be installed.
    Signal(io::Error),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Runtime(e) => write!(f, "cannot start the tokio runtime: {e}"),
            Self::Bind(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            Self::Signal(e) => write!(f, "cannot handle SIGTERM/SIGINT: {e}"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Runtime(e) | Self::Bind(_, e) | Self::Signal(e) => Some(e),
        }
    }
}

/// Runs `connection` in a task of its own for every accepted TCP
/// connection (with `TCP_NODELAY` set), on a multi-thread runtime with
/// `options.threads` workers, until SIGTERM or SIGINT.
///
/// The accept loop runs as a task too, so that all serving happens on the
/// worker threads; the main thread only waits for the signal.
pub fn serve<F, Fut>(name: &str, options: &Options, connection: F) -> Result<(), ServeError>
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads)
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, options.port));
    runtime.block_on(async {
        let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Signal)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Signal)?;
        let listener = listen(addr).map_err(|e| ServeError::Bind(addr, e))?;
        eprintln!(
            "{name}: listening on {addr}, {} worker thread(s)",
            options.threads
        );
        let accepting = tokio::spawn(accept_loop(listener, connection));
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        accepting.abort();
        Ok(())
    })?;
    // Open connections are dropped with the runtime.
    runtime.shutdown_background();
    eprintln!("{name}: stopped");
    Ok(())
}

/// RingSocket's listener backlog (tokio's `TcpListener::bind` uses 128, which
/// would drop handshakes when many clients connect at once).
const BACKLOG: u32 = 1024;

/// A listener on `addr` with `SO_REUSEADDR` and a backlog of [`BACKLOG`].
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

async fn accept_loop<F, Fut>(listener: TcpListener, connection: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                if let Err(e) = stream.set_nodelay(true) {
                    eprintln!("cannot set TCP_NODELAY: {e}");
                }
                tokio::spawn(connection(stream));
            }
            Err(e) => {
                // Out of file descriptors, most likely: don't spin.
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// A peer's whole `main`: parses the command line (printing the usage for
/// `--help`, exit 2 on a usage error), then [`serve`]s every connection
/// with `connection`, which also gets the one [`Hub`] all connections
/// share. Exit 1 if the server cannot start.
pub fn run<T, F, Fut>(name: &str, connection: F) -> ExitCode
where
    T: Send + Sync + 'static,
    F: Fn(TcpStream, Arc<Hub<T>>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let options = match options(name) {
        Ok(options) => options,
        Err(code) => return code,
    };
    let hub = Arc::new(Hub::default());
    match serve(name, &options, move |stream| {
        connection(stream, Arc::clone(&hub))
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The process's command line: the options, or the exit code after
/// printing the usage (`--help`: success; a usage error: 2).
pub fn options(name: &str) -> Result<Options, ExitCode> {
    match Options::parse(std::env::args().skip(1)) {
        Ok(options) => Ok(options),
        Err(UsageError::Help) => {
            print!("usage: {name} --port N [--threads N]\n{}", UsageError::Help);
            Err(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprint!("{name}: {e}");
            Err(ExitCode::from(2))
        }
    }
}
