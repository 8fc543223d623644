//! Rules that relate several parts of the file: ports against each other,
//! endpoints against ports and certs, names and URLs across apps, limits
//! against limits. They run on whatever parsed cleanly, and skip a check
//! when the facts it needs are invalid (already reported) rather than pile
//! a second, misleading error onto the first.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use crate::defaults;
use crate::error::{ErrorKind, Errors};
use crate::host::hostname_covers;
use crate::model::PortConfig;
use crate::parse::{Document, EndpointFacts};
use crate::path::JsonPath;
use crate::url::{EndpointUrl, Scheme};
use crate::value::quote;

pub(crate) fn check(errs: &mut Errors<'_>, doc: &Document) {
    certs_required(errs, doc);
    duplicate_ports(errs, doc);
    duplicate_hostnames(errs, doc);
    duplicate_app_names(errs, doc);
    endpoints_match_ports_and_certs(errs, doc);
    duplicate_urls(errs, doc);
    limits(errs, doc);
}

/// `certs` must be present and non-empty when any port serves `wss://`.
fn certs_required(errs: &mut Errors<'_>, doc: &Document) {
    let Some(encrypted) = doc.ports.iter().position(|p| p.unencrypted == Some(false)) else {
        return;
    };
    let number = doc.ports[encrypted]
        .number
        .map_or_else(String::new, |n| format!(" (port {n})"));
    let why = format!(
        "{}{number} is encrypted (\"is_unencrypted\" is false or absent), so at least one TLS certificate is needed",
        doc.ports_path.index(encrypted)
    );
    match &doc.certs {
        None if doc.certs_valid_type => errs.at(
            &JsonPath::root(),
            None,
            ErrorKind::CertsRequired,
            format!("missing required key \"certs\" (a non-empty array of cert objects): {why}"),
        ),
        Some(certs) if certs.is_empty() => errs.at(
            &JsonPath::root().key("certs"),
            Some("[]".to_owned()),
            ErrorKind::CertsRequired,
            format!("must not be empty: {why}"),
        ),
        _ => {}
    }
}

/// Two entries with the same port number must not listen on overlapping
/// addresses: the kernel could not tell which one a connection is for.
/// Only overlaps that are certain are reported (an interface and an
/// address may or may not overlap; binding will tell).
fn duplicate_ports(errs: &mut Errors<'_>, doc: &Document) {
    for (j, later) in doc.ports.iter().enumerate() {
        let Some(b) = &later.full else { continue };
        let earlier = doc.ports[..j]
            .iter()
            .position(|p| p.full.as_ref().is_some_and(|a| ports_overlap(a, b)));
        if let Some(i) = earlier {
            errs.at(
                &doc.ports_path.index(j).key("port_number"),
                Some(b.port_number.to_string()),
                ErrorKind::DuplicatePort,
                format!(
                    "port {} is already configured on overlapping addresses by {}; give each entry distinct \"ip_addrs\", \"interface\" or IP family",
                    b.port_number,
                    doc.ports_path.index(i)
                ),
            );
        }
    }
}

fn ports_overlap(a: &PortConfig, b: &PortConfig) -> bool {
    if a.port_number != b.port_number {
        return false;
    }
    let shares_family = (accepts_v4(a) && accepts_v4(b)) || (accepts_v6(a) && accepts_v6(b));
    if !shares_family {
        return false;
    }
    match (&a.ip_addrs, &a.interface, &b.ip_addrs, &b.interface) {
        (Some(x), _, Some(y), _) => x.iter().any(|ip| {
            y.iter().any(|other| {
                addrs_overlap(*ip, *other)
                    || v4_taken(*ip, a).is_some_and(|ip| {
                        v4_taken(*other, b)
                            .is_some_and(|other| addrs_overlap(IpAddr::V4(ip), IpAddr::V4(other)))
                    })
            })
        }),
        (None, Some(x), None, Some(y)) => x == y,
        (None, Some(_), Some(_), _) | (Some(_), _, None, Some(_)) => false,
        // One of them listens on every address.
        _ => true,
    }
}

fn accepts_v4(p: &PortConfig) -> bool {
    !p.ipv6only
}

fn accepts_v6(p: &PortConfig) -> bool {
    !p.ipv4only
}

fn addrs_overlap(a: IpAddr, b: IpAddr) -> bool {
    a == b || (a.is_ipv4() == b.is_ipv4() && (a.is_unspecified() || b.is_unspecified()))
}

