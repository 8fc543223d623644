//! `peer-tungstenite`: a tokio-tungstenite server for `bench/compare.sh`.
//!
//! Each accepted connection gets a task of its own (`accept_hdr_async`, the
//! shape of tokio-tungstenite's echo-server example). On any path but
//! `/broadcast` every text and binary message is sent back; on
//! `/broadcast` it is sent to every broadcast client, the sender included.
//! Pings are answered and closes completed by tungstenite itself.
//!
//! ```text
//! peer-tungstenite --port 9001 [--threads 1]
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use peer_common::{Hub, Route};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{WebSocketStream, accept_hdr_async};

const NAME: &str = "peer-tungstenite";

fn main() -> ExitCode {
    peer_common::run(NAME, connection)
}

async fn connection(stream: TcpStream, hub: Arc<Hub<Message>>) {
    let mut route = Route::Echo;
    // The callback's type, error included, is tungstenite's.
    #[allow(clippy::result_large_err)]
    let remember_route = |request: &Request, response: Response| {
        route = Route::of(request.uri().path());
        Ok(response)
    };
    let result = match accept_hdr_async(stream, remember_route).await {
        Ok(ws) => match route {
            Route::Echo => echo(ws).await,
            Route::Broadcast => broadcast(ws, &hub).await,
        },
        Err(e) => Err(e),
    };
    if let Err(e) = result
        && !is_hangup(&e)
    {
        eprintln!("{NAME}: connection: {e}");
    }
}

/// Sends every data message back: one write per message, as the client
/// waits for each echo before sending the next.
async fn echo(mut ws: WebSocketStream<TcpStream>) -> Result<(), Error> {
    while let Some(message) = ws.next().await {
        let message = message?;
        if message.is_text() || message.is_binary() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

/// Reads on this task and writes on another, fed by the hub, so a reader
/// never waits for any client's socket. Messages are reference-counted
/// (`Bytes`): a broadcast copies no payload.
async fn broadcast(ws: WebSocketStream<TcpStream>, hub: &Arc<Hub<Message>>) -> Result<(), Error> {
    let (mut sink, mut stream) = ws.split();
    let (member, mut queue) = hub.join();
    let writer = tokio::spawn(async move {
        while let Some(message) = queue.recv().await {
            sink.feed(message).await?;
            while let Ok(message) = queue.try_recv() {
                sink.feed(message).await?;
            }
            sink.flush().await?;
        }
        Ok::<(), Error>(())
    });
    let read = async {
        while let Some(message) = stream.next().await {
            let message = message?;
            if message.is_text() || message.is_binary() {
                hub.send_to_every(&message);
            }
        }
        Ok(())
    }
    .await;
    // Leaving the hub ends the writer once its queue is drained.
    drop(member);
    let written = writer.await.unwrap_or(Ok(()));
    read.and(written)
}

/// The client went away (rs-load drops its connections at the end of a run).
fn is_hangup(e: &Error) -> bool {
    use std::io::ErrorKind;
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    match e {
        Error::ConnectionClosed | Error::AlreadyClosed => true,
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => true,
        Error::Io(io) => matches!(
            io.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}
