//! Property tests: no input makes validation or URL parsing panic, and
//! every rejected configuration comes with at least one one-line error.

use proptest::prelude::*;
use rs_conf::{AllowedOrigin, Config, EndpointUrl};

/// Fragments that steer random text toward configuration-shaped JSON5.
const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "'",
    "ports",
    "apps",
    "certs",
    "port_number",
    "url",
    "endpoints",
    "endpoint_id",
    "name",
    "app_path",
    "ws://",
    "wss://",
    "localhost",
    ":8080",
    "/x",
    "true",
    "\"true\"",
    "0",
    "-1",
    "65536",
    "1e9",
    "0x10",
    "NaN",
    "null",
    "//",
    "/*",
    "*/",
    "\n",
    "\\u00e9",
    "é",
];

fn config_like() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn validation_never_panics(text in config_like()) {
        if let Err(errors) = Config::from_json5_str(&text, "p.json5") {
            prop_assert!(!errors.is_empty());
            for e in errors.errors() {
                prop_assert!(!e.to_string().contains('\n'), "{}", e);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = Config::from_json5_str(&text, "p.json5");
    }

    #[test]
    fn url_parsing_never_panics(text in "[a-zA-Z]{0,4}(://)?[\\[\\]:@?#/%.a-z0-9é -]{0,40}") {
        let _ = EndpointUrl::parse(&text);
        let _ = AllowedOrigin::parse(&text);
    }
}