/// The IPv4 address whose connections a socket bound to `ip` by `port`
/// takes: `ip` itself, or on a dual-stack socket
/// (`ipv4_is_embedded_in_ipv6`) `::` for every IPv4 address and
/// `::ffff:a.b.c.d` for `a.b.c.d`.
fn v4_taken(ip: IpAddr, port: &PortConfig) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) if port.ipv4_is_embedded_in_ipv6 => {
            if v6.is_unspecified() {
                Some(Ipv4Addr::UNSPECIFIED)
            } else {
                v6.to_ipv4_mapped()
            }
        }
        IpAddr::V6(_) => None,
    }
}

/// One hostname, one cert: SNI must pick a single certificate, and so must
/// the local address a client without SNI connected to. An IPv4 address
/// and its IPv4-mapped IPv6 form (`::ffff:192.0.2.1`) are one local
/// address.
fn duplicate_hostnames(errs: &mut Errors<'_>, doc: &Document) {
    let mut seen: HashMap<String, (usize, &str, &JsonPath)> = HashMap::new();
    for (cert_index, cert) in doc.certs.iter().flatten().enumerate() {
        for (path, name) in cert.hostnames.iter().flatten() {
            let key = match name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                Ok(ip) => ip.to_canonical().to_string(),
                Err(_) => name.clone(),
            };
            match seen.get(&key) {
                Some(&(first_cert, first_name, first)) => {
                    let same = if first_name == name {
                        String::new()
                    } else {
                        format!(" as {}, the same address", quote(first_name))
                    };
                    let rule = if first_cert == cert_index {
                        "list it once"
                    } else {
                        "each hostname may belong to one cert only"
                    };
                    errs.at(
                        path,
                        Some(quote(name)),
                        ErrorKind::DuplicateHostname,
                        format!("already listed at {first}{same}; {rule}"),
                    );
                }
                None => {
                    seen.insert(key, (cert_index, name, path));
                }
            }
        }
    }
}

fn duplicate_app_names(errs: &mut Errors<'_>, doc: &Document) {
    for (j, app) in doc.apps.iter().enumerate() {
        let Some(name) = &app.name else { continue };
        if let Some(first) = doc.apps[..j].iter().find(|a| a.name.as_ref() == Some(name)) {
            errs.at(
                &app.name_path,
                Some(quote(name)),
                ErrorKind::DuplicateAppName,
                format!(
                    "already the name of {}; app names must be unique (they prefix log messages)",
                    parent(&first.name_path)
                ),
            );
        }
    }
}

/// "apps[0]" from "apps[0].name".
fn parent(name_path: &JsonPath) -> String {
    let s = name_path.to_string();
    s.strip_suffix(".name").map_or(s.clone(), str::to_owned)
}

/// Each endpoint's port must be configured with the URL's encryption, and
/// a `wss://` host must be covered by a cert (the two errors of an
/// endpoint together, in that order).
fn endpoints_match_ports_and_certs(errs: &mut Errors<'_>, doc: &Document) {
    let ports = ConfiguredPorts::of(doc);
    let certs_known =
        doc.certs_valid_type && doc.certs.iter().flatten().all(|c| c.hostnames.is_some());
    let all_hostnames: Vec<&str> = doc
        .certs
        .iter()
        .flatten()
        .flat_map(|c| c.hostnames.iter().flatten().map(|(_, n)| n.as_str()))
        .collect();
    for endpoint in doc.apps.iter().flat_map(|a| &a.endpoints) {
        let Some(url) = &endpoint.url else { continue };
        ports.check(errs, doc, endpoint, url);
        if url.is_secure()
            && certs_known
            && !all_hostnames.iter().any(|p| hostname_covers(p, &url.host))
        {
            let configured = if all_hostnames.is_empty() {
                "no certs are configured".to_owned()
            } else {
                format!("configured: {}", all_hostnames.join(", "))
            };
            errs.at(
                &endpoint.url_path,
                Some(quote(&url.raw)),
                ErrorKind::UncoveredHost,
                format!(
                    "host \"{}\" is not covered by any cert's \"hostnames\" ({configured})",
                    url.host
                ),
            );
        }
    }
}

/// The configured ports, as an endpoint's URL is checked against them.
struct ConfiguredPorts {
    /// Every port has its number and encryption (else an endpoint's port
    /// missing from them may be the misconfigured port's).
    known: bool,
    /// The numbers, each once, for the error message.
    list: String,
}

impl ConfiguredPorts {
    fn of(doc: &Document) -> Self {
        let known = doc.ports_valid
            && doc
                .ports
                .iter()
                .all(|p| p.number.is_some() && p.unencrypted.is_some());
        let mut numbers: Vec<u16> = Vec::new();
        for n in doc.ports.iter().filter_map(|p| p.number) {
            if !numbers.contains(&n) {
                numbers.push(n);
            }
        }
        let list = numbers
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        Self { known, list }
    }

