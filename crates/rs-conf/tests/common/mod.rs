//! Helpers shared by the rs-conf integration tests.
#![allow(dead_code)]

use rs_conf::{Config, ConfigError, ErrorKind};

/// The file name errors are reported against.
pub(crate) const FILE: &str = "/etc/ringsocket.json";

/// A plaintext port 8080.
pub(crate) const WS_PORT: &str = "{port_number: 8080, is_unencrypted: true}";

/// An endpoint served by [`WS_PORT`].
pub(crate) const WS_ENDPOINT: &str = r#"{endpoint_id: 0, url: "ws://localhost:8080/"}"#;

/// A root object from its parts: the `ports` and `apps` array contents, and
/// any further root keys.
pub(crate) fn root(ports: &str, apps: &str, rest: &str) -> String {
    format!("{{ ports: [{ports}], apps: [{apps}], {rest} }}")
}

/// One app with these endpoints (array contents) and extra keys.
pub(crate) fn app(name: &str, endpoints: &str, rest: &str) -> String {
    format!(
        r#"{{name: "{name}", app_path: "/usr/lib/{name}.so", endpoints: [{endpoints}], {rest}}}"#
    )
}

/// A minimal valid configuration with extra root keys.
pub(crate) fn with_root_keys(rest: &str) -> String {
    root(WS_PORT, &app("a", WS_ENDPOINT, ""), rest)
}

/// A minimal valid configuration whose only port is `port`.
pub(crate) fn with_port(port: &str) -> String {
    root(port, &app("a", WS_ENDPOINT, ""), "")
}

/// A minimal valid configuration whose app has extra keys.
pub(crate) fn with_app_keys(rest: &str) -> String {
    root(WS_PORT, &app("a", WS_ENDPOINT, rest), "")
}

/// A minimal valid configuration whose only endpoint is `endpoint`.
pub(crate) fn with_endpoint(endpoint: &str) -> String {
    root(WS_PORT, &app("a", endpoint, ""), "")
}

/// Parses text that must be valid.
pub(crate) fn valid(text: &str) -> Config {
    match Config::from_json5_str(text, FILE) {
        Ok(config) => config,
        Err(errors) => panic!("expected a valid configuration, got:\n{errors}\nfrom:\n{text}"),
    }
}

/// Parses text that must be invalid; returns its errors.
pub(crate) fn errors(text: &str) -> Vec<ConfigError> {
    match Config::from_json5_str(text, FILE) {
        Ok(_) => panic!("expected errors from:\n{text}"),
        Err(errors) => errors.into_vec(),
    }
}

/// Asserts that text has exactly one error, with this kind, JSON path,
/// offending value and message.
pub(crate) fn assert_one_error(
    text: &str,
    kind: ErrorKind,
    path: &str,
    value: Option<&str>,
    message: &str,
) {
    let errors = errors(text);
    assert_eq!(
        errors.len(),
        1,
        "expected one error, got:\n{}",
        lines(&errors)
    );
    let e = &errors[0];
    assert_eq!(
        (e.kind(), e.json_path(), e.value(), e.message()),
        (kind, Some(path), value, message),
        "\nfull error: {e}"
    );
}

/// The errors' display lines, for failure messages.
pub(crate) fn lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
