//! Which endpoint a request path names.

/// What a connection does with the messages it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Send each message back to its sender (any path but `/broadcast`).
    Echo,
    /// Send each message to every connected broadcast client, the sender
    /// included (`/broadcast`).
    Broadcast,
}

impl Route {
    /// The route of a request path (the query, if any, already removed).
    pub fn of(path: &str) -> Self {
        if path == "/broadcast" {
            Self::Broadcast
        } else {
            Self::Echo
        }
    }
}
