//! `ports` elements.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{PORT_KEYS, PortFacts};
use crate::error::{ErrorKind, Errors};
use crate::extract::{Obj, checked_strings};
use crate::model::PortConfig;
use crate::path::JsonPath;
use crate::value::{Value, quote};

pub(super) fn parse_port(errs: &mut Errors<'_>, value: &Value, path: JsonPath) -> PortFacts {
    let Some(port) = Obj::new(errs, value, path, "a port object", PORT_KEYS) else {
        return PortFacts {
            number: None,
            unencrypted: None,
            full: None,
        };
    };
    let number_field = port
        .uint(errs, "port_number", 1, 65_535)
        .and_then(|n| u16::try_from(n).ok());
    let number = port.required(
        errs,
        "port_number",
        number_field,
        "an integer from 1 to 65535",
    );
    let unencrypted = port.boolean(errs, "is_unencrypted").or(false);
    let ipv4only = port.boolean(errs, "ipv4only").or(false);
    let ipv6only = port.boolean(errs, "ipv6only").or(false);
    let embedded = port.boolean(errs, "ipv4_is_embedded_in_ipv6").or(false);
    let errors_before = errs.count();

    if ipv4only == Some(true) && ipv6only == Some(true) {
        errs.at(
            port.path(),
            None,
            ErrorKind::ConflictingFamilyFlags,
            "\"ipv4only\" and \"ipv6only\" cannot both be true; set at most one",
        );
    }
    if embedded == Some(true) && (ipv4only == Some(true) || ipv6only == Some(true)) {
        errs.at(
            port.path(),
            None,
            ErrorKind::ConflictingFamilyFlags,
            "\"ipv4_is_embedded_in_ipv6\" needs both IP families; it cannot be combined with \"ipv4only\" or \"ipv6only\"",
        );
    }
    if port.has("ip_addrs") && port.has("interface") {
        errs.at(
            port.path(),
            None,
            ErrorKind::IpAddrsWithInterface,
            "\"ip_addrs\" and \"interface\" cannot both be set; use one of them",
        );
    }
    let families = Families {
        ipv4only: ipv4only == Some(true),
        ipv6only: ipv6only == Some(true),
        embedded: embedded == Some(true),
    };
    let ip_addrs = parse_ip_addrs(errs, &port, families);
    let interface = port
        .string(errs, "interface", "a network interface name")
        .and_then(|name| match check_interface_name(name) {
            Ok(()) => Some(name.to_owned()),
            Err(why) => {
                errs.at(
                    &port.key_path("interface"),
                    Some(quote(name)),
                    ErrorKind::InvalidInterface,
                    why,
                );
                None
            }
        })
        .optional();

    let full = (|| {
        if errs.count() != errors_before {
            return None;
        }
        Some(PortConfig {
            port_number: number?,
            is_unencrypted: unencrypted?,
            ip_addrs: ip_addrs?,
            interface: interface?,
            ipv4only: ipv4only?,
            ipv6only: ipv6only?,
            ipv4_is_embedded_in_ipv6: embedded?,
        })
    })();
    PortFacts {
        number,
        unencrypted,
        full,
    }
}

/// A port's IP family flags, as `ip_addrs` is checked against them.
#[derive(Clone, Copy)]
struct Families {
    ipv4only: bool,
    ipv6only: bool,
    embedded: bool,
}

