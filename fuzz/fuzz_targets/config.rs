//! The configuration loader on arbitrary text: it never panics, and every
//! rejection is a list of errors that each name the file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rs_conf::Config;

fuzz_target!(|text: &str| {
    if let Err(errors) = Config::from_json5_str(text, "fuzz.json5") {
        assert!(!errors.is_empty());
        for error in errors.errors() {
            let message = error.to_string();
            assert!(message.starts_with("fuzz.json5"), "{message}");
        }
    }
});
