//! Reads the value tree into the typed model, one object kind at a time
//! (`globals`, `ports`, `certs`, `apps`), recording every error. Rules that
//! span objects live in `rules`.

mod apps;
mod certs;
mod globals;
mod ports;

use std::path::{Path, PathBuf};

use crate::error::Errors;
use crate::extract::{Field, Obj};
use crate::model::{AppConfig, CertConfig, Config, EndpointConfig, PortConfig};
use crate::path::JsonPath;
use crate::rules;
use crate::url::EndpointUrl;
use crate::value::Value;

pub(crate) use globals::Globals;

/// Keys of the root object, in the seed's order, then this project's.
pub(crate) const ROOT_KEYS: &[&str] = &[
    "ports",
    "certs",
    "apps",
    "log_level",
    "worker_c",
    "shutdown_wait_http",
    "shutdown_wait_ws",
    "idle_timeout",
    "fd_alloc_c",
    "max_ws_msg_size",
    "max_ws_frame_chain_size",
    "realloc_multiplier",
    "worker_rbuf_size",
    "inbound_ring_buf_size",
    "outbound_ring_buf_size",
    "owrefs_elem_c",
    "epoll_buf_elem_c",
    "update_queue_size",
    "user",
    "max_pending_output",
    "max_pending_output_total",
    "max_partial_msgs_size",
    "max_http_request_size",
    "max_conns_per_ip",
];
/// Keys of a `ports` element.
pub(crate) const PORT_KEYS: &[&str] = &[
    "port_number",
    "is_unencrypted",
    "ip_addrs",
    "interface",
    "ipv4only",
    "ipv6only",
    "ipv4_is_embedded_in_ipv6",
];
/// Keys of a `certs` element.
pub(crate) const CERT_KEYS: &[&str] = &["hostnames", "privkey_path", "pubchain_path"];
/// Keys of an `apps` element.
pub(crate) const APP_KEYS: &[&str] = &[
    "name",
    "app_path",
    "endpoints",
    "no_open_cb",
    "no_close_cb",
    "wbuf_size",
    "update_queue_size",
    "close_client_on_panic",
];
/// Keys of an `endpoints` element.
pub(crate) const ENDPOINT_KEYS: &[&str] = &[
    "endpoint_id",
    "url",
    "allowed_origins",
    "subprotocols",
    "app_headers",
];

/// The most endpoints one app may have (the seed's `UINT16_MAX`).
pub const MAX_ENDPOINTS_PER_APP: usize = 65_535;

/// The longest subprotocol name, in bytes: the server tells an app the
/// chosen one behind a one-byte length (`rs_app::wire::OpenDetails`).
pub const MAX_SUBPROTOCOL_LEN: usize = 255;

/// The longest name in `app_headers`, in bytes: the server gives an app
/// each header's name behind a one-byte length (`rs_app::wire::OpenDetails`).
pub const MAX_APP_HEADER_LEN: usize = 255;

/// What the cross-object rules need to know about one port, even when some
/// of its other keys are invalid.
pub(crate) struct PortFacts {
    pub(crate) number: Option<u16>,
    pub(crate) unencrypted: Option<bool>,
    pub(crate) full: Option<PortConfig>,
}

/// What the rules need to know about one cert.
pub(crate) struct CertFacts {
    /// Normalized hostnames with their paths; `None` if any is invalid.
    pub(crate) hostnames: Option<Vec<(JsonPath, String)>>,
    pub(crate) full: Option<CertConfig>,
}

/// What the rules need to know about one endpoint.
pub(crate) struct EndpointFacts {
    pub(crate) url_path: JsonPath,
    pub(crate) url: Option<EndpointUrl>,
    pub(crate) full: Option<EndpointConfig>,
}

/// What the rules need to know about one app.
pub(crate) struct AppFacts {
    pub(crate) name_path: JsonPath,
    pub(crate) name: Option<String>,
    pub(crate) endpoints: Vec<EndpointFacts>,
    /// Every key but the endpoints and the resolved update_queue_size.
    pub(crate) full: Option<AppConfig>,
    pub(crate) update_queue_size: Option<Option<usize>>,
}

/// Everything read from one file, before assembly.
pub(crate) struct Document {
    pub(crate) globals: Globals,
    pub(crate) ports: Vec<PortFacts>,
    pub(crate) ports_path: JsonPath,
    /// Whether `"ports"` is a non-empty array (else it is already reported).
    pub(crate) ports_valid: bool,
    /// `None` when `"certs"` is absent; `Some` (maybe empty) otherwise.
    pub(crate) certs: Option<Vec<CertFacts>>,
    pub(crate) certs_valid_type: bool,
    pub(crate) apps: Vec<AppFacts>,
}

