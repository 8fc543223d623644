//! `apps` elements and their `endpoints`.

use std::collections::HashMap;
use std::path::Path;

use super::{
    APP_KEYS, AppFacts, ENDPOINT_KEYS, EndpointFacts, MAX_APP_HEADER_LEN, MAX_ENDPOINTS_PER_APP,
    MAX_SUBPROTOCOL_LEN, file_path,
};
use crate::defaults;
use crate::error::{ErrorKind, Errors};
use crate::extract::{Obj, checked_strings};
use crate::model::{AppConfig, EndpointConfig};
use crate::path::JsonPath;
use crate::url::{AllowedOrigin, EndpointUrl};
use crate::value::{Value, quote};

pub(super) fn parse_app(
    errs: &mut Errors<'_>,
    value: &Value,
    path: JsonPath,
    base_dir: &Path,
) -> AppFacts {
    let name_path = path.key("name");
    let Some(app) = Obj::new(errs, value, path, "an app object", APP_KEYS) else {
        return AppFacts {
            name_path,
            name: None,
            endpoints: Vec::new(),
            full: None,
            update_queue_size: None,
        };
    };
    let name_expected = "a non-empty name for the app's log messages";
    let name_field = app
        .nonempty_string(errs, "name", name_expected)
        .and_then(|s| {
            if s.chars().any(char::is_control) {
                errs.at(
                    &name_path,
                    Some(quote(s)),
                    ErrorKind::InvalidString,
                    "must not contain control characters (it prefixes log lines)",
                );
                None
            } else {
                Some(s.to_owned())
            }
        });
    let name = app.required(errs, "name", name_field, name_expected);
    let app_path = file_path(
        errs,
        &app,
        "app_path",
        "the path of the app's shared object (.so) file",
        base_dir,
    );

    let endpoints_expected = "a non-empty array of endpoint objects";
    let endpoints_field = app
        .nonempty_array(errs, "endpoints", endpoints_expected)
        .and_then(|items| {
            if items.len() > MAX_ENDPOINTS_PER_APP {
                errs.at(
                    &app.key_path("endpoints"),
                    Some(format!("({} elements)", items.len())),
                    ErrorKind::ArrayLength,
                    format!("an app may have at most {MAX_ENDPOINTS_PER_APP} endpoints"),
                );
                None
            } else {
                Some(items)
            }
        });
    let endpoint_items = app.required(errs, "endpoints", endpoints_field, endpoints_expected);
    let endpoints: Vec<EndpointFacts> = endpoint_items
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, v)| parse_endpoint(errs, v, app.key_path("endpoints").index(i)))
        .collect();

    let no_open_cb = app.boolean(errs, "no_open_cb").or(false);
    let no_close_cb = app.boolean(errs, "no_close_cb").or(false);
    let wbuf_size = app
        .size_in(errs, "wbuf_size", 1, defaults::MAX_WBUF_SIZE)
        .or(defaults::WBUF_SIZE);
    let update_queue_size = app.size(errs, "update_queue_size", 1).optional();
    let close_client_on_panic = app.boolean(errs, "close_client_on_panic").or(false);

    let full = (|| {
        Some(AppConfig {
            name: name.clone()?,
            app_path: app_path?,
            endpoints: Vec::new(),
            no_open_cb: no_open_cb?,
            no_close_cb: no_close_cb?,
            wbuf_size: wbuf_size?,
            update_queue_size: 0,
            close_client_on_panic: close_client_on_panic?,
        })
    })();
    AppFacts {
        name_path,
        name,
        endpoints,
        full,
        update_queue_size,
    }
}