    /// `url`'s port must be one of them, with the URL's encryption.
    fn check(
        &self,
        errs: &mut Errors<'_>,
        doc: &Document,
        endpoint: &EndpointFacts,
        url: &EndpointUrl,
    ) {
        let same_number: Vec<usize> = (0..doc.ports.len())
            .filter(|&i| doc.ports[i].number == Some(url.port))
            .collect();
        if same_number.is_empty() {
            if self.known {
                errs.at(
                    &endpoint.url_path,
                    Some(quote(&url.raw)),
                    ErrorKind::UnconfiguredPort,
                    format!(
                        "port {} is not a configured port (configured: {})",
                        url.port, self.list
                    ),
                );
            }
            return;
        }
        if !same_number
            .iter()
            .all(|&i| doc.ports[i].unencrypted.is_some())
        {
            return;
        }
        let wants_unencrypted = url.scheme == Scheme::Ws;
        if same_number
            .iter()
            .any(|&i| doc.ports[i].unencrypted == Some(wants_unencrypted))
        {
            return;
        }
        let port_path = doc.ports_path.index(same_number[0]);
        let message = if wants_unencrypted {
            format!(
                "ws:// needs a port with \"is_unencrypted\": true, but port {} ({port_path}) is encrypted",
                url.port
            )
        } else {
            format!(
                "wss:// needs an encrypted port, but port {} ({port_path}) has \"is_unencrypted\": true",
                url.port
            )
        };
        errs.at(
            &endpoint.url_path,
            Some(quote(&url.raw)),
            ErrorKind::SchemePortMismatch,
            message,
        );
    }
}

/// Two endpoints may not share a URL: a request could not be routed.
/// Compared normalized, so `ws://a/x` and `ws://a:80/x` are the same.
fn duplicate_urls(errs: &mut Errors<'_>, doc: &Document) {
    let mut seen: HashMap<String, (&JsonPath, &str)> = HashMap::new();
    for endpoint in doc.apps.iter().flat_map(|a| &a.endpoints) {
        let Some(url) = &endpoint.url else { continue };
        let key = url.normalized();
        if let Some((first_path, first_raw)) = seen.get(&key) {
            errs.at(
                &endpoint.url_path,
                Some(quote(&url.raw)),
                ErrorKind::DuplicateUrl,
                format!(
                    "same endpoint URL as {first_path} ({}); each URL may be configured once",
                    quote(first_raw)
                ),
            );
        } else {
            seen.insert(key, (&endpoint.url_path, &url.raw));
        }
    }
}

/// A message's frames hold its payload, and one maximum-size message must
/// fit in a client's pending output and in its worker's partial messages;
/// one client's pending output in its worker's.
fn limits(errs: &mut Errors<'_>, doc: &Document) {
    let limits = doc.globals.limits();
    if let (Some(pending), Some(total)) = (limits.pending, limits.pending_total)
        && total < pending
    {
        errs.at(
            &JsonPath::root().key("max_pending_output_total"),
            Some(total.to_string()),
            ErrorKind::InconsistentLimits,
            format!(
                "must be at least \"max_pending_output\" ({pending}) so one client at its \
                 limit fits"
            ),
        );
    }
    let Some(msg) = limits.msg else {
        return;
    };
    let header = defaults::MAX_FRAME_HEADER_LEN;
    let at_least_msg = [
        (
            "max_ws_frame_chain_size",
            limits.chain,
            msg.saturating_add(header),
            format!(
                "\"max_ws_msg_size\" + {header} ({}): a message's frames include its whole \
                 payload, and a header of up to {header} bytes each",
                msg.saturating_add(header)
            ),
        ),
        (
            "max_pending_output",
            limits.pending,
            defaults::least_pending_output_for(msg),
            format!(
                "\"max_ws_msg_size\" + {} ({}) so one maximum-size message fits, with its \
                 frame header and what queuing it costs",
                defaults::MAX_SERVER_FRAME_HEADER_LEN + defaults::QUEUED_FRAME_COST,
                defaults::least_pending_output_for(msg)
            ),
        ),
        (
            "max_partial_msgs_size",
            limits.partial,
            msg,
            format!("\"max_ws_msg_size\" ({msg}) so one maximum-size message in pieces fits"),
        ),
    ];
    for (key, value, least, why) in at_least_msg {
        if let Some(value) = value.filter(|&v| v < least) {
            errs.at(
                &JsonPath::root().key(key),
                Some(value.to_string()),
                ErrorKind::InconsistentLimits,
                format!("must be at least {why}"),
            );
        }
    }
}
