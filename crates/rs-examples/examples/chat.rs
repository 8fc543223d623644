//! chat: a chat room per endpoint.
//!
//! Each text message is relayed as `"<who>: <text>"` to the other clients
//! of the sender's endpoint; joins and leaves are announced to them as
//! `"<who> joined"` and `"<who> left"`. `<who>` is the name the client gave
//! in its URL's query (`/chat?name=Ann`, see [`name_from`]), or else its
//! client id. Names are not unique and prove nothing: anyone may take any.
//! In a text, each character that would break or reorder a line (see
//! [`breaks_a_line`]) is shown as U+FFFD, so that no text passes for another
//! member's line. Binary messages are refused (4901).

use std::collections::HashMap;

use rs_app::prelude::*;

/// The clients of each endpoint, in the order they joined, and the names
/// they gave.
#[derive(Default)]
struct Rooms {
    members: HashMap<u16, Vec<ClientId>>,
    names: HashMap<ClientId, String>,
    /// The recipients of the message being sent, reused from one to the
    /// next.
    others: Vec<ClientId>,
}

/// The longest name a client may give, in characters.
const MAX_NAME: usize = 32;

impl Rooms {
    /// Writes how `client` is shown to the others: its name, or its id.
    fn write_who(&self, out: &mut Outbox, client: ClientId) {
        match self.names.get(&client) {
            Some(name) => out.w_str(name),
            None => {
                let _ = write!(out, "{client}");
            }
        }
    }

    /// Sends what `out` holds to the members of `endpoint` but `me`.
    fn send_to_others(
        &mut self,
        out: &mut Outbox,
        endpoint: u16,
        me: ClientId,
    ) -> Result<(), SendError> {
        let members = self.members.get(&endpoint).map_or(&[][..], Vec::as_slice);
        self.others.clear();
        self.others
            .extend(members.iter().copied().filter(|&c| c != me));
        out.to_multi(DataKind::Utf8, &self.others)
    }
}

/// The close code for a client whose text, as shown, is larger than the
/// server can send (its control characters each take three bytes shown).
const TOO_LARGE_FOR_THE_ROOM: i32 = 4009;

/// Whether `c` would break a line or reorder what follows it: control
/// characters, line and paragraph separators, and the bidirectional
/// embeddings, overrides and isolates. (Joiners, variation selectors and
/// the like are left alone: emoji and many scripts need them.)
fn breaks_a_line(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}'..='\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` shows nothing by itself (zero-width spaces, joiners and
/// marks, the soft hyphen, variation selectors, tags...): with one, "2"
/// and "2\u{200b}" look the same.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}'
        | '\u{17b5}' | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{206f}'
        | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}' | '\u{fff0}'..='\u{fffb}'
        | '\u{e0000}'..='\u{e0fff}')
}

/// `given` trimmed, if it can be shown as a name: 1 to [`MAX_NAME`]
/// characters, not all digits of any script (it would pass for a client
/// id), no `:` (it would fake a message's sender), nothing that
/// [`breaks_a_line`], and nothing [`invisible`] (with which a name could
/// pass for another, an id among them; emoji that need a joiner or a
/// selector are not names here).
fn name_from(given: &str) -> Option<String> {
    let name = given.trim();
    let fits = !name.is_empty() && name.chars().count() <= MAX_NAME;
    let an_id = name.chars().all(char::is_numeric);
    let honest = !name
        .chars()
        .any(|c| c == ':' || breaks_a_line(c) || invisible(c));
    (fits && !an_id && honest).then(|| name.to_owned())
}

fn join(rs: &mut Open<Rooms>) -> i32 {
    let (endpoint, me) = (rs.endpoint_id(), rs.client_id());
    let name = rs.query_param("name").and_then(|n| name_from(&n));
    let (rooms, mut out) = rs.split();
    rooms.members.entry(endpoint).or_default().push(me);
    if let Some(name) = name {
        rooms.names.insert(me, name);
    }
    rooms.write_who(&mut out, me);
    out.w_str(" joined");
    rooms
        .send_to_others(&mut out, endpoint, me)
        .map_or_else(SendError::status, |()| 0)
}

fn say(rs: &mut Read<Rooms>, text: &str) -> i32 {
    let (endpoint, me) = (rs.endpoint_id(), rs.client_id());
    let (rooms, mut out) = rs.split();
    rooms.write_who(&mut out, me);
    out.w_str(": ");
    // Written in runs, each character that breaks a line shown as U+FFFD:
    // nothing is allocated per message.
    for (i, run) in text.split(breaks_a_line).enumerate() {
        if i > 0 {
            out.w_str("\u{fffd}");
        }
        out.w_str(run);
    }
    match rooms.send_to_others(&mut out, endpoint, me) {
        Ok(()) => 0,
        // A long list of recipients is split, but a text grows as it is
        // shown: the sender's doing, not the app's.
        Err(SendError::TooLarge) => TOO_LARGE_FOR_THE_ROOM,
        Err(e) => e.status(),
    }
}

fn leave(rs: &mut Close<Rooms>) -> i32 {
    let (endpoint, me) = (rs.endpoint_id(), rs.client_id());
    let (rooms, mut out) = rs.split();
    if let Some(members) = rooms.members.get_mut(&endpoint) {
        members.retain(|&c| c != me);
    }
    rooms.write_who(&mut out, me);
    out.w_str(" left");
    rooms.names.remove(&me);
    rooms
        .send_to_others(&mut out, endpoint, me)
        .map_or_else(SendError::status, |()| 0)
}

rs_app! {
    state: Rooms,
    init: none,
    open: join,
    read: utf8(say, text()),
    close: leave,
    timer: none,
}
