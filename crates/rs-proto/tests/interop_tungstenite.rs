//! Cross-checks against an independent implementation: frames that
//! tungstenite formats as a client decode to the same messages here, and
//! frames encoded here read back as the same messages in a tungstenite client.

mod support;

use std::io::{self, Read, Write};

use rs_proto::{CloseCode, DataKind, Decoder, Opcode, encode_close, encode_frame};
use support::{Owned, decode_chunked};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};
use tungstenite::protocol::{Role, WebSocket};
use tungstenite::{Bytes, Message};

fn tungstenite_client_frame(
    opcode: OpCode,
    is_final: bool,
    payload: &[u8],
    key: [u8; 4],
) -> Vec<u8> {
    let header = FrameHeader {
        is_final,
        opcode,
        mask: Some(key),
        ..FrameHeader::default()
    };
    let mut out = Vec::new();
    Frame::from_payload(header, Bytes::copy_from_slice(payload))
        .format(&mut out)
        .unwrap();
    out
}

#[test]
fn tungstenite_client_frames_decode_to_the_same_messages() {
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let mut wire = Vec::new();
    wire.extend(tungstenite_client_frame(
        OpCode::Data(Data::Text),
        true,
        "grüße".as_bytes(),
        [1, 2, 3, 4],
    ));
    wire.extend(tungstenite_client_frame(
        OpCode::Data(Data::Binary),
        false,
        &big[..300],
        [5, 6, 7, 8],
    ));
    wire.extend(tungstenite_client_frame(
        OpCode::Control(Control::Ping),
        true,
        b"are you there",
        [9, 9, 9, 9],
    ));
    wire.extend(tungstenite_client_frame(
        OpCode::Data(Data::Continue),
        true,
        &big[300..],
        [0xff, 0, 0xff, 0],
    ));
    wire.extend(tungstenite_client_frame(
        OpCode::Control(Control::Close),
        true,
        b"\x03\xe8bye",
        [4, 3, 2, 1],
    ));
    for chunks in [&[usize::MAX][..], &[1], &[1000, 7]] {
        let outcome = decode_chunked(Decoder::default(), &wire, chunks);
        assert_eq!(outcome.error, None);
        assert_eq!(
            outcome.events,
            [
                Owned::text("grüße"),
                Owned::Ping(b"are you there".to_vec()),
                Owned::Message(DataKind::Binary, big.clone()),
                Owned::Close(Some((1000, "bye".into()))),
            ]
        );
    }
}

/// An in-memory stream: reads come from `input`, writes are discarded.
struct Memory {
    input: io::Cursor<Vec<u8>>,
}

impl Read for Memory {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.input.read(buf)? {
            0 if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }
}

impl Write for Memory {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn server_frames_encoded_here_read_back_in_a_tungstenite_client() {
    let big = vec![0xa5u8; 70_000];
    let mut wire = Vec::new();
    encode_frame(&mut wire, Opcode::Text, "κόσμε".as_bytes()).unwrap();
    encode_frame(&mut wire, Opcode::Binary, &big).unwrap();
    encode_frame(&mut wire, Opcode::Binary, &big[..200]).unwrap();
    encode_frame(&mut wire, Opcode::Pong, b"pong").unwrap();
    encode_close(&mut wire, CloseCode::GOING_AWAY, "server shutdown");

    let mut client = WebSocket::from_raw_socket(
        Memory {
            input: io::Cursor::new(wire),
        },
        Role::Client,
        None,
    );
    assert_eq!(client.read().unwrap(), Message::text("κόσμε"));
    assert_eq!(client.read().unwrap(), Message::binary(big.clone()));
    assert_eq!(client.read().unwrap(), Message::binary(big[..200].to_vec()));
    assert_eq!(
        client.read().unwrap(),
        Message::Pong(Bytes::from_static(b"pong"))
    );
    match client.read().unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 1001);
            assert_eq!(frame.reason.as_str(), "server shutdown");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}
