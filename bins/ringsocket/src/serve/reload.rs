//! SIGHUP: reloading the configuration into a running server, and what
//! a reload cannot apply.

use std::path::Path;

use rs_conf::{Config, EndpointConfig, EndpointUrl, PortConfig};
use rs_worker::TlsConfig;

use super::{Server, build_router};
use crate::logging;

impl Server {
    /// SIGHUP: re-reads the configuration and applies what can change
    /// without dropping clients, for what comes next: `log_level`, the TLS
    /// certificates (`certs` and the files they name) and the endpoints
    /// (their URLs, origins, subprotocols and headers for apps) for
    /// connections accepted from then on, among the ports and apps the
    /// server started with. A configuration that no longer validates changes nothing;
    /// certificates that cannot be loaded, or that do not cover the
    /// `wss://` endpoints in use (kept when ports or apps changed), leave
    /// the old ones in use.
    pub(super) fn reload(&mut self, config_path: &Path) {
        // Checked as --check and startup check it, the certs' files too.
        // The apps' files only warn: apps are not reloaded (an app file
        // moved aside in an upgrade must not hold up new certificates).
        let config = match Config::load(config_path).and_then(|c| c.check_cert_files().map(|()| c))
        {
            Ok(config) => config,
            Err(errors) => {
                log::error!("SIGHUP: the configuration is invalid, nothing reloaded:\n{errors}");
                return;
            }
        };
        if let Err(errors) = config.check_app_files() {
            log::warn!(
                "SIGHUP: the running apps are not affected, but a restart would fail:\n{errors}"
            );
        }
        for warning in config.warnings() {
            log::warn!("SIGHUP: {}: {warning}", config.file.display());
        }
        if logging::set_level(config.log_level) {
            log::info!("SIGHUP: log_level is now \"{}\"", config.log_level.as_str());
        } else {
            log::info!("SIGHUP: RUST_LOG is set and decides the log level");
        }
        // Said whatever happens to the certificates and endpoints below.
        let unapplied = needs_restart(&self.started, &config);
        if !unapplied.is_empty() {
            log::warn!(
                "SIGHUP: changed settings that apply only at a restart: {}",
                unapplied.join(", ")
            );
        }
        let routes_reloadable = self.routes_reloadable(&config);
        // Built first, as the certificates are below: then they are swapped
        // together (a connection takes both at accept, of one version).
        let router = if routes_reloadable {
            match build_router(&config) {
                Ok(router) => Some(router),
                // (The configuration's checks refuse what this would; kept
                // in case they and the router ever disagree.)
                Err(e) => {
                    log::error!("SIGHUP: endpoints not reloaded, the old ones stay: {e}");
                    None
                }
            }
        } else {
            None
        };
        let hosts = secure_hosts(if router.is_some() {
            &config
        } else {
            &self.endpoints_from
        });
        let mut certs = None;
        if self.tls.is_some() {
            if let Some(host) = hosts
                .iter()
                .find(|host| !config.certs.iter().any(|cert| cert.covers(host)))
            {
                // Only endpoints kept from before can get here: the
                // configuration's checks refuse its own uncovered ones.
                log::error!(
                    "SIGHUP: TLS certificates not reloaded, the old ones stay: no cert's \
                     \"hostnames\" covers \"{host}\", the host of a wss:// endpoint in use"
                );
                return;
            }
            match TlsConfig::prepare(&config.certs) {
                Ok(prepared) => certs = Some(prepared),
                Err(e) => {
                    // New wss:// endpoints may need the new certificates.
                    log::error!(
                        "SIGHUP: TLS certificates not reloaded, the old ones stay, and so do the \
                         endpoints: {e}"
                    );
                    return;
                }
            }
        }
        let endpoints = router.as_ref().map(|router| router.len());
        let certs_reloaded = certs.is_some();
        let tls = &self.tls;
        self.routes.replace_with(router, || {
            if let (Some(tls), Some(certs)) = (tls, certs) {
                tls.install(certs);
            }
        });
        if certs_reloaded {
            log::info!(
                "SIGHUP: TLS certificates reloaded ({} cert(s)); new connections use them",
                config.certs.len()
            );
        }
        if let Some(count) = endpoints {
            let changes = endpoint_changes(&self.endpoints_from, &config);
            log::info!("SIGHUP: endpoints reloaded ({count}; {changes}); new connections use them");
            self.endpoints_from = config;
        }
    }

    /// Whether the endpoints of `config` can replace those in use: its
    /// ports and apps are those the server runs (listening sockets and
    /// loaded apps stay). Says why not.
    fn routes_reloadable(&self, config: &Config) -> bool {
        let apps = |c: &Config| {
            c.apps
                .iter()
                .map(|a| (a.name.clone(), a.app_path.clone()))
                .collect::<Vec<_>>()
        };
        let reloadable =
            same_ports(&config.ports, &self.started.ports) && apps(config) == apps(&self.started);
        if !reloadable {
            log::error!(
                "SIGHUP: endpoints not reloaded: \"ports\" or the apps (their names and \
                 app_path, in order) differ from those the server started with; restart to \
                 apply them"
            );
        }
        reloadable
    }
}

