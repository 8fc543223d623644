//! Running the server: the startup sequence, then waiting for a signal or
//! a fatal app error, then an orderly shutdown.
//!
//! Order (DESIGN §10): configuration (already checked), logging, the user
//! to switch to, the open-files limit, bind every port, load every app —
//! all of which report errors on stderr — then detach (daemon mode), write
//! the pidfile, switch to the configured user dropping every capability,
//! create the rings, start app threads and workers, and wait. Anything that
//! fails before the threads start ends the process with one line naming the
//! problem and status 1.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rs_app::host::{App, AppSettings, AppThread, StopHandle};
use rs_conf::{AllowedOrigin, Config};
use rs_http::{AllowedOrigins, Router, Scheme};
use rs_ring::{Notifier, Parker, RingConfig, ring};
use rs_worker::{
    AppLink, ConnectionBudget, Endpoint, Limits, Listener, Routes, TlsConfig, Worker, WorkerHandle,
    WorkerSetup,
};

use crate::cli::ServeOptions;
use crate::daemon;
use crate::pidfile::PidFile;
use crate::privileges::{self, User};
use crate::signals::{self, Signal};
use crate::{config, exit, logging};

mod reload;

/// Ring buffers start this small (or at their configured size, if less)
/// and grow up to it, or to what a maximum-size message needs if more, so
/// an idle server holds little memory.
const INITIAL_RING: usize = 256 * 1024;
/// Room around a message in a ring: its header and record padding.
const RING_OVERHEAD: usize = 4096;

/// What the main thread waits for.
pub(crate) enum Event {
    Signal(Signal),
    /// An app's init succeeded (or it has none).
    AppReady,
    AppExited {
        name: String,
        result: Result<(), rs_app::host::AppError>,
    },
    WorkerExited {
        index: usize,
        result: std::io::Result<()>,
    },
    /// A worker or app thread panicked: a bug, after which the server does
    /// not go on without the thread (its clients would wait forever).
    Panicked {
        thread: String,
        message: String,
    },
}

/// Starts a thread named `name` that runs `body` and sends the event it
/// returns, or [`Event::Panicked`] if it panics.
fn spawn_reporting(
    name: String,
    sender: mpsc::Sender<Event>,
    body: impl FnOnce() -> Event + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            // Nothing the thread held is used after a panic: the server
            // shuts down.
            let event = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
                .unwrap_or_else(|payload| Event::Panicked {
                    thread: name,
                    message: panic_message(&*payload),
                });
            let _ = sender.send(event);
        })
}

/// The text of a panic's payload (a `&str` or a `String`, as `panic!` makes).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match (
        payload.downcast_ref::<&str>(),
        payload.downcast_ref::<String>(),
    ) {
        (Some(text), _) => (*text).to_owned(),
        (_, Some(text)) => text.clone(),
        _ => "a panic without a message".to_owned(),
    }
}

