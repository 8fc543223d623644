//! The root object's scalar settings.

use crate::defaults;
use crate::error::{ErrorKind, Errors};
use crate::extract::Obj;
use crate::model::LogLevel;
use crate::value::{Value, quote};

/// The global (root-level scalar) settings.
pub(crate) struct Globals {
    pub(super) log_level: Option<LogLevel>,
    pub(super) worker_c: Option<Option<usize>>,
    pub(super) shutdown_wait_http: Option<u32>,
    pub(super) shutdown_wait_ws: Option<u32>,
    pub(super) idle_timeout: Option<u32>,
    pub(super) fd_alloc_c: Option<usize>,
    pub(crate) max_ws_msg_size: Option<usize>,
    pub(super) max_ws_frame_chain_size: Option<usize>,
    pub(super) realloc_multiplier: Option<f64>,
    pub(super) worker_rbuf_size: Option<usize>,
    pub(super) inbound_ring_buf_size: Option<usize>,
    pub(super) outbound_ring_buf_size: Option<usize>,
    pub(super) owrefs_elem_c: Option<usize>,
    pub(super) epoll_buf_elem_c: Option<usize>,
    pub(super) update_queue_size: Option<usize>,
    pub(super) user: Option<String>,
    pub(super) max_pending_output: Option<usize>,
    pub(super) max_pending_output_total: Option<usize>,
    pub(super) max_partial_msgs_size: Option<usize>,
    pub(super) max_http_request_size: Option<usize>,
    pub(super) max_conns_per_ip: Option<Option<usize>>,
}

