//! Default values of optional keys, from the seed (newer seed wins) and this
//! project's additions. `docs/configuration.md` lists the same values.

use crate::LogLevel;

/// `"log_level"`: `"notice"` (the newer seed; the older said `"warning"`).
pub const LOG_LEVEL: LogLevel = LogLevel::Notice;
/// `"shutdown_wait_http"`, in seconds.
pub const SHUTDOWN_WAIT_HTTP: u32 = 15;
/// `"shutdown_wait_ws"`, in seconds.
pub const SHUTDOWN_WAIT_WS: u32 = 30;
/// `"idle_timeout"` (this project), in seconds: how long a client may say
/// nothing before it is pinged (and as long again before it is closed).
pub const IDLE_TIMEOUT: u32 = 120;
/// The largest `"worker_c"`, and the most workers a default count gives:
/// a client id has room for 1024 worker indexes (`rs_app::wire`).
pub const MAX_WORKER_C: usize = 1024;
/// `"fd_alloc_c"`.
pub const FD_ALLOC_C: usize = 4096;
/// `"max_ws_msg_size"`, in bytes (16 MiB).
pub const MAX_WS_MSG_SIZE: usize = 16_777_216;
/// `"max_ws_frame_chain_size"` when `"max_ws_msg_size"` has its default:
/// 1.1 × 16777216, rounded down. In general the default is
/// [`frame_chain_size_for`]`(max_ws_msg_size)`.
pub const MAX_WS_FRAME_CHAIN_SIZE: usize = frame_chain_size_for(MAX_WS_MSG_SIZE);
/// `"realloc_multiplier"`.
pub const REALLOC_MULTIPLIER: f64 = 1.5;
/// `"worker_rbuf_size"`, in bytes (32 MiB).
pub const WORKER_RBUF_SIZE: usize = 33_554_432;
/// `"inbound_ring_buf_size"`, in bytes (64 MiB).
pub const INBOUND_RING_BUF_SIZE: usize = 67_108_864;
/// `"outbound_ring_buf_size"`, in bytes (128 MiB).
pub const OUTBOUND_RING_BUF_SIZE: usize = 134_217_728;
/// `"owrefs_elem_c"`.
pub const OWREFS_ELEM_C: usize = 10_000;
/// `"epoll_buf_elem_c"`.
pub const EPOLL_BUF_ELEM_C: usize = 100;
/// The largest accepted `"epoll_buf_elem_c"`: each worker allocates that
/// many event slots at start, and one `epoll_wait()` call needs no more.
pub const MAX_EPOLL_BUF_ELEM_C: usize = 65_536;
/// `"update_queue_size"` (global, and per app when the app sets none).
pub const UPDATE_QUEUE_SIZE: usize = 5;
/// App `"wbuf_size"`, in bytes (1 MiB).
pub const WBUF_SIZE: usize = 1_048_576;
/// The largest accepted `"wbuf_size"` (1 GiB): the buffer is allocated at
/// start (and grows as needed beyond its initial size anyway).
pub const MAX_WBUF_SIZE: usize = 1 << 30;
/// `"user"` (this project): the unprivileged user the daemon switches to.
pub const USER: &str = "ringsock";
/// `"max_pending_output"` (32 MiB) when `"max_ws_msg_size"` has its default.
/// In general the default is [`pending_output_for`]`(max_ws_msg_size)`.
pub const MAX_PENDING_OUTPUT: usize = pending_output_for(MAX_WS_MSG_SIZE);
/// `"max_pending_output_total"` (this project; 512 MiB) when
/// `"max_pending_output"` has its default. In general the default is
/// [`pending_output_total_for`]`(max_pending_output)`.
pub const MAX_PENDING_OUTPUT_TOTAL: usize = pending_output_total_for(MAX_PENDING_OUTPUT);
/// `"max_partial_msgs_size"` (this project; 256 MiB) when `"max_ws_msg_size"`
/// has its default. In general the default is
/// [`partial_msgs_size_for`]`(max_ws_msg_size)`.
pub const MAX_PARTIAL_MSGS_SIZE: usize = partial_msgs_size_for(MAX_WS_MSG_SIZE);
/// `"max_http_request_size"` (this project), in bytes.
pub const MAX_HTTP_REQUEST_SIZE: usize = 8192;
/// The smallest accepted `"max_http_request_size"`: a browser's opening
/// handshake does not fit in less.
pub const MIN_HTTP_REQUEST_SIZE: usize = 256;
/// The largest accepted `"max_http_request_size"` (4 GiB - 1): the server
/// hands parts of a request (its query, the headers in `"app_headers"`) to
/// apps behind 4-byte lengths (`rs_app::wire::OpenDetails`).
pub const MAX_MAX_HTTP_REQUEST_SIZE: usize = u32::MAX as usize;
/// The largest accepted `"max_ws_msg_size"` (4 GiB - 64 KiB): a message
/// crosses the ring between a worker and its app whole, with a header, and
/// a ring's records hold just under 4 GiB.
pub const MAX_MAX_WS_MSG_SIZE: usize = (4 << 30) - (64 << 10);

