//! A whole run: start the load threads, wait until their connections are
//! open, open the measurement window, print progress every second, collect
//! the threads' results and the processes' CPU use.

use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use rs_proto::DataKind;

use crate::cli::{Mode, Options};
use crate::error::LoadError;
use crate::histogram::Histogram;
use crate::load_thread::{LoadThread, Shared, ThreadResult, Window, share};
use crate::procfs::{self, CpuTime};
use crate::target::Target;
use crate::{broadcast, connect, echo, idle, payload};

/// How long opening all connections may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long idle connections sit before the server's memory is read, so
/// that the server has handled every one of them.
const IDLE_SETTLE: Duration = Duration::from_secs(1);
/// How often the main thread looks at the load threads' progress.
const TICK: Duration = Duration::from_millis(10);

/// CPU use over the measurement, in percent of one core.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuUse {
    /// In user space.
    pub user: f64,
    /// In the kernel.
    pub system: f64,
}

impl CpuUse {
    /// User plus system.
    pub fn total(&self) -> f64 {
        self.user + self.system
    }

    fn between(before: CpuTime, after: CpuTime, wall: Duration) -> Self {
        let wall = wall.as_secs_f64().max(1e-9);
        Self {
            user: 100.0 * (after.user - before.user) / wall,
            system: 100.0 * (after.system - before.system) / wall,
        }
    }
}

/// The server's resident memory before and after opening idle connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdleMemory {
    /// `VmRSS` before the first measured connection (with one warm-up
    /// connection open), in KiB.
    pub before_kib: u64,
    /// `VmRSS` with every connection open, in KiB.
    pub after_kib: u64,
    /// The connections open.
    pub conns: usize,
}

impl IdleMemory {
    /// The growth per connection, in bytes.
    pub fn per_conn_bytes(&self) -> f64 {
        (self.after_kib as f64 - self.before_kib as f64) * 1024.0 / self.conns.max(1) as f64
    }
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The options it ran with.
    pub options: Options,
    /// Messages (echo), deliveries (broadcast), handshakes (connect) or
    /// connections (idle).
    pub total: u64,
    /// The measurement's length.
    pub elapsed: Duration,
    /// In nanoseconds: echo round trips, broadcast rounds, handshakes.
    pub latency: Histogram,
    /// rs-load's own CPU use.
    pub client_cpu: CpuUse,
    /// The server's, with `--server-pid`.
    pub server_cpu: Option<CpuUse>,
    /// The server's memory (idle mode).
    pub memory: Option<IdleMemory>,
}