/// Starts the server as `options` say and runs it until it stops.
pub(crate) fn run(options: &ServeOptions) -> ExitCode {
    if options.daemon {
        daemon::close_inherited_descriptors();
    }
    let absolute;
    let options = if options.daemon {
        match options.absolute() {
            Ok(resolved) => {
                absolute = resolved;
                &absolute
            }
            Err(e) => {
                report!(
                    "ringsocket: cannot resolve {}: {e}",
                    options.config.display()
                );
                return exit::failure();
            }
        }
    } else {
        options
    };
    if let Err(e) = signals::block() {
        report!("ringsocket: cannot block signals: {e}");
        return exit::failure();
    }
    if let Err(e) = privileges::forbid_new_privileges() {
        report!("ringsocket: cannot set no_new_privs: {e}");
        return exit::failure();
    }
    let config = match config::load_checked(&options.config) {
        Ok(config) => config,
        Err(errors) => {
            config::report(&errors);
            return exit::invalid();
        }
    };
    logging::init(config.log_level);
    for warning in config.warnings() {
        log::warn!("{}: {warning}", config.file.display());
    }
    let prepared = match prepare(&config) {
        Ok(prepared) => prepared,
        Err(message) => {
            report!("ringsocket: {message}");
            return exit::failure();
        }
    };
    let detached = if options.daemon {
        if signals::stop_pending() {
            report!("ringsocket: interrupted while starting; not detaching");
            return exit::failure();
        }
        let reload = signals::take_pending_reload();
        match daemon::detach() {
            Ok(detached) => {
                logging::switch_to_syslog();
                if reload && let Err(e) = signals::resend_reload() {
                    log::warn!("a SIGHUP that came while starting is lost: {e}");
                }
                Some(detached)
            }
            Err(e) => {
                report!("ringsocket: cannot detach: {e}");
                return exit::failure();
            }
        }
    } else {
        None
    };
    match launch(&config, options, prepared) {
        Ok((server, mut pidfile)) => {
            if let Some(detached) = detached {
                detached.started();
            }
            let status = server.wait(&options.config, || {
                if let Some(pidfile) = &mut pidfile {
                    pidfile.release();
                }
            });
            drop(pidfile);
            status
        }
        Err(message) => {
            match detached {
                Some(detached) => {
                    log::error!("{message}");
                    detached.failed(&message);
                }
                // The log goes to stderr too: say it once, after the
                // lines that led to it.
                None => {
                    logging::flush(Duration::from_secs(2));
                    report!("ringsocket: {message}");
                }
            }
            exit::failure()
        }
    }
}

/// What is done while the process can still report on stderr.
struct Prepared {
    user: Option<User>,
    listeners: Vec<Vec<Listener>>,
    /// The certificates, when some port serves wss://.
    tls: Option<Arc<TlsConfig>>,
    apps: Vec<App>,
    routes: Arc<Routes>,
    /// What `fd_alloc_c` connections need of the open-files limit.
    descriptors_needed: u64,
}

fn prepare(config: &Config) -> Result<Prepared, String> {
    let user = if privileges::is_root() {
        Some(privileges::lookup_user(&config.user)?)
    } else {
        None
    };
    let worker_c = config.effective_worker_c();
    let addresses: usize = config.ports.iter().map(|p| p.bind_addrs().len()).sum();
    let worker_fds = worker_c as u64 * (privileges::FDS_PER_WORKER + addresses as u64);
    let descriptors_needed = privileges::descriptors_needed(config.fd_alloc_c, worker_fds);
    if let Some(warning) = privileges::set_open_files_limit(descriptors_needed, config.fd_alloc_c)?
    {
        log::warn!("{warning}");
    }
    let mut listeners: Vec<Vec<Listener>> = (0..worker_c).map(|_| Vec::new()).collect();
    for port in &config.ports {
        for addr in port.bind_addrs() {
            for worker in &mut listeners {
                worker.push(Listener::bind(port, addr).map_err(|e| e.to_string())?);
            }
        }
    }
    // Read now, as the starting user: key files are often root-only.
    let tls = if config.ports.iter().any(|p| !p.is_unencrypted) {
        Some(Arc::new(
            TlsConfig::load(&config.certs).map_err(|e| e.to_string())?,
        ))
    } else {
        None
    };
    let apps: Vec<App> = config
        .apps
        .iter()
        .map(|app| App::load(&app.app_path).map_err(|e| format!("app '{}': {e}", app.name)))
        .collect::<Result<_, _>>()?;
    for (app, app_config) in apps.iter().zip(&config.apps) {
        for (key, set, has) in [
            ("no_open_cb", app_config.no_open_cb, app.has_open()),
            ("no_close_cb", app_config.no_close_cb, app.has_close()),
        ] {
            if set && has {
                log::warn!(
                    "app '{}': \"{key}\" is true but the app has that callback, which will \
                     never be called; leave \"{key}\" out unless the callback is none",
                    app_config.name
                );
            }
        }
    }
    let routes = Arc::new(Routes::new(build_router(config)?));
    Ok(Prepared {
        user,
        listeners,
        tls,
        apps,
        routes,
        descriptors_needed,
    })
}

