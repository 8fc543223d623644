//! The broadcast clients: each has an unbounded queue drained by its own
//! writer task, so one reader can hand a message to every client without
//! waiting for any socket.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Every connected broadcast client's queue.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// let hub = Arc::new(peer_common::Hub::default());
/// let (a, mut a_queue) = hub.join();
/// let (_b, mut b_queue) = hub.join();
/// hub.send_to_every(&"hi");
/// assert_eq!((a_queue.recv().await, b_queue.recv().await), (Some("hi"), Some("hi")));
/// drop(a);
/// assert_eq!(a_queue.recv().await, None);
/// # });
/// ```
pub struct Hub<T> {
    clients: Mutex<HashMap<u64, UnboundedSender<T>>>,
    next_id: AtomicU64,
}

impl<T> Default for Hub<T> {
    fn default() -> Self {
        Self {
            clients: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }
}

impl<T: Clone> Hub<T> {
    /// Adds a client: messages for it arrive on the receiver, until the
    /// [`Member`] is dropped (then the receiver ends once drained).
    pub fn join(self: &Arc<Self>) -> (Member<T>, UnboundedReceiver<T>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = unbounded_channel();
        self.lock().insert(id, sender.clone());
        let member = Member {
            hub: Arc::clone(self),
            id,
            own: sender,
        };
        (member, receiver)
    }

    /// Queues `message` for every client. A client whose writer has
    /// stopped is skipped; it leaves when its reader ends.
    pub fn send_to_every(&self, message: &T) {
        for sender in self.lock().values() {
            // An error only means that client's writer is gone.
            let _ = sender.send(message.clone());
        }
    }

    /// The number of clients.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, UnboundedSender<T>>> {
        // A panic elsewhere cannot leave the map half-updated: every
        // operation on it is a single call.
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One client's place in the [`Hub`]; dropping it removes the client.
pub struct Member<T> {
    hub: Arc<Hub<T>>,
    id: u64,
    own: UnboundedSender<T>,
}

impl<T> Member<T> {
    /// Queues `message` for this client only (a pong or a close reply),
    /// behind whatever is queued already.
    pub fn send_to_self(&self, message: T) -> Result<(), Gone> {
        self.own.send(message).map_err(|_| Gone)
    }
}

impl<T> Drop for Member<T> {
    fn drop(&mut self) {
        self.hub
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// The client's writer has stopped (its socket failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gone;

impl fmt::Display for Gone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the connection's writer has stopped")
    }
}

impl std::error::Error for Gone {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_gets_every_message_in_order() {
        let hub = Arc::new(Hub::default());
        let (_a, mut qa) = hub.join();
        let (_b, mut qb) = hub.join();
        hub.send_to_every(&1);
        hub.send_to_every(&2);
        assert_eq!((qa.try_recv(), qa.try_recv()), (Ok(1), Ok(2)));
        assert_eq!((qb.try_recv(), qb.try_recv()), (Ok(1), Ok(2)));
    }

    #[test]
    fn a_dropped_member_leaves_and_its_queue_ends() {
        let hub = Arc::new(Hub::default());
        let (a, mut qa) = hub.join();
        let (_b, _qb) = hub.join();
        assert_eq!(hub.len(), 2);
        a.send_to_self(7).unwrap();
        drop(a);
        assert_eq!(hub.len(), 1);
        hub.send_to_every(&8);
        assert_eq!(qa.try_recv(), Ok(7));
        assert!(qa.try_recv().is_err());
    }

    #[test]
    fn send_to_self_fails_once_the_writer_is_gone() {
        let hub = Arc::new(Hub::default());
        let (a, qa) = hub.join();
        drop(qa);
        assert_eq!(a.send_to_self(1), Err(Gone));
        hub.send_to_every(&2);
    }
}