impl Report {
    /// `total` per second.
    pub fn rate(&self) -> f64 {
        self.total as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn micros(nanos: u64) -> f64 {
    nanos as f64 / 1000.0
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        let mode = o.mode;
        let kind = if o.text { "text" } else { "binary" };
        let scheme = if o.url.tls { "wss" } else { "ws" };
        match mode {
            Mode::Echo | Mode::Broadcast => writeln!(
                f,
                "{} ({scheme}://): {} conns x {} B {kind}, {} thread(s), {:.2} s",
                mode.name(),
                o.conns,
                o.size,
                o.threads,
                self.elapsed.as_secs_f64()
            )?,
            Mode::Connect | Mode::Idle => writeln!(
                f,
                "{} ({scheme}://): {} conns, {} thread(s), {:.2} s",
                mode.name(),
                o.conns,
                o.threads,
                self.elapsed.as_secs_f64()
            )?,
        }
        if mode != Mode::Idle {
            writeln!(f, "  {} {}: {:.0}/s", self.total, mode.unit(), self.rate())?;
        }
        let h = &self.latency;
        if h.count() > 0 {
            let what = match mode {
                Mode::Broadcast => "round time",
                Mode::Connect => "handshake time",
                _ => "round trip",
            };
            writeln!(
                f,
                "  {what} (us): p50 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}",
                micros(h.value_at_quantile(0.5)),
                micros(h.value_at_quantile(0.99)),
                micros(h.value_at_quantile(0.999)),
                micros(h.max()),
                h.mean() / 1000.0
            )?;
        }
        if let Some(m) = &self.memory {
            writeln!(
                f,
                "  server VmRSS: {} KiB before, {} KiB with {} connections: {:.0} B per connection",
                m.before_kib,
                m.after_kib,
                m.conns,
                m.per_conn_bytes()
            )?;
        }
        let c = &self.client_cpu;
        write!(
            f,
            "  cpu: client {:.1}% (user {:.1}%, system {:.1}%)",
            c.total(),
            c.user,
            c.system
        )?;
        if let Some(s) = &self.server_cpu {
            write!(
                f,
                ", server {:.1}% (user {:.1}%, system {:.1}%)",
                s.total(),
                s.user,
                s.system
            )?;
        }
        writeln!(f)?;
        // One line of key=value pairs for scripts.
        let opt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        write!(
            f,
            "RESULT mode={} conns={} size={} kind={kind} threads={} total={} seconds={:.3} rate={:.1} \
             p50_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1} client_cpu={:.1} client_user={:.1} client_sys={:.1} \
             server_cpu={} server_user={} server_sys={} rss_before_kib={} rss_after_kib={} rss_per_conn_b={} scheme={scheme}",
            mode.name(),
            o.conns,
            o.size,
            o.threads,
            self.total,
            self.elapsed.as_secs_f64(),
            self.rate(),
            micros(h.value_at_quantile(0.5)),
            micros(h.value_at_quantile(0.99)),
            micros(h.value_at_quantile(0.999)),
            micros(h.max()),
            c.total(),
            c.user,
            c.system,
            opt(self.server_cpu.map(|c| c.total())),
            opt(self.server_cpu.map(|c| c.user)),
            opt(self.server_cpu.map(|c| c.system)),
            self.memory.map_or("-".into(), |m| m.before_kib.to_string()),
            self.memory.map_or("-".into(), |m| m.after_kib.to_string()),
            opt(self.memory.map(|m| m.per_conn_bytes())),
        )
    }
}

/// What the main thread measured around the window.
struct Measured {
    window: Window,
    /// When the main thread saw the run end.
    end: Instant,
    client_cpu: CpuUse,
    server_cpu: Option<CpuUse>,
    memory: Option<IdleMemory>,
}

/// Runs the load described by `options`, printing one progress line per
/// second to `progress`, and returns the report.
///
/// The run fails on the first error of any connection: a refused
/// handshake, a framing error, an echo that differs by one byte.
pub fn run(options: &Options, progress: &mut dyn Write) -> Result<Report, LoadError> {
    let target = Arc::new(Target::new(options)?);
    // Kept open (and alive) until the run ends.
    let (_warm_up, rss_before) = match (options.mode, options.server_pid) {
        (Mode::Idle, Some(pid)) => {
            let warm_up = idle::warm_up(&target)?;
            thread::sleep(IDLE_SETTLE);
            (Some(warm_up), Some(procfs::vm_rss_kib(pid)?))
        }
        _ => (None, None),
    };
    let shared = Arc::new(Shared::new(options.threads, SETUP_TIMEOUT));
    let mut handles = Vec::with_capacity(options.threads);
    for thread in 0..options.threads {
        let ctx = LoadThread::new(thread, Arc::clone(&target), Arc::clone(&shared));
        let options = options.clone();
        let thread_shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("rs-load-{thread}"))
            .spawn(move || {
                let result = ctx.and_then(|ctx| load_thread(ctx, &options));
                if result.is_err() {
                    thread_shared.stop.store(true, Ordering::SeqCst);
                }
                thread_shared.progress[thread]
                    .finished
                    .store(true, Ordering::Release);
                result
            });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                shared.stop.store(true, Ordering::SeqCst);
                for handle in handles {
                    let _ = handle.join();
                }
                return Err(LoadError::Poll(e));
            }
        }
    }
    let measured = supervise(options, &shared, rss_before, progress);
    // A run that ended well is left to end by itself: the threads await
    // what is in flight and close their connections.
    if !matches!(measured, Ok(Some(_))) {
        shared.stop.store(true, Ordering::SeqCst);
    }
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(handle.join().map_err(|_| LoadError::ThreadPanicked)?);
    }
    // A thread's error explains a stop better than the main thread's view.
    let mut latency = Histogram::new();
    let mut total = 0;
    let mut finished = Vec::new();
    for result in results {
        let ThreadResult {
            latency: h,
            total: t,
            finished_at,
        } = result?;
        latency.merge(&h);
        total += t;
        finished.push(finished_at);
    }
    let Some(measured) = measured? else {
        return Err(LoadError::ThreadPanicked);
    };
    let window = measured.window;
    let end = match (
        options.count,
        finished.iter().copied().collect::<Option<Vec<_>>>(),
    ) {
        (Some(_), Some(times)) => times.into_iter().max().unwrap_or(measured.end),
        (Some(_), None) => {
            return Err(LoadError::Timeout {
                what: match options.mode {
                    Mode::Connect => "making the --count handshakes",
                    _ => "sending the --count messages",
                },
                waited: options.duration,
            });
        }
        (None, _) => measured.end.min(window.deadline),
    };
    Ok(Report {
        options: options.clone(),
        total,
        elapsed: end.saturating_duration_since(window.start),
        latency,
        client_cpu: measured.client_cpu,
        server_cpu: measured.server_cpu,
        memory: measured.memory,
    })
}

