//! The clients an app has closed: what they sent before they learnt it is
//! not read.
//!
//! An app closes a client by returning a close code from its open or read
//! callback, with `close_client`, or through the server (a message no read
//! case takes, a panic under `close_client_on_panic`). The worker stops
//! reading that client once the close frame reaches it, but the messages it
//! forwarded before are already in the app's ring: a client refused by its
//! open callback (a bad token) may have sent its first messages right
//! behind its handshake. Those are dropped instead of reaching the read
//! callback as if the client had been let in.

use crate::wire::ClientId;

/// Each worker's connection slots as the app last heard of them: the
/// generation of the slot's client (0, which no client has, for none yet)
/// and whether the app closed it. Only a client the app has heard of is
/// marked closed, so an id of a client gone (its slot has a newer one) or
/// not yet there (a guessed id the worker ignores) silences no one.
#[derive(Debug, Default)]
pub(crate) struct ClosedClients {
    by_worker: Vec<Vec<Heard>>,
    /// Slots are counted from 0 up to the most connections a worker can
    /// hold (`fd_alloc_c`): a slot beyond is no client's, and is not kept.
    max_slots: u32,
}

/// A slot's client as the app last heard of it.
#[derive(Clone, Copy, Debug, Default)]
struct Heard {
    generation: u32,
    closed: bool,
}

impl ClosedClients {
    /// Room for `worker_c` workers of at most `max_slots` connections each.
    pub(crate) fn new(worker_c: usize, max_slots: u64) -> Self {
        Self {
            by_worker: vec![Vec::new(); worker_c],
            max_slots: u32::try_from(max_slots).unwrap_or(u32::MAX),
        }
    }

    /// Whether a message of `client` is to be read: not if the app closed
    /// it. Notes a client not heard of before (its slot's new one).
    #[inline(always)]
    pub(crate) fn may_read(&mut self, client: ClientId) -> bool {
        match self.heard(client) {
            Some(heard) if heard.generation == client.generation() => !heard.closed,
            _ => {
                self.note(client);
                true
            }
        }
    }

    /// Notes `client`, just opened (or first heard of), as not closed.
    #[cold]
    pub(crate) fn note(&mut self, client: ClientId) {
        let Some(slots) = self.by_worker.get_mut(usize::from(client.worker())) else {
            return;
        };
        let slot = client.slot();
        if slot >= self.max_slots {
            return;
        }
        let slot = slot as usize;
        if slots.len() <= slot {
            slots.resize(slot + 1, Heard::default());
        }
        slots[slot] = Heard {
            generation: client.generation(),
            closed: false,
        };
    }

    /// Notes that the app closed `client`, if it is the client it heard of
    /// in that slot.
    pub(crate) fn close(&mut self, client: ClientId) {
        if let Some(heard) = self.heard(client)
            && heard.generation == client.generation()
        {
            heard.closed = true;
        }
    }

    fn heard(&mut self, client: ClientId) -> Option<&mut Heard> {
        self.by_worker
            .get_mut(usize::from(client.worker()))?
            .get_mut(client.slot() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(worker: u16, slot: u32, generation: u32) -> ClientId {
        ClientId::new(worker, slot, generation).unwrap()
    }

    #[test]
    fn a_closed_client_is_read_no_more_and_its_slots_next_client_is() {
        let mut closed = ClosedClients::new(2, 100);
        closed.note(id(1, 7, 3));
        assert!(closed.may_read(id(1, 7, 3)));
        closed.close(id(1, 7, 3));
        assert!(!closed.may_read(id(1, 7, 3)));
        // The same slot of the other worker, another slot.
        assert!(closed.may_read(id(0, 7, 3)) && closed.may_read(id(1, 6, 3)));
        // The slot's next client, heard of first by a message.
        assert!(closed.may_read(id(1, 7, 4)));
        assert!(closed.may_read(id(1, 7, 4)));
    }

    #[test]
    fn ids_of_clients_gone_or_not_yet_there_silence_no_one() {
        let mut closed = ClosedClients::new(1, 100);
        closed.note(id(0, 5, 2));
        // Not yet there: its slot's next client.
        closed.close(id(0, 5, 3));
        assert!(closed.may_read(id(0, 5, 2)));
        assert!(closed.may_read(id(0, 5, 3)));
        // Gone: the client before, closed after the slot's client was.
        closed.close(id(0, 5, 3));
        closed.close(id(0, 5, 2));
        assert!(!closed.may_read(id(0, 5, 3)));
        // Never heard of at all.
        closed.close(id(0, 9, 1));
        assert!(closed.may_read(id(0, 9, 1)));
    }

    #[test]
    fn ids_no_worker_could_have_are_not_kept() {
        let mut closed = ClosedClients::new(2, 100);
        for client in [id(2, 0, 1), id(0, 100, 1), id(0, 4_000_000, 1)] {
            closed.note(client);
            closed.close(client);
            assert!(closed.may_read(client));
        }
        assert!(closed.by_worker.iter().all(Vec::is_empty));
    }
}