fn parse_endpoint(errs: &mut Errors<'_>, value: &Value, path: JsonPath) -> EndpointFacts {
    let url_path = path.key("url");
    let Some(endpoint) = Obj::new(errs, value, path, "an endpoint object", ENDPOINT_KEYS) else {
        return EndpointFacts {
            url_path,
            url: None,
            full: None,
        };
    };
    let id_field = endpoint
        .uint(errs, "endpoint_id", 0, 65_535)
        .and_then(|n| u16::try_from(n).ok());
    let endpoint_id =
        endpoint.required(errs, "endpoint_id", id_field, "an integer from 0 to 65535");

    let url_expected = "a ws:// or wss:// URL, e.g. \"wss://example.com:12345/foo\"";
    let url_field = endpoint.string(errs, "url", url_expected).and_then(|s| match EndpointUrl::parse(s) {
        Ok(url) => Some(url),
        Err(why) => {
            errs.at(&url_path, Some(quote(s)), ErrorKind::InvalidUrl, format!("not a valid endpoint URL: {why}; expected ws://host[:port][/path] or wss://host[:port][/path]"));
            None
        }
    });
    let url = endpoint.required(errs, "url", url_field, url_expected);

    let origins_expected = "an array of origins like \"https://example.com\"";
    let origins = endpoint.array(errs, "allowed_origins", origins_expected).optional().and_then(|items| {
        let Some(items) = items else { return Some(Vec::new()) };
        let origins_path = endpoint.key_path("allowed_origins");
        let origins = checked_strings(errs, items, &origins_path, "an origin string", |s, _| {
            AllowedOrigin::parse(s).map_err(|why| (ErrorKind::InvalidOrigin, format!("not a valid origin: {why}; expected scheme://host[:port], e.g. \"https://example.com\"")))
        })?;
        Some(origins.into_iter().map(|(origin, _)| origin).collect())
    });

    let subprotocols = token_list(
        errs,
        &endpoint,
        TokenList {
            key: "subprotocols",
            expected: "an array of subprotocol names like \"chat.v1\"",
            what: "subprotocol name",
            max_len: MAX_SUBPROTOCOL_LEN,
            kind: ErrorKind::InvalidSubprotocol,
            // Compared exactly, as clients' offers are (RFC 6455 §4.1).
            fold: str::to_owned,
        },
    );
    let app_headers = token_list(
        errs,
        &endpoint,
        TokenList {
            key: "app_headers",
            expected: "an array of header names like \"Cookie\"",
            what: "header name",
            max_len: MAX_APP_HEADER_LEN,
            kind: ErrorKind::InvalidHeaderName,
            fold: str::to_ascii_lowercase,
        },
    );

    let full = match (endpoint_id, &url, origins, subprotocols, app_headers) {
        (
            Some(endpoint_id),
            Some(url),
            Some(allowed_origins),
            Some(subprotocols),
            Some(app_headers),
        ) => Some(EndpointConfig {
            endpoint_id,
            url: url.clone(),
            allowed_origins,
            subprotocols,
            app_headers,
        }),
        _ => None,
    };
    EndpointFacts {
        url_path,
        url,
        full,
    }
}

/// An endpoint's array of names that are HTTP tokens (`subprotocols`,
/// `app_headers`).
struct TokenList {
    key: &'static str,
    expected: &'static str,
    /// What one name is, for the error messages.
    what: &'static str,
    max_len: usize,
    kind: ErrorKind,
    /// What makes two names the same (listed twice): the name as it is
    /// compared.
    fold: fn(&str) -> String,
}

/// The names of `list.key` (empty when absent), each a token of at most
/// `max_len` bytes and none twice; `None` once what is wrong is reported.
fn token_list(errs: &mut Errors<'_>, endpoint: &Obj<'_>, list: TokenList) -> Option<Vec<String>> {
    let items = endpoint.array(errs, list.key, list.expected).optional()?;
    let Some(items) = items else {
        return Some(Vec::new());
    };
    let what = list.what;
    // Each name as compared, and its index in `kept`.
    let mut seen = HashMap::new();
    let names = checked_strings(
        errs,
        items,
        &endpoint.key_path(list.key),
        &format!("a {what}"),
        |name, kept: &[(String, JsonPath)]| {
            let why = match seen.get(&(list.fold)(name)).map(|&i| &kept[i]) {
                _ if !is_token(name) => format!(
                    "not a valid {what}: it must be one or more letters, digits or !#$%&'*+-.^_`|~ (an HTTP token)"
                ),
                _ if name.len() > list.max_len => format!(
                    "a {what} is at most {} bytes long, this one {}",
                    list.max_len,
                    name.len()
                ),
                Some((_, first)) => format!("listed twice (also {first})"),
                None => {
                    seen.insert((list.fold)(name), kept.len());
                    return Ok(name.to_owned());
                }
            };
            Err((list.kind, why))
        },
    )?;
    Some(names.into_iter().map(|(name, _)| name).collect())
}

/// Whether `name` is an HTTP token (RFC 7230 §3.2.6), as a subprotocol
/// name (RFC 6455 §4.1) and a header name must be. (rs-http checks what
/// clients offer the same way; this crate does not depend on it.)
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