/// Reads and validates a whole configuration value tree.
pub(crate) fn config_from_value(
    value: &Value,
    file: &Path,
    errs: &mut Errors<'_>,
) -> Option<Config> {
    let base_dir = base_dir(file);
    let root = Obj::new(
        errs,
        value,
        JsonPath::root(),
        "an object with at least \"ports\" and \"apps\"",
        ROOT_KEYS,
    )?;

    let ports_field = root.nonempty_array(errs, "ports", "a non-empty array of port objects");
    let ports_items = root.required(
        errs,
        "ports",
        ports_field,
        "a non-empty array of port objects",
    );
    let ports = ports_items
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, v)| ports::parse_port(errs, v, root.key_path("ports").index(i)))
        .collect();

    let certs_field = root.array(errs, "certs", "an array of cert objects");
    let certs_valid_type = !matches!(certs_field, Field::Invalid);
    let certs = certs_field.optional().flatten().map(|items| {
        items
            .iter()
            .enumerate()
            .map(|(i, v)| certs::parse_cert(errs, v, root.key_path("certs").index(i), &base_dir))
            .collect()
    });

    let globals = globals::parse_globals(errs, &root);

    let apps_field = root.nonempty_array(errs, "apps", "a non-empty array of app objects");
    let apps_items = root.required(errs, "apps", apps_field, "a non-empty array of app objects");
    let apps = apps_items
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, v)| apps::parse_app(errs, v, root.key_path("apps").index(i), &base_dir))
        .collect();

    let doc = Document {
        globals,
        ports,
        ports_path: root.key_path("ports"),
        ports_valid: ports_items.is_some(),
        certs,
        certs_valid_type,
        apps,
    };
    rules::check(errs, &doc);
    if !errs.is_empty() {
        return None;
    }
    assemble(doc, file)
}

/// The folder relative paths resolve against: the configuration file's
/// folder, made absolute so a later change of working directory (e.g. when
/// daemonizing) does not change what the paths name.
fn base_dir(file: &Path) -> PathBuf {
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    absolute.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn resolve(base_dir: &Path, configured: &str) -> PathBuf {
    let path = Path::new(configured);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}

/// A required, non-empty path, resolved against the configuration's folder.
fn file_path(
    errs: &mut Errors<'_>,
    obj: &Obj<'_>,
    key: &str,
    expected: &str,
    base_dir: &Path,
) -> Option<PathBuf> {
    let field = obj.nonempty_string(errs, key, expected);
    obj.required(errs, key, field, expected)
        .map(|s| resolve(base_dir, s))
}

/// Builds the model once every check has passed.
fn assemble(doc: Document, file: &Path) -> Option<Config> {
    let g = doc.globals;
    let update_queue_size = g.update_queue_size?;
    let ports = doc
        .ports
        .into_iter()
        .map(|p| p.full)
        .collect::<Option<Vec<_>>>()?;
    let certs = doc
        .certs
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.full)
        .collect::<Option<Vec<_>>>()?;
    let apps = doc
        .apps
        .into_iter()
        .map(|a| {
            let mut app = a.full?;
            app.endpoints = a
                .endpoints
                .into_iter()
                .map(|e| e.full)
                .collect::<Option<Vec<_>>>()?;
            app.update_queue_size = a.update_queue_size?.unwrap_or(update_queue_size);
            Some(app)
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Config {
        file: file.to_path_buf(),
        ports,
        certs,
        apps,
        log_level: g.log_level?,
        worker_c: g.worker_c?,
        shutdown_wait_http: g.shutdown_wait_http?,
        shutdown_wait_ws: g.shutdown_wait_ws?,
        idle_timeout: g.idle_timeout?,
        fd_alloc_c: g.fd_alloc_c?,
        max_ws_msg_size: g.max_ws_msg_size?,
        max_ws_frame_chain_size: g.max_ws_frame_chain_size?,
        realloc_multiplier: g.realloc_multiplier?,
        worker_rbuf_size: g.worker_rbuf_size?,
        inbound_ring_buf_size: g.inbound_ring_buf_size?,
        outbound_ring_buf_size: g.outbound_ring_buf_size?,
        owrefs_elem_c: g.owrefs_elem_c?,
        epoll_buf_elem_c: g.epoll_buf_elem_c?,
        update_queue_size,
        user: g.user?,
        max_pending_output: g.max_pending_output?,
        max_pending_output_total: g.max_pending_output_total?,
        max_partial_msgs_size: g.max_partial_msgs_size?,
        max_http_request_size: g.max_http_request_size?,
        max_conns_per_ip: g.max_conns_per_ip?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A root object with one plaintext port and one app with `endpoints`.
    fn root_with_endpoints(endpoints: Vec<Value>) -> Value {
        let s = |v: &str| Value::Str(v.to_owned());
        let port = Value::Object(vec![
            ("port_number".into(), Value::Int(8080)),
            ("is_unencrypted".into(), Value::Bool(true)),
        ]);
        let app = Value::Object(vec![
            ("name".into(), s("a")),
            ("app_path".into(), s("/a.so")),
            ("endpoints".into(), Value::Array(endpoints)),
        ]);
        Value::Object(vec![
            ("ports".into(), Value::Array(vec![port])),
            ("apps".into(), Value::Array(vec![app])),
        ])
    }

    fn endpoint(i: usize) -> Value {
        Value::Object(vec![
            ("endpoint_id".into(), Value::Int(0)),
            ("url".into(), Value::Str(format!("ws://localhost:8080/{i}"))),
        ])
    }

    #[test]
    fn an_app_has_at_most_65535_endpoints() {
        let file = Path::new("x.json5");
        let max = root_with_endpoints((0..MAX_ENDPOINTS_PER_APP).map(endpoint).collect());
        let mut errs = Errors::new(file);
        let config = config_from_value(&max, file, &mut errs);
        assert!(errs.is_empty());
        assert_eq!(config.map(|c| c.apps[0].endpoints.len()), Some(65_535));

        let too_many = root_with_endpoints((0..=MAX_ENDPOINTS_PER_APP).map(endpoint).collect());
        let mut errs = Errors::new(file);
        assert!(config_from_value(&too_many, file, &mut errs).is_none());
        let errors = errs.into_errors();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors.to_string(),
            "x.json5: apps[0].endpoints: (65536 elements): an app may have at most 65535 endpoints"
        );
    }
}