/// Writes the pidfile, drops privileges and starts every thread.
fn launch(
    config: &Config,
    options: &ServeOptions,
    prepared: Prepared,
) -> Result<(Server, Option<PidFile>), String> {
    let pidfile = options
        .pidfile
        .as_deref()
        .map(PidFile::create)
        .transpose()?;
    match &prepared.user {
        Some(user) => {
            privileges::drop_to(user)?;
            log::info!("running as user '{}'", user.name);
            if user.gid == 0 {
                // Not refused: some platforms give service users group 0
                // on purpose. But it is root's group, with its files.
                log::warn!(
                    "user '{}' has group 0 (root) as its primary group: the server keeps what \
                     that group may read and write; give the user a group of its own",
                    user.name
                );
            }
        }
        None => privileges::clear_capabilities()
            .map_err(|e| format!("cannot drop capabilities: {e}"))?,
    }
    let server = start(config, prepared)?;
    Ok((server, pidfile))
}

struct Server {
    events: mpsc::Receiver<Event>,
    /// Swapped on SIGHUP.
    tls: Option<Arc<TlsConfig>>,
    /// Swapped on SIGHUP.
    routes: Arc<Routes>,
    /// The configuration the server started with: a reload may not change
    /// its ports or apps.
    started: Config,
    /// The configuration whose endpoints are in use: the one started
    /// with, or the last one a reload applied them from. The certificates
    /// must go on covering the hosts of its `wss://` endpoints.
    endpoints_from: Config,
    workers: Vec<(WorkerHandle, JoinHandle<()>)>,
    apps: Vec<(StopHandle, JoinHandle<()>)>,
}

fn start(config: &Config, prepared: Prepared) -> Result<Server, String> {
    let Prepared {
        listeners,
        tls,
        apps,
        routes,
        descriptors_needed,
        ..
    } = prepared;
    let worker_c = listeners.len();

    // No fork from here on: lines can be written by a thread of their own.
    logging::start_writer();
    // Blocked since `run` began; from now on one thread waits for them.
    let (sender, events) = mpsc::channel();
    signals::forward(sender.clone()).map_err(|e| format!("cannot handle signals: {e}"))?;

    let notifiers: Vec<Notifier> = (0..worker_c)
        .map(|_| Notifier::new())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("eventfd: {e}"))?;
    let parkers: Vec<Parker> = (0..apps.len()).map(|_| Parker::new()).collect();
    let Rings {
        links,
        app_inbound,
        app_outbound,
    } = build_rings(config, &apps, &notifiers, &parkers);

    // What the apps' inits open is counted: the limit must leave room for it.
    let open_before_inits = privileges::open_descriptors();
    let app_threads = spawn_apps(config, apps, parkers, app_inbound, app_outbound, &sender)?;
    // The ports listen only once every app is ready for clients.
    log::trace!("waiting for {} app(s) to run their init", app_threads.len());
    if let Err(message) = wait_for_inits(&events, &sender, app_threads.len()) {
        stop_apps(app_threads);
        return Err(message);
    }
    let held = open_before_inits
        .zip(privileges::open_descriptors())
        .map_or(0, |(before, after)| after.saturating_sub(before));
    match privileges::app_files_warning(held, descriptors_needed, config.fd_alloc_c) {
        Ok(None) => log::debug!("the apps' inits opened {held} files"),
        Ok(Some(warning)) => log::warn!("{warning}"),
        Err(e) => log::warn!("{e}"),
    }

    let limits = worker_limits(config);
    let mut budget = ConnectionBudget::new(config.fd_alloc_c);
    if let Some(max) = config.max_conns_per_ip {
        budget = budget.per_address(max);
    }
    let budget = Arc::new(budget);
    // Every worker (and so every listening socket) first, so that a port
    // that cannot listen stops startup before any accepts a client.
    let mut ready = Vec::new();
    for (index, ((listeners, apps), notifier)) in
        listeners.into_iter().zip(links).zip(notifiers).enumerate()
    {
        let setup = WorkerSetup {
            index: index as u16,
            listeners,
            routes: routes.clone(),
            tls: tls.clone(),
            apps,
            notifier,
            limits,
            budget: budget.clone(),
        };
        match Worker::new(setup) {
            Ok(worker) => ready.push(worker),
            Err(e) => {
                stop_apps(app_threads);
                return Err(format!("cannot start worker {index}: {e}"));
            }
        }
    }
    let mut server = Server {
        events,
        tls,
        routes,
        started: config.clone(),
        endpoints_from: config.clone(),
        workers: Vec::new(),
        apps: app_threads,
    };
    for (index, worker) in ready.into_iter().enumerate() {
        let handle = worker.handle();
        let spawned = spawn_reporting(format!("worker {index}"), sender.clone(), move || {
            Event::WorkerExited {
                index,
                result: worker.run(),
            }
        });
        match spawned {
            Ok(thread) => server.workers.push((handle, thread)),
            Err(e) => {
                // Stops what started, as a shutdown does.
                server.shut_down();
                return Err(format!("cannot start worker {index}: {e}"));
            }
        }
    }
    log::info!(
        "ringsocket {} started: {} worker(s), {} app(s), {} port(s)",
        env!("CARGO_PKG_VERSION"),
        worker_c,
        config.apps.len(),
        config.ports.len()
    );
    log::info!("listening on {}", listening_on(config));
    Ok(server)
}

