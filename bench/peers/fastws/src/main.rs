//! `peer-fastws`: a fastwebsockets server for `bench/compare.sh`.
//!
//! Each accepted connection is served by hyper's HTTP/1 server with
//! upgrades; the upgraded WebSocket runs in a task of its own, outside
//! tokio's cooperative budget (the shape of fastwebsockets' echo_server
//! example). On any path but `/broadcast` a `FragmentCollector` reads whole
//! messages and every text and binary one is sent back; on `/broadcast`
//! it is sent to every broadcast client, the sender included. Pings are
//! answered and closes completed by fastwebsockets itself.
//!
//! ```text
//! peer-fastws --port 9002 [--threads 1]
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use fastwebsockets::upgrade::{UpgradeFut, is_upgrade_request, upgrade};
use fastwebsockets::{
    FragmentCollector, FragmentCollectorRead, Frame, OpCode, Payload, WebSocket, WebSocketError,
};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use peer_common::{Hub, Member, Route};
use tokio::io::BufWriter;
use tokio::net::TcpStream;

const NAME: &str = "peer-fastws";
/// fastwebsockets' default, set here so that it is visible: far above the
/// 16 KiB the benchmark sends.
const MAX_MESSAGE_SIZE: usize = 64 << 20;
/// A broadcast writer's buffer: frames queued together leave in one write.
const WRITE_BUFFER: usize = 64 << 10;

/// A message queued for one broadcast client.
#[derive(Clone)]
struct Outgoing {
    opcode: OpCode,
    payload: Bytes,
}

impl Outgoing {
    fn of(frame: Frame<'_>) -> Self {
        Self {
            opcode: frame.opcode,
            payload: Bytes::from(Vec::from(frame.payload)),
        }
    }
}

fn main() -> ExitCode {
    peer_common::run(NAME, connection)
}

async fn connection(stream: TcpStream, hub: Arc<Hub<Outgoing>>) {
    let service = service_fn(move |request| handshake(request, Arc::clone(&hub)));
    let served = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    if let Err(e) = served
        && !e.is_incomplete_message()
    {
        eprintln!("{NAME}: http: {e}");
    }
}

/// Answers the upgrade request and starts the WebSocket's task; anything
/// else gets 400.
async fn handshake(
    mut request: Request<Incoming>,
    hub: Arc<Hub<Outgoing>>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    if !is_upgrade_request(&request) {
        let mut response = Response::new(Empty::new());
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(response);
    }
    let route = Route::of(request.uri().path());
    let (response, upgraded) = upgrade(&mut request)?;
    tokio::spawn(tokio::task::unconstrained(async move {
        let result = match route {
            Route::Echo => echo(upgraded).await,
            Route::Broadcast => broadcast(upgraded, hub).await,
        };
        if let Err(e) = result
            && !is_hangup(&e)
        {
            eprintln!("{NAME}: connection: {e}");
        }
    }));
    Ok(response)
}

async fn open(upgraded: UpgradeFut) -> Result<WebSocket<TokioIo<Upgraded>>, WebSocketError> {
    let mut ws = upgraded.await?;
    ws.set_max_message_size(MAX_MESSAGE_SIZE);
    Ok(ws)
}

/// Sends every whole data message back (fragments are collected first).
async fn echo(upgraded: UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(open(upgraded).await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            OpCode::Close => return Ok(()),
            _ => {}
        }
    }
}

/// Reads on this task and writes on another, fed by the hub; the pongs
/// and the close reply fastwebsockets must send go through the same queue,
/// in order with the broadcast messages. A payload is copied once, into
/// `Bytes` shared by every recipient. The writer writes all the frames
/// queued so far into a buffer and then flushes it, one system call for
/// many frames, as tokio-tungstenite's sink does in peer-tungstenite.
async fn broadcast(upgraded: UpgradeFut, hub: Arc<Hub<Outgoing>>) -> Result<(), WebSocketError> {
    let (reader, mut writer) = open(upgraded).await?.split(|stream| {
        let (read, write) = tokio::io::split(stream);
        (read, BufWriter::with_capacity(WRITE_BUFFER, write))
    });
    let mut reader = FragmentCollectorRead::new(reader);
    let (member, mut queue) = hub.join();
    let writing = tokio::spawn(tokio::task::unconstrained(async move {
        while let Some(first) = queue.recv().await {
            let mut next = Some(first);
            while let Some(out) = next {
                let frame = Frame::new(true, out.opcode, None, Payload::Borrowed(&out.payload));
                writer.write_frame(frame).await?;
                if out.opcode == OpCode::Close {
                    return writer.flush().await;
                }
                next = queue.try_recv().ok();
            }
            writer.flush().await?;
        }
        Ok::<(), WebSocketError>(())
    }));
    let read = read_broadcasts(&mut reader, &member, &hub).await;
    // Leaving the hub ends the writer once its queue is drained.
    drop(member);
    let written = writing.await.unwrap_or(Ok(()));
    read.and(written)
}

async fn read_broadcasts<S>(
    reader: &mut FragmentCollectorRead<S>,
    member: &Member<Outgoing>,
    hub: &Hub<Outgoing>,
) -> Result<(), WebSocketError>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut reply = |frame: Frame<'_>| std::future::ready(member.send_to_self(Outgoing::of(frame)));
    loop {
        let frame = reader.read_frame(&mut reply).await?;
        match frame.opcode {
            OpCode::Text | OpCode::Binary => hub.send_to_every(&Outgoing::of(frame)),
            OpCode::Close => return Ok(()),
            _ => {}
        }
    }
}

/// The client went away (rs-load drops its connections at the end of a run).
fn is_hangup(e: &WebSocketError) -> bool {
    use std::io::ErrorKind;
    match e {
        WebSocketError::ConnectionClosed | WebSocketError::UnexpectedEOF => true,
        WebSocketError::IoError(io) => matches!(
            io.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}