/// One load thread's work, by mode.
fn load_thread(ctx: LoadThread, options: &Options) -> Result<ThreadResult, LoadError> {
    let (threads, conns) = (options.threads, options.conns);
    let ids: Vec<usize> = (ctx.thread..conns).step_by(threads).collect();
    let kind = if options.text {
        DataKind::Text
    } else {
        DataKind::Binary
    };
    let unbounded = u64::MAX;
    let budgets: Vec<u64> = ids
        .iter()
        .map(|&i| options.count.map_or(unbounded, |n| share(n, conns, i)))
        .collect();
    let pattern = || -> Arc<[u8]> { payload::pattern(options.size, options.text).into() };
    match options.mode {
        Mode::Echo => echo::run_thread(ctx, &ids, &budgets, pattern(), kind),
        Mode::Broadcast => {
            let rounds = options.count.map_or(unbounded, |n| n / conns as u64);
            broadcast::run_thread(ctx, &ids, conns, rounds, pattern(), kind)
        }
        Mode::Connect => connect::run_thread(ctx, &ids, &budgets),
        Mode::Idle => idle::run_thread(ctx, &ids),
    }
}

/// The main thread's part: wait for the threads to be ready, open the
/// window, print progress, sample CPU (and memory). `Ok(None)`: a load
/// thread stopped the run (its error is the one to report).
fn supervise(
    options: &Options,
    shared: &Shared,
    rss_before: Option<u64>,
    progress: &mut dyn Write,
) -> Result<Option<Measured>, LoadError> {
    while shared.ready.load(Ordering::SeqCst) < options.threads {
        if shared.stopped() {
            return Ok(None);
        }
        if Instant::now() >= shared.setup_deadline {
            return Err(LoadError::Timeout {
                what: "opening the connections",
                waited: SETUP_TIMEOUT,
            });
        }
        thread::sleep(Duration::from_millis(1));
    }
    let mut memory = None;
    if let (Some(before_kib), Some(pid)) = (rss_before, options.server_pid) {
        thread::sleep(IDLE_SETTLE);
        memory = Some(IdleMemory {
            before_kib,
            after_kib: procfs::vm_rss_kib(pid)?,
            conns: options.conns,
        });
    }
    let client_before = procfs::cpu_time(None)?;
    let server_before = options
        .server_pid
        .map(|pid| procfs::cpu_time(Some(pid)))
        .transpose()?;
    let start = Instant::now();
    let window = Window {
        start,
        deadline: start + options.duration,
    };
    let _ = shared.window.set(window);
    let (mut last_time, mut last_total) = (start, 0u64);
    let mut next_tick = start + Duration::from_secs(1);
    let end = loop {
        let now = Instant::now();
        let finished = shared
            .progress
            .iter()
            .all(|p| p.finished.load(Ordering::Acquire));
        // The second that ends with the window is reported too.
        if now >= next_tick && !shared.stopped() {
            let total: u64 = shared
                .progress
                .iter()
                .map(|p| p.total.load(Ordering::Relaxed))
                .sum();
            if options.mode != Mode::Idle {
                let rate = (total - last_total) as f64 / (now - last_time).as_secs_f64();
                let _ = writeln!(
                    progress,
                    "{:>6.1} s  {rate:>12.0} {}/s",
                    (now - start).as_secs_f64(),
                    options.mode.unit()
                );
            }
            (last_time, last_total) = (now, total);
            next_tick += Duration::from_secs(1);
        }
        if finished || shared.stopped() || now >= window.deadline {
            break now;
        }
        thread::sleep(TICK.min(window.deadline.saturating_duration_since(now)));
    };
    let wall = end - start;
    let client_cpu = CpuUse::between(client_before, procfs::cpu_time(None)?, wall);
    let server_cpu = match (options.server_pid, server_before) {
        (Some(pid), Some(before)) => {
            Some(CpuUse::between(before, procfs::cpu_time(Some(pid))?, wall))
        }
        _ => None,
    };
    Ok(Some(Measured {
        window,
        end,
        client_cpu,
        server_cpu,
        memory,
    }))
}