/// The rings between workers and apps: each worker's links (one per app),
/// and each app's ends (one per worker).
struct Rings {
    links: Vec<Vec<AppLink>>,
    app_inbound: Vec<Vec<rs_ring::Consumer>>,
    app_outbound: Vec<Vec<rs_ring::Producer>>,
}

/// A pair of rings for every worker and app: the inbound one wakes the
/// app's `parker`, the outbound one the worker's `notifier`.
fn build_rings(config: &Config, apps: &[App], notifiers: &[Notifier], parkers: &[Parker]) -> Rings {
    // A ring holds at least one message of the largest size; an inbound
    // one also an open notice: the request's query and the headers for the
    // app are parts of the request, bounded by its size, and their lengths
    // and the subprotocol (at most 255 bytes) fit in the overhead.
    let ring_max = |configured: usize| configured.max(config.max_ws_msg_size + RING_OVERHEAD);
    let inbound_max =
        ring_max(config.inbound_ring_buf_size).max(config.max_http_request_size + RING_OVERHEAD);
    let inbound_config =
        RingConfig::new(INITIAL_RING.min(config.inbound_ring_buf_size)).max_capacity(inbound_max);
    let mut rings = Rings {
        links: (0..notifiers.len()).map(|_| Vec::new()).collect(),
        app_inbound: (0..apps.len()).map(|_| Vec::new()).collect(),
        app_outbound: (0..apps.len()).map(|_| Vec::new()).collect(),
    };
    for (w, notifier) in notifiers.iter().enumerate() {
        for (a, (app, app_config)) in apps.iter().zip(&config.apps).enumerate() {
            // An app's update_queue_size (the global one unless it has
            // its own) holds for its rings in both directions.
            let inbound_config = inbound_config.publish_batch(app_config.update_queue_size);
            let (to_app, from_worker) = ring(inbound_config, Some(parkers[a].waker()));
            let outbound_config = RingConfig::new(INITIAL_RING.min(config.outbound_ring_buf_size))
                .max_capacity(ring_max(config.outbound_ring_buf_size))
                .publish_batch(app_config.update_queue_size);
            let (from_app, to_worker) = ring(outbound_config, Some(notifier.waker()));
            rings.app_inbound[a].push(from_worker);
            rings.app_outbound[a].push(from_app);
            rings.links[w].push(AppLink {
                inbound: to_app,
                outbound: to_worker,
                send_open: app.has_open() && !app_config.no_open_cb,
                send_close: app.has_close() && !app_config.no_close_cb,
            });
        }
    }
    rings
}

