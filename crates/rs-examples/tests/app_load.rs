//! Loading apps: every load error names the file and the reason, and the
//! example apps load with the callbacks they declare.

mod support;

use std::path::{Path, PathBuf};

use rs_app::host::{App, LoadError, LoadErrorKind};
use support::example_path;

fn load_error(path: &Path) -> LoadError {
    match App::load(path) {
        Ok(app) => panic!("{} loaded: {app:?}", path.display()),
        Err(error) => error,
    }
}

#[test]
fn a_missing_file_is_not_found() {
    let path = example_path("no_such_app");
    let error = load_error(&path);
    assert!(matches!(error.kind, LoadErrorKind::NotFound), "{error:?}");
    assert_eq!(error.path, path);
    assert_eq!(
        error.to_string(),
        format!("{}: no such file", path.display())
    );
}

/// A file that exists but is text, not a shared object.
fn text_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")
}

#[test]
fn a_text_file_is_not_loadable() {
    let path = text_file();
    let error = load_error(&path);
    let LoadErrorKind::NotLoadable(reason) = &error.kind else {
        panic!("expected NotLoadable, got {error:?}");
    };
    assert_eq!(error.path, path);
    // No ELF file at all: most often a static library or an rlib named by
    // mistake, hence the hint.
    assert_eq!(
        error.to_string(),
        format!(
            "{}: cannot be loaded as a shared object: {reason} (an app is a shared object: build \
             a Rust app with crate-type = [\"cdylib\"] and name its lib*.so, a C app with \
             -shared -fPIC)",
            path.display()
        )
    );
}

#[test]
fn a_not_loadable_file_names_the_loaders_reason() {
    let path = text_file();
    let error = load_error(&path);
    let LoadErrorKind::NotLoadable(reason) = &error.kind else {
        panic!("expected NotLoadable, got {error:?}");
    };
    // The dynamic loader's own words (glibc: "<path>: invalid ELF header"),
    // without which a missing dependency or a wrong architecture cannot be
    // told apart from a file that is no library at all.
    assert!(reason.contains("invalid ELF header"), "{reason:?}");
}

#[test]
fn a_shared_object_using_a_symbol_nothing_defines_is_not_loadable() {
    // Found missing only when called, it would end the server in the
    // middle of a callback: every symbol is resolved at load.
    let dir = std::env::temp_dir().join(format!("rs-app-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("unresolved.c");
    std::fs::write(
        &source,
        "extern int rs_defined_nowhere(void);\nint rs_uses_it(void) { return rs_defined_nowhere(); }\n",
    )
    .unwrap();
    let path = dir.join("libunresolved.so");
    let built = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&path)
        .arg(&source)
        .status()
        .expect("cc runs");
    assert!(built.success());
    let error = load_error(&path);
    std::fs::remove_dir_all(&dir).unwrap();
    let LoadErrorKind::NotLoadable(reason) = &error.kind else {
        panic!("expected NotLoadable, got {error:?}");
    };
    assert!(
        reason.contains("undefined symbol: rs_defined_nowhere"),
        "{reason:?}"
    );
}

#[test]
fn a_shared_object_without_the_entry_symbol_is_no_app() {
    let path = example_path("not_an_app");
    let error = load_error(&path);
    assert!(
        matches!(error.kind, LoadErrorKind::MissingEntry),
        "{error:?}"
    );
    assert_eq!(error.path, path);
    assert_eq!(
        error.to_string(),
        format!(
            "{}: does not export `ringsocket_app_v1`: not a RingSocket app for ABI version 1 \
             (Rust apps declare themselves with rs_app!; a C app defines `ringsocket_app_v1` with \
             default visibility, extern \"C\" in C++)",
            path.display()
        )
    );
}

#[test]
fn an_app_for_another_abi_version_is_refused_naming_both_versions() {
    let path = example_path("wrong_abi");
    let error = load_error(&path);
    assert!(
        matches!(
            error.kind,
            LoadErrorKind::AbiVersion {
                app: 999,
                server: 1
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.path, path);
    assert_eq!(
        error.to_string(),
        format!(
            "{}: app built for ABI version 999, this server speaks version 1: \
             rebuild the app against this server's rs-app",
            path.display()
        )
    );
}

#[test]
fn example_apps_load_with_the_callbacks_they_declare() {
    // (app, has an open callback, has a close callback)
    for (name, open, close) in [
        ("echo", false, false),
        ("silly_calc", false, false),
        ("chat", true, true),
        ("broadcast", false, false),
        ("probe", true, true),
        ("probe_timer_wake", false, false),
        ("probe_timer_sleep", false, false),
        ("probe_init_fails", false, false),
        ("probe_init_slow", false, false),
    ] {
        let path = example_path(name);
        let app = App::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(app.path(), path);
        assert_eq!((app.has_open(), app.has_close()), (open, close), "{name}");
    }
}
