//! `certs` elements.

use std::path::Path;

use super::{CERT_KEYS, CertFacts, file_path};
use crate::error::{ErrorKind, Errors};
use crate::extract::{Obj, checked_strings};
use crate::host::parse_cert_hostname;
use crate::model::CertConfig;
use crate::path::JsonPath;
use crate::value::Value;

pub(super) fn parse_cert(
    errs: &mut Errors<'_>,
    value: &Value,
    path: JsonPath,
    base_dir: &Path,
) -> CertFacts {
    let Some(cert) = Obj::new(errs, value, path, "a cert object", CERT_KEYS) else {
        return CertFacts {
            hostnames: None,
            full: None,
        };
    };
    let expected_names =
        "a non-empty array of host names, e.g. [\"example.com\", \"*.example.com\"]";
    let names_field = cert.nonempty_array(errs, "hostnames", expected_names);
    let hostnames = cert
        .required(errs, "hostnames", names_field, expected_names)
        .and_then(|items| {
            let names_path = cert.key_path("hostnames");
            let names = checked_strings(errs, items, &names_path, "a host name string", |s, _| {
                parse_cert_hostname(s).map_err(|why| {
                    let why = format!("{why}; expected a host name, a *.wildcard or an IP address");
                    (ErrorKind::InvalidHostname, why)
                })
            })?;
            Some(
                names
                    .into_iter()
                    .map(|(name, path)| (path, name))
                    .collect::<Vec<_>>(),
            )
        });
    let privkey = file_path(
        errs,
        &cert,
        "privkey_path",
        "the path of the private key file (PEM)",
        base_dir,
    );
    let pubchain = file_path(
        errs,
        &cert,
        "pubchain_path",
        "the path of the full public certificate chain file (PEM)",
        base_dir,
    );
    let full = match (&hostnames, privkey, pubchain) {
        (Some(names), Some(privkey_path), Some(pubchain_path)) => Some(CertConfig {
            hostnames: names.iter().map(|(_, n)| n.clone()).collect(),
            privkey_path,
            pubchain_path,
        }),
        _ => None,
    };
    CertFacts { hostnames, full }
}
