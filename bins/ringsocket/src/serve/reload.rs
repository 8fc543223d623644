//! SIGHUP: reloading the configuration into a running server, and what
//! a reload cannot apply.

use std::path::Path;

use rs_conf::{Config, EndpointConfig, EndpointUrl};
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
        let changed = self.started.changed_keys(&config);
        let unapplied = needs_restart(&changed);
        if !unapplied.is_empty() {
            log::warn!(
                "SIGHUP: changed settings that apply only at a restart: {}",
                unapplied.join(", ")
            );
        }
        let routes_reloadable = routes_reloadable(&changed);
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
}

/// Whether new endpoints can replace those in use, given the keys that
/// changed ([`Config::changed_keys`]): the ports and apps (names and
/// `app_path`, in order) must be those the server runs (listening sockets
/// and loaded apps stay). Says why not.
fn routes_reloadable(changed: &[String]) -> bool {
    let reloadable = !changed.iter().any(|key| {
        key == "ports" || key == "apps" || key.ends_with("].name") || key.ends_with("].app_path")
    });
    if !reloadable {
        log::error!(
            "SIGHUP: endpoints not reloaded: \"ports\" or the apps (their names and \
             app_path, in order) differ from those the server started with; restart to \
             apply them"
        );
    }
    reloadable
}

/// Of the keys that changed ([`Config::changed_keys`]), those a reload
/// does not apply: all but `log_level`, `certs` and the apps' `endpoints` (and
/// `realloc_multiplier` and `owrefs_elem_c`, which have no effect). A key
/// added to the configuration needs a restart until it is named here.
fn needs_restart(changed: &[String]) -> Vec<String> {
    const APPLIED: [&str; 4] = ["log_level", "certs", "realloc_multiplier", "owrefs_elem_c"];
    changed
        .iter()
        .filter(|key| !APPLIED.contains(&key.as_str()) && !key.ends_with("].endpoints"))
        .map(|key| match key.as_str() {
            "apps" => "apps (their number)".to_owned(),
            _ => key.clone(),
        })
        .collect()
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
