//! The system calls of the data path, made directly.
//!
//! glibc's `recv` and `send` are pthread cancellation points: each call
//! switches asynchronous cancellation on and off around the system call,
//! which costs about as much user-space work as the rest of an echoed
//! 20-byte message's read path. RingSocket never cancels threads, so the
//! worker enters the kernel itself: with the `syscall` instruction on
//! 64-bit x86 (no wrapper; the error comes back in the result, not in
//! `errno`), through `syscall(2)` elsewhere. Neither touches cancellation.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd};

/// `recv(fd, buf, 0)`.
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: recvfrom writes at most `buf.len()` bytes into `buf`, which is
    // valid and exclusively borrowed for the call; null address arguments
    // ask for no peer address. `fd` is borrowed: open for the call.
    let n = unsafe {
        syscall6(
            libc::SYS_recvfrom,
            [
                fd.as_raw_fd() as usize,
                buf.as_mut_ptr() as usize,
                buf.len(),
                0,
                0,
                0,
            ],
        )
    };
    result(n)
}

/// `send(fd, buf, MSG_NOSIGNAL)`: a peer that went away is an `EPIPE`
/// error, never a SIGPIPE.
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: sendto reads at most `buf.len()` bytes from `buf`, valid for
    // the call; a null address with length 0 sends on the connection.
    let n = unsafe {
        syscall6(
            libc::SYS_sendto,
            [
                fd.as_raw_fd() as usize,
                buf.as_ptr() as usize,
                buf.len(),
                libc::MSG_NOSIGNAL as usize,
                0,
                0,
            ],
        )
    };
    result(n)
}

/// `sendmsg(fd, bufs, MSG_NOSIGNAL)`: several buffers in one system call,
/// and, like [`send`], a peer that went away is `EPIPE`, never a SIGPIPE
/// (whatever an app library did to the signal's disposition).
pub(crate) fn send_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is valid (no address, no control data).
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice has the layout of iovec (std guarantees it on Unix); sendmsg
    // only reads through the pointer. The count is capped to IOV_MAX.
    message.msg_iov = bufs.as_ptr().cast_mut().cast::<libc::iovec>();
    message.msg_iovlen = bufs.len().min(1024) as _;
    // SAFETY: `message` points at `msg_iovlen` valid iovecs whose memory is
    // readable for the call, and at no address or control data.
    let n = unsafe {
        syscall6(
            libc::SYS_sendmsg,
            [
                fd.as_raw_fd() as usize,
                (&raw const message) as usize,
                libc::MSG_NOSIGNAL as usize,
                0,
                0,
                0,
            ],
        )
    };
    result(n)
}

/// How many bytes of what was sent on TCP socket `fd` its peer has
/// acknowledged (`TCP_INFO`'s `tcpi_bytes_acked`, Linux 4.1 and later):
/// evidence that the peer is receiving, which a full receive window (a peer
/// that stopped reading) stops. Not on the data path: through libc.
pub(crate) fn bytes_acked(fd: BorrowedFd<'_>) -> io::Result<u64> {
    // SAFETY: tcp_info is plain integers, for which all zeroes is valid.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes to `info`, which has
    // that size, and stores the length it wrote in `len`.
    let status = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::from_mut(&mut info).cast(),
            &mut len,
        )
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    // A kernel older than the field gives a shorter struct.
    let end = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_acked) + 8;
    if (len as usize) < end {
        return Err(io::ErrorKind::Unsupported.into());
    }
    Ok(info.tcpi_bytes_acked)
}

/// How many bytes socket `fd` has received that were not read yet
/// (`FIONREAD`). Not on the data path: through libc.
pub(crate) fn unread_len(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut len: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through its pointer, which points to
    // `len`.
    let status = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut len) };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(len as usize)
}

/// Gives back to the system the memory the allocator holds free (glibc's
/// `malloc_trim`): the buffers of a burst of long messages are freed when
/// it ends, but glibc returns only the top of a heap, so most of them stayed
/// with the process. Walks every arena: for when a burst ended, never on
/// the data path.
pub(crate) fn release_free_heap() {
    // SAFETY: malloc_trim takes no pointers and may be called from any
    // thread at any time (it locks each arena it walks).
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A system call's result: the kernel returns -errno for an error.
fn result(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::from_raw_os_error(-n as i32))
    } else {
        Ok(n as usize)
    }
}

/// Makes system call `number` with six arguments (unused ones 0); returns
/// the kernel's result: non-negative, or -errno.
///
/// # Safety
///
/// The same as the system call's: pointer arguments must be valid for what
/// the kernel does with them.
// 64-bit pointers too: x32 is x86_64 with 32-bit `usize`, whose upper
// register halves `asm!` would leave undefined.
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
#[inline(always)]
unsafe fn syscall6(number: libc::c_long, args: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the x86-64 Linux system call convention: number in rax,
    // arguments in rdi, rsi, rdx, r10, r8, r9, result in rax; the kernel
    // clobbers rcx and r11 and nothing else, and does not touch the user
    // stack. What the call does with memory is the caller's contract above.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") number as isize => ret,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            in("r9") args[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// See the x86-64 version: through `syscall(2)`, which reports errors in
/// `errno`.
#[cfg(not(all(target_arch = "x86_64", target_pointer_width = "64")))]
#[inline(always)]
unsafe fn syscall6(number: libc::c_long, args: [usize; 6]) -> isize {
    // SAFETY: the caller's contract is that of the system call.
    let n = unsafe { libc::syscall(number, args[0], args[1], args[2], args[3], args[4], args[5]) };
    if n < 0 {
        -(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO) as isize)
    } else {
        n as isize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn bytes_sent_are_received_and_an_empty_socket_would_block() {
        let (a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        let err = recv(b.as_fd(), &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(send(a.as_fd(), b"hello").unwrap(), 5);
        assert_eq!(recv(b.as_fd(), &mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        drop(a);
        assert_eq!(recv(b.as_fd(), &mut buf).unwrap(), 0, "end of stream");
    }

    #[test]
    fn send_vectored_sends_every_buffer_in_order() {
        let (a, b) = UnixStream::pair().unwrap();
        let bufs = [IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cde")];
        assert_eq!(send_vectored(a.as_fd(), &bufs).unwrap(), 5);
        let mut buf = [0u8; 8];
        assert_eq!(recv(b.as_fd(), &mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"abcde");
    }

    #[test]
    fn sending_to_a_closed_peer_is_an_error_not_a_signal() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let err = send(a.as_fd(), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn send_vectored_to_a_closed_peer_is_an_error_not_a_signal() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let err = send_vectored(a.as_fd(), &[IoSlice::new(b"x")]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn bytes_acked_counts_what_the_peer_received() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut sender = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut receiver, _) = listener.accept().unwrap();
        let before = bytes_acked(sender.as_fd()).unwrap();
        sender.write_all(&[7; 1000]).unwrap();
        receiver.read_exact(&mut [0; 1000]).unwrap();
        // The acknowledgement may trail the data by a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while bytes_acked(sender.as_fd()).unwrap() < before + 1000 {
            assert!(std::time::Instant::now() < deadline, "never acknowledged");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let (a, _b) = UnixStream::pair().unwrap();
        assert!(bytes_acked(a.as_fd()).is_err(), "not a TCP socket");
    }

    #[test]
    fn a_descriptor_that_is_no_socket_is_an_error() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(
            recv(file.as_fd(), &mut buf).unwrap_err().raw_os_error(),
            Some(libc::ENOTSOCK)
        );
    }
}
