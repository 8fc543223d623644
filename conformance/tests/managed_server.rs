//! Starting the server under test: the errors a user can meet.

use std::path::Path;

use rs_conformance::server::{ManagedServer, StartError};

#[test]
fn a_missing_binary_or_app_is_named() {
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let error = ManagedServer::start(Path::new("/no/such/ringsocket"), &app, 1000, None, false)
        .unwrap_err();
    assert!(matches!(&error, StartError::Missing(p) if p == Path::new("/no/such/ringsocket")));
    assert_eq!(error.to_string(), "/no/such/ringsocket does not exist");

    let error = ManagedServer::start(
        Path::new("/bin/sh"),
        Path::new("/no/such/libecho.so"),
        1000,
        None,
        false,
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "/no/such/libecho.so does not exist");
}

#[test]
fn a_server_exiting_at_startup_is_reported_with_its_status_and_log() {
    // `sh CONFIG` runs the configuration as a script: it fails at once with
    // a message on stderr, like a server refusing its configuration.
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let error = ManagedServer::start(Path::new("/bin/sh"), &app, 1000, None, false).unwrap_err();
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

#[test]
fn with_tls_the_port_is_encrypted_and_the_files_are_readable_by_everyone() {
    use std::os::unix::fs::PermissionsExt as _;
    // A stand-in server that shows its configuration and folder, then exits.
    let dir = std::env::temp_dir().join(format!("rs-conformance-fake-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("fake-server.sh");
    std::fs::write(
        &fake,
        "#!/bin/sh\ncat \"$1\" >&2\nls -ld \"$(dirname \"$1\")\" \"$(dirname \"$1\")\"/* >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");

    let error = ManagedServer::start(&fake, &app, 1000, Some("nobody"), true).unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    let StartError::Exited(report) = &error else {
        panic!("{error}");
    };
    assert!(report.contains("exit status: 3"), "{report}");
    assert!(report.contains(r#""is_unencrypted": false"#), "{report}");
    assert!(
        report.contains(r#""certs": [{ "hostnames": ["localhost"], "privkey_path": "#),
        "{report}"
    );
    assert!(report.contains(r#""url": "wss://localhost:"#), "{report}");
    assert!(report.contains(r#""user": "nobody""#), "{report}");
    // `ls -l` lines: the only ones starting with a file type.
    let listing: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with('d') || l.starts_with('-'))
        .collect();
    assert_eq!(listing.len(), 5, "the folder and its 4 files: {report}");
    for line in listing {
        let mode = if line.starts_with('d') {
            "drwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        assert!(line.starts_with(mode), "{line}");
    }
    for name in [
        "ca.pem",
        "localhost.key.pem",
        "localhost.chain.pem",
        "conformance.json5",
    ] {
        assert!(report.contains(&format!("/{name}")), "{name} in {report}");
    }
}
