//! A value all workers read and a reload replaces whole: the certificates
//! and the endpoints. Each reader takes the version in use and keeps it for
//! what it is doing (a TLS session, a handshake).

use std::sync::{Arc, PoisonError, RwLock};

#[derive(Debug)]
pub(crate) struct Current<T>(RwLock<Arc<T>>);

impl<T> Current<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(RwLock::new(Arc::new(value)))
    }

    /// The version in use now.
    pub(crate) fn get(&self) -> Arc<T> {
        // A poisoned lock still holds a whole `Arc`: writes are one store.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes `value` the version in use; readers keep theirs.
    pub(crate) fn set(&self, value: T) {
        let value = Arc::new(value);
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = value;
    }
}