/// Starts every app's thread (each runs its init, then reports to
/// `sender`); if one cannot start, stops those that did.
fn spawn_apps(
    config: &Config,
    apps: Vec<App>,
    parkers: Vec<Parker>,
    app_inbound: Vec<Vec<rs_ring::Consumer>>,
    app_outbound: Vec<Vec<rs_ring::Producer>>,
    sender: &mpsc::Sender<Event>,
) -> Result<Vec<(StopHandle, JoinHandle<()>)>, String> {
    // An app has one ring from each worker.
    let worker_c = app_inbound.first().map_or(0, Vec::len) as u32;
    let mut app_threads = Vec::new();
    for (((app, app_config), parker), (inbound, outbound)) in apps
        .into_iter()
        .zip(&config.apps)
        .zip(parkers)
        .zip(app_inbound.into_iter().zip(app_outbound))
    {
        let settings = AppSettings::from_config(config, app_config, worker_c);
        let thread = AppThread::new(app, settings, inbound, outbound, parker);
        let stop = thread.stop_handle();
        let (name, ready) = (app_config.name.clone(), sender.clone());
        let spawned = spawn_reporting(format!("app {name}"), sender.clone(), move || {
            let result = thread.run(|| {
                let _ = ready.send(Event::AppReady);
            });
            Event::AppExited { name, result }
        });
        match spawned {
            Ok(handle) => app_threads.push((stop, handle)),
            Err(e) => {
                stop_apps(app_threads);
                return Err(format!(
                    "cannot start app thread '{}': {e}",
                    app_config.name
                ));
            }
        }
    }
    Ok(app_threads)
}

/// The workers' limits, from the configuration.
fn worker_limits(config: &Config) -> Limits {
    Limits {
        frames: rs_proto::Limits {
            max_message_size: config.max_ws_msg_size as u64,
            max_frame_chain_size: config.max_ws_frame_chain_size as u64,
        },
        max_http_request_size: config.max_http_request_size,
        handshake_timeout: Duration::from_secs(config.shutdown_wait_http.into()),
        close_timeout: Duration::from_secs(config.shutdown_wait_ws.into()),
        idle_timeout: Duration::from_secs(config.idle_timeout.into()),
        max_pending_output: config.max_pending_output,
        max_pending_output_total: config.max_pending_output_total,
        max_partial_msgs_size: config.max_partial_msgs_size,
        events: config.epoll_buf_elem_c,
        read_buffer: config.worker_rbuf_size,
    }
}

/// Where the server listens, for its log: each port's addresses with
/// their scheme, e.g. `ws://127.0.0.1:8080, wss://[::]:443 (interface eth0)`.
fn listening_on(config: &Config) -> String {
    let mut all = Vec::new();
    for port in &config.ports {
        let scheme = if port.is_unencrypted { "ws" } else { "wss" };
        let interface = port
            .interface
            .as_ref()
            .map(|name| format!(" (interface {name})"))
            .unwrap_or_default();
        for addr in port.bind_addrs() {
            all.push(format!("{scheme}://{addr}{interface}"));
        }
    }
    all.join(", ")
}

fn boxed(names: &[String]) -> Box<[Box<str>]> {
    names.iter().map(|s| s.as_str().into()).collect()
}

fn build_router(config: &Config) -> Result<Router<Endpoint>, String> {
    let mut router = Router::new();
    for (app_index, app) in config.apps.iter().enumerate() {
        for endpoint in &app.endpoints {
            let origins =
                AllowedOrigins::parse(endpoint.allowed_origins.iter().map(|o| o.raw.as_str()))
                    .map_err(|e| {
                        format!("app '{}': endpoint {}: {e}", app.name, endpoint.endpoint_id)
                    })?;
            let cookie = endpoint
                .app_headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case("cookie"));
            let any_origin = endpoint
                .allowed_origins
                .iter()
                .any(|o| o.raw == AllowedOrigin::ANY);
            if cookie && any_origin {
                log::warn!(
                    "app '{}': endpoint {} ({}): its app reads the Cookie header and allowed_origins \
                     has \"*\": any web site can open a connection with its visitors' cookies; \
                     list your own pages' origins instead",
                    app.name,
                    endpoint.endpoint_id,
                    endpoint.url,
                );
            }
            let value = Endpoint {
                app: app_index as u16,
                endpoint_id: endpoint.endpoint_id,
                subprotocols: boxed(&endpoint.subprotocols),
                app_headers: boxed(&endpoint.app_headers),
            };
            let scheme = if endpoint.url.is_secure() {
                Scheme::Wss
            } else {
                Scheme::Ws
            };
            router.add(
                scheme,
                &endpoint.url.host,
                endpoint.url.port,
                &endpoint.url.path,
                origins,
                value,
            );
        }
    }
    Ok(router)
}