pub(super) fn parse_globals(errs: &mut Errors<'_>, root: &Obj<'_>) -> Globals {
    let log_level = root
        .string(
            errs,
            "log_level",
            "one of \"error\", \"warning\", \"notice\", \"info\", \"debug\"",
        )
        .and_then(|s| {
            let level = LogLevel::from_name(s);
            if level.is_none() {
                errs.at(
                    &root.key_path("log_level"),
                    Some(quote(s)),
                    ErrorKind::InvalidLogLevel,
                    "must be one of \"error\", \"warning\", \"notice\", \"info\", \"debug\"",
                );
            }
            level
        })
        .or(defaults::LOG_LEVEL);
    let seconds = |errs: &mut Errors<'_>, key: &str, default: u32| {
        root.uint(errs, key, 1, u64::from(u32::MAX))
            .and_then(|n| u32::try_from(n).ok())
            .or(default)
    };
    let shutdown_wait_http = seconds(errs, "shutdown_wait_http", defaults::SHUTDOWN_WAIT_HTTP);
    let shutdown_wait_ws = seconds(errs, "shutdown_wait_ws", defaults::SHUTDOWN_WAIT_WS);
    let idle_timeout = root
        .uint(errs, "idle_timeout", 0, u64::from(u32::MAX))
        .and_then(|n| u32::try_from(n).ok())
        .or(defaults::IDLE_TIMEOUT);
    let worker_c = root
        .uint(errs, "worker_c", 1, defaults::MAX_WORKER_C as u64)
        .and_then(|n| usize::try_from(n).ok())
        .optional();
    let max_ws_msg_size = root
        .size_in(errs, "max_ws_msg_size", 1, defaults::MAX_MAX_WS_MSG_SIZE)
        .or(defaults::MAX_WS_MSG_SIZE);
    let max_ws_frame_chain_size = root
        .size(errs, "max_ws_frame_chain_size", 1)
        .optional()
        .and_then(|v| v.or(max_ws_msg_size.map(defaults::frame_chain_size_for)));
    let max_pending_output = root
        .size(errs, "max_pending_output", 1)
        .optional()
        .and_then(|v| v.or(max_ws_msg_size.map(defaults::pending_output_for)));
    let max_pending_output_total = root
        .size(errs, "max_pending_output_total", 1)
        .optional()
        .and_then(|v| v.or(max_pending_output.map(defaults::pending_output_total_for)));
    let max_partial_msgs_size = root
        .size(errs, "max_partial_msgs_size", 1)
        .optional()
        .and_then(|v| v.or(max_ws_msg_size.map(defaults::partial_msgs_size_for)));
    let realloc_multiplier = root
        .number(errs, "realloc_multiplier", "a number greater than 1")
        .and_then(|m| {
            if m.is_finite() && m > 1.0 {
                Some(m)
            } else {
                errs.at(
                    &root.key_path("realloc_multiplier"),
                    root.get("realloc_multiplier").map(Value::render),
                    ErrorKind::OutOfRange,
                    "must be a finite number greater than 1 (buffers must grow)",
                );
                None
            }
        })
        .or(defaults::REALLOC_MULTIPLIER);
    let user = root
        .string(errs, "user", "a user name")
        .and_then(|s| match check_user_name(s) {
            Ok(()) => Some(s.to_owned()),
            Err(why) => {
                errs.at(
                    &root.key_path("user"),
                    Some(quote(s)),
                    ErrorKind::InvalidUser,
                    why,
                );
                None
            }
        })
        .or(defaults::USER.to_owned());
    Globals {
        log_level,
        worker_c,
        shutdown_wait_http,
        shutdown_wait_ws,
        idle_timeout,
        fd_alloc_c: root.size(errs, "fd_alloc_c", 1).or(defaults::FD_ALLOC_C),
        max_ws_msg_size,
        max_ws_frame_chain_size,
        realloc_multiplier,
        worker_rbuf_size: root
            .size(errs, "worker_rbuf_size", 1)
            .or(defaults::WORKER_RBUF_SIZE),
        inbound_ring_buf_size: root
            .size(errs, "inbound_ring_buf_size", 1)
            .or(defaults::INBOUND_RING_BUF_SIZE),
        outbound_ring_buf_size: root
            .size(errs, "outbound_ring_buf_size", 1)
            .or(defaults::OUTBOUND_RING_BUF_SIZE),
        owrefs_elem_c: root
            .size(errs, "owrefs_elem_c", 1)
            .or(defaults::OWREFS_ELEM_C),
        epoll_buf_elem_c: root
            .size_in(errs, "epoll_buf_elem_c", 1, defaults::MAX_EPOLL_BUF_ELEM_C)
            .or(defaults::EPOLL_BUF_ELEM_C),
        update_queue_size: root
            .size(errs, "update_queue_size", 1)
            .or(defaults::UPDATE_QUEUE_SIZE),
        user,
        max_pending_output,
        max_pending_output_total,
        max_partial_msgs_size,
        max_http_request_size: root
            .size_in(
                errs,
                "max_http_request_size",
                defaults::MIN_HTTP_REQUEST_SIZE,
                defaults::MAX_MAX_HTTP_REQUEST_SIZE,
            )
            .or(defaults::MAX_HTTP_REQUEST_SIZE),
        max_conns_per_ip: root
            .size_in(errs, "max_conns_per_ip", 1, u32::MAX as usize)
            .optional(),
    }
}

/// A portable user name: 1-32 of letters, digits, '_', '.', '-', not
/// starting with '-' and not all digits (that would read as a uid).
fn check_user_name(name: &str) -> Result<(), String> {
    let rule = "a user name is 1-32 letters, digits, '_', '.' or '-', not starting with '-' and not all digits";
    let valid = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !name.starts_with('-')
        && !name.chars().all(|c| c.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(format!("not a valid user name ({rule})"))
    }
}

impl Globals {
    /// The limits the cross-object rules compare, when valid.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            msg: self.max_ws_msg_size,
            chain: self.max_ws_frame_chain_size,
            pending: self.max_pending_output,
            pending_total: self.max_pending_output_total,
            partial: self.max_partial_msgs_size,
        }
    }
}

/// The size limits the cross-object rules compare, each `None` if invalid.
pub(crate) struct Limits {
    pub(crate) msg: Option<usize>,
    pub(crate) chain: Option<usize>,
    pub(crate) pending: Option<usize>,
    pub(crate) pending_total: Option<usize>,
    pub(crate) partial: Option<usize>,
}
