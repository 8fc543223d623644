//! Starting the server under test: the errors a user can meet.

use std::path::Path;

use rs_conformance::server::{ManagedServer, StartError};

#[test]
fn a_missing_binary_or_app_is_named() {
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let error =
        ManagedServer::start(Path::new("/no/such/ringsocket"), &app, 1000, None).unwrap_err();
    assert!(matches!(&error, StartError::Missing(p) if p == Path::new("/no/such/ringsocket")));
    assert_eq!(error.to_string(), "/no/such/ringsocket does not exist");

    let error = ManagedServer::start(
        Path::new("/bin/sh"),
        Path::new("/no/such/libecho.so"),
        1000,
        None,
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "/no/such/libecho.so does not exist");
}

#[test]
fn a_server_exiting_at_startup_is_reported_with_its_status_and_log() {
    // `sh CONFIG` runs the configuration as a script: it fails at once with
    // a message on stderr, like a server refusing its configuration.
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let error = ManagedServer::start(Path::new("/bin/sh"), &app, 1000, None).unwrap_err();
    let StartError::Exited(report) = &error else {
        panic!("{error}");
    };
    assert!(
        report.contains("the server exited (exit status:"),
        "{report}"
    );
    assert!(report.contains("conformance.json5"), "{report}");
    assert!(
        error
            .to_string()
            .starts_with("before listening, the server exited")
    );
}