impl Server {
    /// Waits for a signal or a failure, then calls `shutting_down` and
    /// shuts everything down.
    fn wait(mut self, config_path: &Path, shutting_down: impl FnOnce()) -> ExitCode {
        let mut status = ExitCode::SUCCESS;
        loop {
            match self.events.recv() {
                Ok(Event::Signal(Signal::Reload)) => self.reload(config_path),
                // Every app reported before the server started.
                Ok(Event::AppReady) => {}
                Ok(Event::Signal(signal)) => {
                    log::info!("{signal}: shutting down");
                    break;
                }
                Ok(Event::AppExited { name, result }) => {
                    match result {
                        Err(error) => log::error!("{error}; shutting down"),
                        Ok(()) => log::error!("app '{name}' stopped unexpectedly; shutting down"),
                    }
                    status = exit::failure();
                    break;
                }
                Ok(Event::WorkerExited { index, result }) => {
                    match result {
                        Err(error) => log::error!("worker {index} failed: {error}; shutting down"),
                        Ok(()) => log::error!("worker {index} stopped unexpectedly; shutting down"),
                    }
                    status = exit::failure();
                    break;
                }
                Ok(Event::Panicked { thread, message }) => {
                    log::error!("thread '{thread}' panicked: {message}; shutting down");
                    status = exit::failure();
                    break;
                }
                Err(_) => break,
            }
        }
        shutting_down();
        if !self.shut_down() {
            status = exit::failure();
        }
        status
    }

    /// Stops every thread; whether all of them stopped cleanly (no panic
    /// or error on the way, each logged).
    fn shut_down(self) -> bool {
        // Workers first: they send 1001 to every client and wait for the
        // closes (up to shutdown_wait_ws); then the apps, which get the
        // close notices meanwhile. A second SIGTERM/SIGINT exits at once.
        signals::exit_on_next_signal();
        for (handle, _) in &self.workers {
            handle.stop();
        }
        for (_, thread) in self.workers {
            let _ = thread.join();
        }
        stop_apps(self.apps);
        let clean = failures_while_stopping(&self.events) == 0;
        log::info!("stopped");
        clean
    }
}

/// Logs what went wrong in the threads as they stopped (what `events`
/// holds once they have all ended) and counts it: a panic, or a worker or
/// app that ended with an error. (Ending is what they were asked to do.)
fn failures_while_stopping(events: &mpsc::Receiver<Event>) -> usize {
    let mut failures = 0;
    while let Ok(event) = events.try_recv() {
        match event {
            Event::Panicked { thread, message } => {
                log::error!("thread '{thread}' panicked while stopping: {message}");
            }
            Event::WorkerExited {
                index,
                result: Err(error),
            } => log::error!("worker {index} failed while stopping: {error}"),
            Event::AppExited {
                result: Err(error), ..
            } => log::error!("{error}"),
            _ => continue,
        }
        failures += 1;
    }
    failures
}

