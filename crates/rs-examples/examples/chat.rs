//! chat: a chat room per endpoint.
//!
//! Each text message is relayed as `"<id>: <text>"` to the other clients of
//! the sender's endpoint; joins and leaves are announced to them as
//! `"<id> joined"` and `"<id> left"`. Binary messages are refused (4901).

use std::collections::HashMap;

use rs_app::prelude::*;

/// The clients of each endpoint, in the order they joined.
#[derive(Default)]
struct Rooms {
    members: HashMap<u16, Vec<ClientId>>,
}

impl Rooms {
    fn others(&self, endpoint: u16, me: ClientId) -> Vec<ClientId> {
        self.members.get(&endpoint).map_or_else(Vec::new, |m| {
            m.iter().copied().filter(|&c| c != me).collect()
        })
    }
}

/// Sends what was written to the other members of the current endpoint.
fn to_room(rs: &mut impl Room) -> i32 {
    let others = rs.others();
    match rs.send(&others) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// What open, read and close have in common here.
trait Room {
    fn others(&mut self) -> Vec<ClientId>;
    fn send(&mut self, to: &[ClientId]) -> Result<(), SendError>;
}

macro_rules! room {
    ($ctx:ident) => {
        impl Room for $ctx<'_, Rooms> {
            fn others(&mut self) -> Vec<ClientId> {
                let (endpoint, me) = (self.endpoint_id(), self.client_id());
                self.state().others(endpoint, me)
            }

            fn send(&mut self, to: &[ClientId]) -> Result<(), SendError> {
                self.to_multi(DataKind::Utf8, to)
            }
        }
    };
}

room!(Open);
room!(Read);
room!(Close);

fn join(rs: &mut Open<Rooms>) -> i32 {
    let (endpoint, me) = (rs.endpoint_id(), rs.client_id());
    rs.state().members.entry(endpoint).or_default().push(me);
    rs.w_str(&format!("{me} joined"));
    to_room(rs)
}

fn say(rs: &mut Read<Rooms>, text: &str) -> i32 {
    let me = rs.client_id();
    rs.w_str(&format!("{me}: {text}"));
    to_room(rs)
}

fn leave(rs: &mut Close<Rooms>) -> i32 {
    let (endpoint, me) = (rs.endpoint_id(), rs.client_id());
    if let Some(members) = rs.state().members.get_mut(&endpoint) {
        members.retain(|&c| c != me);
    }
    rs.w_str(&format!("{me} left"));
    to_room(rs)
}

rs_app! {
    state: Rooms,
    init: none,
    open: join,
    read: utf8(say, text()),
    close: leave,
    timer: none,
}