fn parse_ip_addrs(
    errs: &mut Errors<'_>,
    port: &Obj<'_>,
    families: Families,
) -> Option<Option<Vec<IpAddr>>> {
    let expected = "a non-empty array of IP address strings (omit it to listen on every address)";
    let items = port.nonempty_array(errs, "ip_addrs", expected).optional()?;
    let Some(items) = items else {
        return Some(None);
    };
    let path = port.key_path("ip_addrs");
    // A set: a generated list may be long.
    let mut seen = HashSet::new();
    let addrs = checked_strings(errs, items, &path, "an IP address string", |s, _| {
        match s.parse::<IpAddr>() {
            Err(_) => Err((
                ErrorKind::InvalidIpAddr,
                "not an IP address (e.g. \"0.0.0.0\", \"127.0.0.1\", \"::\")".to_owned(),
            )),
            // With embedding, `::ffff:a.b.c.d` is `a.b.c.d`.
            Ok(ip) if !seen.insert(embedded_as_v4(ip, families)) => {
                Err((ErrorKind::InvalidIpAddr, "listed twice".to_owned()))
            }
            Ok(ip) if ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) => Err((
                ErrorKind::InvalidIpAddr,
                "a multicast or broadcast address: a TCP port cannot listen on it".to_owned(),
            )),
            // fe80::/10: binding one needs the interface's scope id, which
            // a plain address cannot give (Linux refuses it with EINVAL).
            Ok(IpAddr::V6(v6)) if v6.is_unicast_link_local() => Err((
                ErrorKind::InvalidIpAddr,
                "a link-local address, which needs an interface to listen on: set \"interface\" \
                 instead of \"ip_addrs\" to listen on that interface's addresses"
                    .to_owned(),
            )),
            Ok(IpAddr::V6(_)) if families.ipv4only => Err((
                ErrorKind::IpFamilyMismatch,
                "an IPv6 address on a port with \"ipv4only\": true".to_owned(),
            )),
            Ok(IpAddr::V4(_)) if families.ipv6only => Err((
                ErrorKind::IpFamilyMismatch,
                "an IPv4 address on a port with \"ipv6only\": true".to_owned(),
            )),
            Ok(IpAddr::V6(v6)) if !families.embedded && v6.to_ipv4_mapped().is_some() => Err((
                ErrorKind::IpFamilyMismatch,
                format!(
                    "an IPv4-mapped IPv6 address, which an IPv6-only socket cannot listen on: \
                     write \"{}\", or set \"ipv4_is_embedded_in_ipv6\": true",
                    v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)
                ),
            )),
            Ok(ip) => Ok(ip),
        }
    })?;
    // The unspecified address of a family takes every address of it (and
    // `::` with embedding every IPv4 one): listed with one, the bind fails.
    // (With embedding, `::ffff:0.0.0.0` is `0.0.0.0`.)
    let any_v4 = addrs
        .iter()
        .any(|(ip, _)| embedded_as_v4(*ip, families) == Ipv4Addr::UNSPECIFIED);
    let any_v6 = addrs.iter().any(|(ip, _)| *ip == Ipv6Addr::UNSPECIFIED);
    let mut valid = true;
    for (ip, ip_path) in &addrs {
        let taken_by = match embedded_as_v4(*ip, families) {
            v4 @ IpAddr::V4(_) if any_v4 && !v4.is_unspecified() => Some("0.0.0.0"),
            IpAddr::V4(_) if any_v6 && families.embedded => Some("::"),
            IpAddr::V6(_) if any_v6 && !ip.is_unspecified() => Some("::"),
            _ => None,
        };
        if let Some(other) = taken_by {
            errs.at(
                ip_path,
                Some(quote(&ip.to_string())),
                ErrorKind::DuplicatePort,
                format!(
                    "\"{other}\" in the same list already takes this address (binding both \
                     would fail); list one of them"
                ),
            );
            valid = false;
        }
    }
    valid.then(|| Some(addrs.into_iter().map(|(ip, _)| ip).collect()))
}

/// Linux interface names: 1-15 bytes, no '/', ':' or whitespace, not "." or "..".
fn check_interface_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err("not a valid network interface name (1-15 bytes without '/', ':' or whitespace, e.g. \"eth0\")".to_owned())
    }
}

/// `ip`, an IPv4-mapped IPv6 address on a port with
/// `ipv4_is_embedded_in_ipv6` given as the IPv4 address it stands for.
fn embedded_as_v4(ip: IpAddr, families: Families) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if families.embedded => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        _ => ip,
    }
}