/// Waits until `apps` app threads have run their init. A failing init ends
/// startup with its error. So does SIGTERM or SIGINT, and a second one exits
/// at once (an init may never return); a SIGHUP is handled once the server
/// runs.
fn wait_for_inits(
    events: &mpsc::Receiver<Event>,
    sender: &mpsc::Sender<Event>,
    apps: usize,
) -> Result<(), String> {
    let mut ready = 0;
    let mut reload = false;
    while ready < apps {
        match events.recv() {
            Ok(Event::AppReady) => ready += 1,
            Ok(Event::AppExited { name, result }) => {
                return Err(match result {
                    Err(error) => error.to_string(),
                    Ok(()) => format!("app '{name}' stopped during its init"),
                });
            }
            Ok(Event::Signal(Signal::Reload)) => reload = true,
            Ok(Event::Signal(signal)) => {
                signals::exit_on_next_signal();
                return Err(format!("{signal} while the apps ran their init: stopped"));
            }
            Ok(Event::Panicked { thread, message }) => {
                return Err(format!("thread '{thread}' panicked: {message}"));
            }
            Ok(Event::WorkerExited { .. }) | Err(_) => {
                return Err("the app threads ended during their init".to_owned());
            }
        }
    }
    if reload {
        let _ = sender.send(Event::Signal(Signal::Reload));
    }
    Ok(())
}

/// Stops the app threads and waits for them (each calls its app's fini).
fn stop_apps(apps: Vec<(StopHandle, JoinHandle<()>)>) {
    for (stop, _) in &apps {
        stop.stop();
    }
    for (_, thread) in apps {
        // An app may be in a callback that never returns: say whom the
        // shutdown waits for (a second signal exits at once).
        let since = std::time::Instant::now();
        let mut told = false;
        while !thread.is_finished() {
            if !told && since.elapsed() > STUCK_APP_NOTICE {
                let name = thread.thread().name().unwrap_or("an app");
                log::warn!(
                    "shutting down: waiting for {name} to return from its callback \
                     (a second SIGTERM or SIGINT exits at once)"
                );
                told = true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = thread.join();
    }
}

/// How long the shutdown waits for an app thread before it says so.
const STUCK_APP_NOTICE: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    fn spawned_event(body: impl FnOnce() -> Event + Send + 'static) -> Event {
        let (sender, events) = mpsc::channel();
        let thread = spawn_reporting("worker 7".to_owned(), sender, body).unwrap();
        thread.join().expect("the panic is caught in the thread");
        events
            .recv_timeout(Duration::from_secs(10))
            .expect("an event")
    }

    #[test]
    fn a_thread_that_returns_sends_its_event() {
        let event = spawned_event(|| Event::WorkerExited {
            index: 7,
            result: Ok(()),
        });
        assert!(matches!(
            event,
            Event::WorkerExited {
                index: 7,
                result: Ok(())
            }
        ));
    }

    #[test]
    fn panics_and_errors_while_stopping_are_counted_and_endings_are_not() {
        let (sender, events) = mpsc::channel();
        let send = |event| sender.send(event).unwrap();
        send(Event::WorkerExited {
            index: 0,
            result: Ok(()),
        });
        send(Event::AppExited {
            name: "a".to_owned(),
            result: Ok(()),
        });
        send(Event::Signal(Signal::Terminate));
        assert_eq!(failures_while_stopping(&events), 0);
        send(Event::Panicked {
            thread: "worker 1".to_owned(),
            message: "oops".to_owned(),
        });
        send(Event::WorkerExited {
            index: 1,
            result: Err(std::io::Error::other("epoll failed")),
        });
        send(Event::WorkerExited {
            index: 2,
            result: Ok(()),
        });
        assert_eq!(failures_while_stopping(&events), 2);
        assert_eq!(failures_while_stopping(&events), 0);
    }

    #[test]
    fn a_thread_that_panics_is_reported_with_its_name_and_message() {
        type Body = Box<dyn FnOnce() -> Event + Send>;
        let formatted: Body = Box::new(|| panic!("formatted {}", 42));
        let literal: Body = Box::new(|| panic!("literal"));
        let other: Body = Box::new(|| std::panic::panic_any(17_u8));
        for (body, expected) in [
            (formatted, "formatted 42"),
            (literal, "literal"),
            (other, "a panic without a message"),
        ] {
            match spawned_event(body) {
                Event::Panicked { thread, message } => {
                    assert_eq!((thread.as_str(), message.as_str()), ("worker 7", expected));
                }
                _ => panic!("not reported as a panic: {expected}"),
            }
        }
    }
}
