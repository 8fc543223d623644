//! rs-load's hot path does not allocate: a run of 10x more echoes makes
//! (almost) no more allocations in the whole process, against an echo
//! server written here that allocates nothing per message.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use rs_load::{Command, Options};

mod support;

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as the caller promised.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as the caller promised.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as the caller promised.
        unsafe { System.realloc(ptr, layout, new) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as the caller promised.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// An echo server that, after the upgrade, allocates nothing: one read
/// buffer and one write buffer per connection, unmasked in place.
fn serve() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let _ = connection(stream);
            });
        }
    });
    port
}

fn connection(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_nodelay(true)?;
    let Some(request) = support::Request::read(&mut stream)? else {
        return Ok(());
    };
    stream.write_all(request.switching_protocols().as_bytes())?;
    let mut buf = vec![0u8; 1 << 16];
    let mut out: Vec<u8> = Vec::with_capacity(1 << 17);
    let mut len = request.rest.len();
    buf[..len].copy_from_slice(&request.rest);
    loop {
        // Every complete frame in buf[..len].
        let mut pos = 0;
        out.clear();
        while let Some((op, payload)) = support::unmask_first_frame(&mut buf[pos..len]) {
            let (start, plen) = (pos + payload.start, payload.len());
            if op == 8 {
                out.extend_from_slice(&[0x88, 0x02, 0x03, 0xe8]);
                stream.write_all(&out)?;
                return Ok(());
            }
            out.push(0x80 | op);
            if plen < 126 {
                out.push(plen as u8);
            } else {
                out.push(126);
                out.extend_from_slice(&(plen as u16).to_be_bytes());
            }
            out.extend_from_slice(&buf[start..start + plen]);
            pos = start + plen;
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
        }
        match support::refill(&mut stream, &mut buf, pos, len)? {
            Some(filled) => len = filled,
            None => return Ok(()),
        }
    }
}

fn allocations_of_a_run(port: u16, count: u64) -> u64 {
    let args = [
        "echo".to_owned(),
        "--url".to_owned(),
        format!("ws://127.0.0.1:{port}/echo"),
        "--conns".to_owned(),
        "4".to_owned(),
        "--threads".to_owned(),
        "2".to_owned(),
        "--size".to_owned(),
        "512".to_owned(),
        "--count".to_owned(),
        count.to_string(),
        "--duration".to_owned(),
        "60".to_owned(),
    ];
    let Command::Run(options) = Options::parse(args).unwrap() else {
        unreachable!()
    };
    // Progress lines go to a buffer big enough for any of them.
    let mut progress = Vec::with_capacity(1 << 16);
    let before = ALLOCS.load(Ordering::SeqCst);
    let report = rs_load::run(&options, &mut progress).unwrap();
    let after = ALLOCS.load(Ordering::SeqCst);
    assert_eq!(report.total, count);
    after - before
}

#[test]
fn ten_times_the_messages_cost_no_more_allocations() {
    let port = serve();
    // A first run warms up whatever the process allocates once.
    allocations_of_a_run(port, 100);
    let few = allocations_of_a_run(port, 2_000);
    let many = allocations_of_a_run(port, 20_000);
    eprintln!("allocations: 2,000 echoes {few}, 20,000 echoes {many}");
    assert!(few > 0, "the counter counts");
    assert!(
        many.saturating_sub(few) < 50,
        "2,000 echoes: {few} allocations; 20,000: {many}"
    );
}
