//! The system calls of the data path, made directly.
//!
//! glibc's `recv` and `send` are pthread cancellation points: each call
//! switches asynchronous cancellation on and off around the system call,
//! which costs about as much user-space work as the rest of an echoed
//! 20-byte message's read path. RingSocket never cancels threads, so the
//! worker enters the kernel through `syscall(2)`, which does no such thing.

use std::io::{self, IoSlice};
use std::os::fd::RawFd;

/// `recv(fd, buf, 0)`.
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: recvfrom writes at most `buf.len()` bytes into `buf`, which is
    // valid and exclusively borrowed for the call; null address arguments
    // ask for no peer address. A bad `fd` is reported as EBADF, not UB.
    let n = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            buf.as_mut_ptr(),
            buf.len(),
            0,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    };
    result(n)
}

/// `send(fd, buf, MSG_NOSIGNAL)`: a peer that went away is an `EPIPE`
/// error, never a SIGPIPE.
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: sendto reads at most `buf.len()` bytes from `buf`, valid for
    // the call; a null address with length 0 sends on the connection.
    let n = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd,
            buf.as_ptr(),
            buf.len(),
            libc::MSG_NOSIGNAL,
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::socklen_t,
        )
    };
    result(n)
}

/// `sendmsg(fd, bufs, MSG_NOSIGNAL)`: several buffers in one system call,
/// and, like [`send`], a peer that went away is `EPIPE`, never a SIGPIPE
/// (whatever an app library did to the signal's disposition).
pub(crate) fn writev(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is valid (no address, no control data).
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice has the layout of iovec (std guarantees it on Unix); sendmsg
    // only reads through the pointer. The count is capped to IOV_MAX.
    message.msg_iov = bufs.as_ptr().cast_mut().cast::<libc::iovec>();
    message.msg_iovlen = bufs.len().min(1024) as _;
    // SAFETY: `message` points at `msg_iovlen` valid iovecs whose memory is
    // readable for the call, and at no address or control data.
    let n = unsafe {
        libc::syscall(
            libc::SYS_sendmsg,
            fd,
            &raw const message,
            libc::MSG_NOSIGNAL,
        )
    };
    result(n)
}

fn result(n: libc::c_long) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn bytes_sent_are_received_and_an_empty_socket_would_block() {
        let (a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        let err = recv(b.as_raw_fd(), &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(send(a.as_raw_fd(), b"hello").unwrap(), 5);
        assert_eq!(recv(b.as_raw_fd(), &mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        drop(a);
        assert_eq!(recv(b.as_raw_fd(), &mut buf).unwrap(), 0, "end of stream");
    }

    #[test]
    fn writev_sends_every_buffer_in_order() {
        let (a, b) = UnixStream::pair().unwrap();
        let bufs = [IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cde")];
        assert_eq!(writev(a.as_raw_fd(), &bufs).unwrap(), 5);
        let mut buf = [0u8; 8];
        assert_eq!(recv(b.as_raw_fd(), &mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"abcde");
    }

    #[test]
    fn sending_to_a_closed_peer_is_an_error_not_a_signal() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let err = send(a.as_raw_fd(), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn writev_to_a_closed_peer_is_an_error_not_a_signal() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let err = writev(a.as_raw_fd(), &[IoSlice::new(b"x")]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn a_bad_descriptor_is_an_error() {
        let mut buf = [0u8; 4];
        assert_eq!(
            recv(-1, &mut buf).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
    }
}