/// The settings of `new` that differ from `started` and that a reload does
/// not apply: all but `log_level`, `certs` and the apps' `endpoints` (and
/// `realloc_multiplier` and `owrefs_elem_c`, which have no effect).
fn needs_restart(started: &Config, new: &Config) -> Vec<String> {
    // Each field by the name of its key, which it shares.
    macro_rules! differing {
        ($($key:ident),* $(,)?) => {
            [$((stringify!($key), started.$key != new.$key)),*]
        };
    }
    let mut changed: Vec<String> = differing![
        shutdown_wait_http,
        shutdown_wait_ws,
        idle_timeout,
        fd_alloc_c,
        max_ws_msg_size,
        max_ws_frame_chain_size,
        worker_rbuf_size,
        inbound_ring_buf_size,
        outbound_ring_buf_size,
        epoll_buf_elem_c,
        update_queue_size,
        user,
        max_pending_output,
        max_pending_output_total,
        max_partial_msgs_size,
        max_http_request_size,
        max_conns_per_ip,
    ]
    .into_iter()
    .filter(|&(_, differs)| differs)
    .map(|(key, _)| key.to_owned())
    .collect();
    if !same_ports(&started.ports, &new.ports) {
        changed.insert(0, "ports".to_owned());
    }
    // As used: left out, it is worked out from the CPUs and the apps.
    if started.effective_worker_c() != new.effective_worker_c() {
        changed.insert(1.min(changed.len()), "worker_c".to_owned());
    }
    // The apps' own settings, apart from their endpoints, by app and key.
    if started.apps.len() != new.apps.len() {
        changed.push("apps (their number)".to_owned());
    }
    for (i, (old, app)) in started.apps.iter().zip(&new.apps).enumerate() {
        macro_rules! app_differing {
            ($($key:ident),*) => {
                [$((stringify!($key), old.$key != app.$key)),*]
            };
        }
        let keys = app_differing![
            name,
            app_path,
            no_open_cb,
            no_close_cb,
            wbuf_size,
            update_queue_size,
            close_client_on_panic
        ];
        for (key, _) in keys.into_iter().filter(|&(_, differs)| differs) {
            changed.push(format!("apps[{i}].{key}"));
        }
    }
    changed
}

/// Whether `a` and `b` list the same ports, in any order: the listening
/// sockets, made at start, do not depend on it.
fn same_ports(a: &[PortConfig], b: &[PortConfig]) -> bool {
    a.len() == b.len()
        && a.iter().all(|port| b.contains(port))
        && b.iter().all(|port| a.contains(port))
}

/// What differs between the endpoints of `old` and those of `new`, for
/// the log: each URL added or removed, and each URL kept whose settings
/// changed (with the keys that did), e.g. `added ws://a.test/new, changed
/// ws://a.test/chat (allowed_origins)`; `unchanged` if nothing did.
fn endpoint_changes(old: &Config, new: &Config) -> String {
    fn endpoints(config: &Config) -> Vec<(&str, &EndpointConfig)> {
        let apps = config.apps.iter();
        apps.flat_map(|app| app.endpoints.iter().map(move |e| (app.name.as_str(), e)))
            .collect()
    }
    // As the router matches them (the raw URL may differ in case).
    fn find<'a>(
        list: &[(&'a str, &'a EndpointConfig)],
        url: &EndpointUrl,
    ) -> Option<(&'a str, &'a EndpointConfig)> {
        let same = |u: &EndpointUrl| {
            (u.scheme, u.port) == (url.scheme, url.port) && u.host == url.host && u.path == url.path
        };
        list.iter().find(|(_, e)| same(&e.url)).copied()
    }
    let (old, new) = (endpoints(old), endpoints(new));
    let mut changes = Vec::new();
    for &(app, endpoint) in &new {
        let Some((old_app, before)) = find(&old, &endpoint.url) else {
            changes.push(format!("added {}", endpoint.url));
            continue;
        };
        let keys: Vec<&str> = [
            ("app", old_app != app),
            ("endpoint_id", before.endpoint_id != endpoint.endpoint_id),
            (
                "allowed_origins",
                before.allowed_origins != endpoint.allowed_origins,
            ),
            ("subprotocols", before.subprotocols != endpoint.subprotocols),
            ("app_headers", before.app_headers != endpoint.app_headers),
        ]
        .into_iter()
        .filter_map(|(key, differs)| differs.then_some(key))
        .collect();
        if !keys.is_empty() {
            changes.push(format!("changed {} ({})", endpoint.url, keys.join(", ")));
        }
    }
    for &(_, endpoint) in &old {
        if find(&new, &endpoint.url).is_none() {
            changes.push(format!("removed {}", endpoint.url));
        }
    }
    if changes.is_empty() {
        "unchanged".to_owned()
    } else {
        changes.join(", ")
    }
}

/// The hosts of `config`'s `wss://` endpoints.
fn secure_hosts(config: &Config) -> Vec<String> {
    config
        .apps
        .iter()
        .flat_map(|app| &app.endpoints)
        .filter(|endpoint| endpoint.url.is_secure())
        .map(|endpoint| endpoint.url.host.clone())
        .collect()
}