/// The longest header of a client's frame (RFC 6455 §5.2): 2 bytes, 8 of
/// extended length and 4 of masking key. A message of `"max_ws_msg_size"`
/// bytes in one frame spans that much more on the wire.
pub const MAX_FRAME_HEADER_LEN: usize = 14;

/// The default `"max_ws_frame_chain_size"` for a given `"max_ws_msg_size"`:
/// 1.1 × it, rounded down (x + x/10 is exactly that for integers), and at
/// least room for such a message in one frame with the longest header.
pub const fn frame_chain_size_for(max_ws_msg_size: usize) -> usize {
    let tenth_more = max_ws_msg_size.saturating_add(max_ws_msg_size / 10);
    let one_frame = max_ws_msg_size.saturating_add(MAX_FRAME_HEADER_LEN);
    if tenth_more > one_frame {
        tenth_more
    } else {
        one_frame
    }
}

/// The longest header of a frame the server sends: 2 bytes and 8 of
/// extended length, no masking key.
pub const MAX_SERVER_FRAME_HEADER_LEN: usize = 10;

/// What a frame waiting for a client counts against `"max_pending_output"`
/// and `"max_pending_output_total"` beyond its bytes: what keeping it
/// queued costs the server (its queue entry, its shared copy's header and
/// the allocator's share; measured on a million 3-byte frames).
pub const QUEUED_FRAME_COST: usize = 96;

/// The least `"max_pending_output"` that holds one maximum-size message:
/// its payload, its frame header and [`QUEUED_FRAME_COST`].
pub const fn least_pending_output_for(max_ws_msg_size: usize) -> usize {
    max_ws_msg_size.saturating_add(MAX_SERVER_FRAME_HEADER_LEN + QUEUED_FRAME_COST)
}

/// The default `"max_pending_output"` for a given `"max_ws_msg_size"`: room
/// for two maximum-size messages, so echoing one never trips the limit
/// (and at least [`least_pending_output_for`] it).
pub const fn pending_output_for(max_ws_msg_size: usize) -> usize {
    let two = max_ws_msg_size.saturating_mul(2);
    let least = least_pending_output_for(max_ws_msg_size);
    if two > least { two } else { least }
}

/// The default `"max_pending_output_total"` for a given
/// `"max_pending_output"`: sixteen clients of a worker may each be at the
/// limit at once.
pub const fn pending_output_total_for(max_pending_output: usize) -> usize {
    max_pending_output.saturating_mul(16)
}

/// The default `"max_partial_msgs_size"` for a given `"max_ws_msg_size"`:
/// sixteen clients of a worker may each be sending a maximum-size message
/// at once.
pub const fn partial_msgs_size_for(max_ws_msg_size: usize) -> usize {
    max_ws_msg_size.saturating_mul(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_defaults_match_the_seed() {
        assert_eq!(MAX_WS_FRAME_CHAIN_SIZE, 18_454_937);
        assert_eq!(
            MAX_WS_FRAME_CHAIN_SIZE,
            (MAX_WS_MSG_SIZE as f64 * 1.1) as usize
        );
        assert_eq!(MAX_PENDING_OUTPUT, 33_554_432);
        assert_eq!(frame_chain_size_for(usize::MAX), usize::MAX);
    }
}
