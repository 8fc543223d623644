//! The HTTP upgrade: parsing the request, routing it to an app's endpoint,
//! and either opening a WebSocket session with the app or refusing the
//! request with an HTTP error response.

use std::sync::Arc;
use std::time::SystemTime;

use rs_app::wire::{InboundKind, OpenDetails};
use rs_http::{
    HandshakeError, HttpDate, Progress, write_error_response, write_switching_protocols,
};
use rs_proto::Decoder;

use crate::output::Frame;

use super::Worker;

// A configured subprotocol and header name fit `OpenDetails`' one-byte
// lengths, and any part of a request its four-byte ones.
const _: () = assert!(rs_conf::MAX_SUBPROTOCOL_LEN <= u8::MAX as usize);
const _: () = assert!(rs_conf::MAX_APP_HEADER_LEN <= u8::MAX as usize);
const _: () = assert!(rs_conf::defaults::MAX_MAX_HTTP_REQUEST_SIZE <= u32::MAX as usize);
use super::conn::{NOT_MEMBER, Phase, Session};
use super::to_apps::{MAX_BACKLOG, MAX_BACKLOG_BYTES, notify};

impl Worker {
    /// Handles bytes read from a connection still in its HTTP handshake.
    #[inline(never)]
    pub(super) fn process_handshake(&mut self, slot: u32, input: &mut [u8]) {
        let Some(conn) = self.slots[slot as usize].conn.as_mut() else {
            return;
        };
        let (port, scheme) = (conn.port, conn.stream.scheme());
        let Phase::Handshake(parser, routes) = &mut conn.phase else {
            return;
        };
        // The version of the routes taken at accept, whatever a reload does.
        let routes = Arc::clone(routes);
        let progress = parser.push_keeping(input, &routes.kept_headers);
        let head = parser.refused_head();
        match progress {
            Ok(Progress::Incomplete) => {}
            Ok(Progress::Complete { request, consumed }) => {
                match routes.router.route(&request, port, scheme) {
                    Ok(endpoint) if self.apps[usize::from(endpoint.app)].is_swamped() => {
                        let link = &self.apps[usize::from(endpoint.app)];
                        let (waiting, bytes) = (link.backlog.len(), link.backlog_bytes);
                        self.busy_refusals.record(self.index, || {
                            format!(
                                "the app at {} has {waiting} messages ({bytes} bytes) waiting \
                                 for its ring (at most {MAX_BACKLOG}, {MAX_BACKLOG_BYTES} \
                                 bytes); refusing its new clients with 503",
                                request.path()
                            )
                        });
                        self.refuse_handshake(slot, HandshakeError::AppBusy, false, "");
                    }
                    Ok(endpoint) => {
                        let (app, endpoint_id) = (endpoint.app, endpoint.endpoint_id);
                        let subprotocol = request.select_subprotocol(&endpoint.subprotocols);
                        let mut response = Vec::new();
                        write_switching_protocols(
                            &request.accept_key(),
                            subprotocol,
                            &mut response,
                        );
                        let headers: Vec<_> = endpoint
                            .app_headers
                            .iter()
                            .filter_map(|name| Some((&**name, request.header(name)?)))
                            .collect();
                        let mut details = Vec::new();
                        OpenDetails::write(
                            &mut details,
                            subprotocol.map(|s| s.as_str()),
                            request.query(),
                            headers.iter().map(|(name, value)| (*name, &**value)),
                        );
                        self.open_session(slot, app, endpoint_id, &response, &details);
                        self.process(slot, &mut input[consumed..]);
                    }
                    // A GET request (it was validated).
                    Err(error) => {
                        // What an operator needs to tell a typo in a URL or
                        // a missing allowed_origins entry from an attack.
                        // (Quoted and cut short: the client chose them.)
                        // Built only for the log (a flood of refusals).
                        let path = shortened(request.path());
                        let why = match error {
                            _ if !log::log_enabled!(log::Level::Debug) => String::new(),
                            HandshakeError::ForbiddenOrigin => format!(
                                " for {path:?} (Origin {:?} is not among the endpoint's \
                                 allowed_origins)",
                                shortened(request.origin().unwrap_or_default())
                            ),
                            _ => format!(
                                " for {path:?} on port {port} (Host {:?})",
                                shortened(request.host())
                            ),
                        };
                        self.refuse_handshake(slot, error, false, &why);
                    }
                }
            }
            Err(error) => self.refuse_handshake(slot, error, head, ""),
        }
    }

    /// Answers `error` (without content to a `head` request) and closes;
    /// `why` completes the log line (what was asked for).
    fn refuse_handshake(&mut self, slot: u32, error: HandshakeError, head: bool, why: &str) {
        let mut response = Vec::new();
        let now = HttpDate::from(SystemTime::now());
        write_error_response(&error, head, now, &mut response);
        if let Some(conn) = self.conn(slot) {
            log::debug!(
                "{}: refusing a handshake{why}: {} {error}",
                conn.peer,
                error.status()
            );
        }
        self.send(slot, &mut Frame::new(&response));
        self.finish(slot, self.limits.handshake_timeout, true);
    }

    /// Opens the session, tells the app (with the handshake's `details`,
    /// see [`OpenDetails`]), and sends the `101` `response`.
    fn open_session(
        &mut self,
        slot: u32,
        app: u16,
        endpoint_id: u16,
        response: &[u8],
        details: &[u8],
    ) {
        // An app told of its clients makes each a member when it is (its
        // join record, written before its open callback runs): what it sent
        // every client before then does not reach this one. Without open
        // notices, a client is one from its handshake.
        let member = if self.apps[usize::from(app)].send_open {
            NOT_MEMBER
        } else {
            let members = &mut self.members[usize::from(app)];
            members.push(slot);
            members.len() - 1
        };
        let frames = self.limits.frames;
        let Some(conn) = self.conn(slot) else { return };
        conn.phase = Phase::Open(Session {
            decoder: Decoder::new(frames).lending_masked(),
            app,
            endpoint_id,
            member,
        });
        conn.deadline = None;
        let (id, peer) = (conn.id, conn.peer);
        // The app hears of the client before the 101 is written: if the
        // write finds the client gone, the close notice it causes must come
        // after the open one, or the app would keep the client for good.
        // (The app's first reply cannot overtake the 101: replies are read
        // from the ring only after this returns.)
        if self.apps[usize::from(app)].send_open {
            notify(
                &mut self.apps[usize::from(app)],
                InboundKind::Open,
                id,
                endpoint_id,
                peer,
                details,
            );
        }
        self.send(slot, &mut Frame::new(response));
    }
}

/// The first 200 bytes of `text` at most (cut at a character boundary), for
/// log lines that show what a client sent.
fn shortened(text: &str) -> &str {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
