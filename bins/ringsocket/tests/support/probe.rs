//! The probe app (rs-examples' `probe`): its clients, and the messages
//! that ask it for one of its cases (the first byte; see the app's source
//! for every case).

use tungstenite::Message;

use super::{Client, Server, connect, next_message, welcome_id};

/// Connects to the probe app on `/probe` and returns the client and the id
/// its welcome gave it.
pub fn probe_client(server: &Server) -> (Client, u64) {
    let mut client = connect(&server.url("/probe"));
    let Message::Text(welcome) = next_message(&mut client) else {
        panic!("no welcome")
    };
    (client, welcome_id(&welcome))
}

/// (worker, slot, generation) of a client id.
pub fn id_parts(id: u64) -> (u64, u64, u64) {
    let id = rs_app::wire::ClientId::from_u64(id)
        .unwrap_or_else(|| panic!("{id} is no client id (0, or generation 0)"));
    (id.worker().into(), id.slot().into(), id.generation().into())
}

/// Case 5: "t<target>" sent to `target` with these ids.
pub fn target_case(target: u8, ids: &[u64]) -> Vec<u8> {
    let mut message = vec![5, target];
    for id in ids {
        message.extend_from_slice(&id.to_be_bytes());
    }
    message
}

/// Case 7: close client `id` with `code`.
pub fn close_case(id: u64, code: u16) -> Vec<u8> {
    [&[7][..], &id.to_be_bytes(), &code.to_be_bytes()].concat()
}

/// Case 11: `count` binary frames, each holding its index (u16).
pub fn burst_case(count: u16) -> Vec<u8> {
    [&[11][..], &count.to_be_bytes()].concat()
}

/// Case 12: the app sleeps `ms`, then replies an empty binary frame.
pub fn stall_case(ms: u16) -> Vec<u8> {
    [&[12][..], &ms.to_be_bytes()].concat()
}

/// Case 13: one binary frame of `kib` KiB.
pub fn big_case(kib: u16) -> Vec<u8> {
    [&[13][..], &kib.to_be_bytes()].concat()
}

/// [`target_case`] as a message.
pub fn probe_target(target: u8, ids: &[u64]) -> Message {
    Message::binary(target_case(target, ids))
}

/// [`close_case`] as a message.
pub fn probe_close(id: u64, code: u16) -> Message {
    Message::binary(close_case(id, code))
}

/// [`stall_case`] as a message.
pub fn probe_stall(ms: u16) -> Message {
    Message::binary(stall_case(ms))
}

/// A message's text, or what it is if not text.
pub fn text(message: &Message) -> String {
    match message {
        Message::Text(t) => t.to_string(),
        other => format!("{other:?}"),
    }
}
