//! Test support: a client frame writer written independently of the crate's
//! encoder, and a driver that feeds a decoder in chunks.

#![allow(dead_code, unreachable_pub)]

use rs_proto::{DataKind, Decoder, Event, ProtocolError};

pub const FIN: u8 = 0x80;
pub const CONT: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

pub const KEY: [u8; 4] = [0x9d, 0x01, 0x7e, 0xc3];

/// How a frame states its payload length.
#[derive(Clone, Copy, Debug)]
pub enum LenForm {
    /// The shortest form, as the RFC asks senders to use.
    Minimal,
    /// The 16-bit form (code 126), whatever the length.
    Ext16,
    /// The 64-bit form (code 127), whatever the length.
    Ext64,
}

/// A masked client frame with first byte `b0`.
pub fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    masked_with(b0, payload, KEY, LenForm::Minimal)
}

/// A masked client frame with an explicit key and length form.
pub fn masked_with(b0: u8, payload: &[u8], key: [u8; 4], form: LenForm) -> Vec<u8> {
    let mut out = vec![b0];
    push_len(&mut out, 0x80, payload.len() as u64, form);
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// An unmasked frame, as only a server may send.
pub fn unmasked(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![b0];
    push_len(&mut out, 0, payload.len() as u64, LenForm::Minimal);
    out.extend_from_slice(payload);
    out
}

fn push_len(out: &mut Vec<u8>, mask_bit: u8, len: u64, form: LenForm) {
    match form {
        LenForm::Minimal if len < 126 => out.push(mask_bit | len as u8),
        LenForm::Minimal | LenForm::Ext16 if len <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

/// A close payload: code then reason bytes.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(reason);
    out
}

/// An event with owned data, to compare across calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    Message(DataKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

impl Owned {
    pub fn text(s: &str) -> Self {
        Self::Message(DataKind::Text, s.as_bytes().to_vec())
    }

    pub fn binary(b: &[u8]) -> Self {
        Self::Message(DataKind::Binary, b.to_vec())
    }

    /// The event, owned; a masked message is unmasked (which checks a text
    /// message's UTF-8, the error then).
    fn from_event(event: Event<'_>) -> Result<Self, ProtocolError> {
        Ok(match event {
            Event::Message { kind, payload } => Self::Message(kind, payload.to_vec()),
            Event::MaskedMessage(masked) => Self::Message(masked.kind(), masked.to_vec()?),
            Event::Ping(p) => Self::Ping(p.to_vec()),
            Event::Pong(p) => Self::Pong(p.to_vec()),
            Event::Close(c) => Self::Close(c.map(|c| (c.code.get(), c.reason.to_owned()))),
        })
    }
}

/// What a decoder made of a byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub events: Vec<Owned>,
    pub error: Option<ProtocolError>,
}

/// Feeds `wire` to a fresh decoder in chunks of the given sizes (the last
/// size repeats), collecting events until the end or the first error.
pub fn decode_chunked(mut decoder: Decoder, wire: &[u8], sizes: &[usize]) -> Outcome {
    let mut wire = wire.to_vec();
    let mut events = Vec::new();
    let mut start = 0;
    let mut sizes = sizes
        .iter()
        .copied()
        .chain(std::iter::repeat(*sizes.last().unwrap_or(&usize::MAX)));
    while start < wire.len() {
        let end = start
            .saturating_add(sizes.next().unwrap_or(1).max(1))
            .min(wire.len());
        let mut pos = start;
        while pos < end {
            match decoder.decode(&mut wire[pos..end]) {
                Ok(decoded) => {
                    assert!(
                        decoded.event.is_some() || pos + decoded.consumed == end,
                        "no event but input left over"
                    );
                    assert!(
                        decoded.consumed > 0 || decoded.event.is_some(),
                        "no progress"
                    );
                    pos += decoded.consumed;
                    match decoded.event.map(Owned::from_event).transpose() {
                        Ok(event) => events.extend(event),
                        Err(error) => {
                            return Outcome {
                                events,
                                error: Some(error),
                            };
                        }
                    }
                }
                Err(error) => {
                    return Outcome {
                        events,
                        error: Some(error),
                    };
                }
            }
        }
        start = end;
    }
    Outcome {
        events,
        error: None,
    }
}

/// Decodes `wire` whole and one byte at a time, each also with a decoder
/// lending whole messages masked, asserts all four agree, and returns the
/// outcome.
pub fn decode_all(decoder: Decoder, wire: &[u8]) -> Outcome {
    let whole = decode_chunked(decoder.clone(), wire, &[usize::MAX]);
    let bytewise = decode_chunked(decoder.clone(), wire, &[1]);
    assert_eq!(whole, bytewise, "chunking changed the outcome");
    let lending = decoder.lending_masked();
    let lent_whole = decode_chunked(lending.clone(), wire, &[usize::MAX]);
    assert_eq!(
        whole, lent_whole,
        "lending masked messages changed the outcome"
    );
    let lent_bytewise = decode_chunked(lending, wire, &[1]);
    assert_eq!(
        whole, lent_bytewise,
        "lending masked messages changed the outcome"
    );
    whole
}

/// Decodes with default limits (whole and byte by byte).
pub fn decode(wire: &[u8]) -> Outcome {
    decode_all(Decoder::default(), wire)
}
