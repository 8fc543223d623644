//! The server side of apps: loading an app ([`App::load`]) and running its
//! thread ([`AppThread`]), which consumes every worker's inbound ring, calls
//! the app's callbacks, and turns what the app sends into frames on the
//! workers' outbound rings.

mod api;
mod app_log;
mod closed;
mod load;
mod pace;
mod thread;

pub use load::{App, LoadError, LoadErrorKind};
pub use thread::{AppError, AppSettings, AppThread, StopHandle};
