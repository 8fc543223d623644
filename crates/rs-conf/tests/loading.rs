//! Reading files: syntax and encoding errors with positions, all errors at
//! once, defaults, relative paths, the reference's own example shapes, the
//! example configurations, and the file-existence check.

mod common;

use std::path::Path;

use common::*;
use rs_conf::{Config, ErrorKind, LogLevel, Place, defaults};

/// A fresh, empty temporary folder for one test, removed when dropped.
/// A fresh temporary folder, removed when dropped.
fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("rs-conf-test-{name}-"))
        .tempdir()
        .unwrap()
}

fn position(e: &rs_conf::ConfigError) -> (usize, usize) {
    match e.place() {
        Place::Position { line, column } => (*line, *column),
        other => panic!("expected a position, got {other:?} in {e}"),
    }
}

#[test]
fn syntax_errors_show_line_and_column() {
    let text = "{\n  ports: [],\n  apps: [}\n}";
    let errors = errors(text);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind(), ErrorKind::Syntax);
    assert_eq!(position(&errors[0]), (3, 10));
    assert_eq!(
        errors[0].to_string(),
        "/etc/ringsocket.json:3:10: syntax error: expected array, boolean, null, number, object, or string"
    );
}

#[test]
fn syntax_error_lines_count_every_json5_line_terminator() {
    // The parser counts LF alone; a file with CR or CRLF line ends, or
    // U+2028, has its errors on the lines an editor shows.
    for newline in ["\n", "\r\n", "\r", "\u{2028}"] {
        let text = "{\n  ports: [],\n  apps: [}\n}".replace('\n', newline);
        let errors = errors(&text);
        assert_eq!(position(&errors[0]), (3, 10), "{newline:?}: {}", errors[0]);
    }
}

#[test]
fn an_escaped_surrogate_is_named_as_such() {
    let text = r#"{ ports: [], apps: [], user: "e\ud83d\ude00" }"#;
    let errors = errors(text);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].message(),
        "syntax error: a \\u escape of a UTF-16 surrogate (\\uD800 to \\uDFFF) in this string: \
         pairs of them are not supported; write the character itself (the file is UTF-8)"
    );
}

#[test]
fn a_missing_comma_or_quotes_are_named_where_they_are_missing() {
    let comma = errors("{\n  ports: [],\n  apps: []\n  log_level: 'debug'\n}");
    assert_eq!(
        comma[0].to_string(),
        "/etc/ringsocket.json:4:3: syntax error: a ',' is missing before this member \
         (or a '}' to end the object)"
    );
    let quotes = errors("{\n  log_level: debug\n}");
    assert_eq!(
        quotes[0].to_string(),
        "/etc/ringsocket.json:2:14: syntax error: a string value needs quotes"
    );
}

#[test]
fn numbers_outside_signed_64_bits_are_syntax_errors_with_positions() {
    let errors = errors("{\n  fd_alloc_c: 99999999999999999999\n}");
    assert_eq!(position(&errors[0]), (2, 15));
    assert_eq!(
        errors[0].message(),
        "syntax error: integer out of range (-9223372036854775808 to 9223372036854775807)"
    );
    // 2^64 - 1 fits 64 bits, but not a signed integer.
    let unsigned = common::errors("{\n  fd_alloc_c: 18446744073709551615\n}");
    assert_eq!(
        unsigned[0].message(),
        "syntax error: integer out of range (-9223372036854775808 to 9223372036854775807)"
    );
}

#[test]
fn deep_nesting_is_refused_before_parsing() {
    let text = format!("{{ports: {}", "[".repeat(100_000));
    let errors = errors(&text);
    assert_eq!(errors[0].kind(), ErrorKind::NestingTooDeep);
    assert_eq!(position(&errors[0]), (1, 72));
    assert_eq!(
        errors[0].message(),
        "arrays and objects are nested more than 64 levels deep"
    );
}

#[test]
fn deep_nesting_after_a_comment_ended_by_a_line_separator_is_refused_too() {
    // JSON5 ends a `//` comment at U+2028 and U+2029 as at a newline: the
    // nesting check must see the brackets after it, or the parser's
    // recursion overflows the stack.
    for end in ['\u{2028}', '\u{2029}', '\r'] {
        let text = format!("// x{end}{{ports: {}", "[".repeat(100_000));
        let errors = errors(&text);
        assert_eq!(errors[0].kind(), ErrorKind::NestingTooDeep, "{end:?}");
    }
}

#[test]
fn all_errors_of_a_file_are_reported_at_once() {
    let text = r#"{
      ports: [{port_number: 0}, {port_number: 443, is_unencrypted: 'maybe'}],
      apps: [{
        name: "",
        app_path: "/a.so",
        endpoints: [{endpoint_id: 70000, url: "http://x/"}],
        wbuf_siz: 5,
      }],
      log_level: "loud",
      realloc_multiplier: 1,
    }"#;
    let errors = errors(text);
    let got: Vec<(Option<&str>, ErrorKind)> =
        errors.iter().map(|e| (e.json_path(), e.kind())).collect();
    assert_eq!(
        got,
        [
            (Some("ports[0].port_number"), ErrorKind::OutOfRange),
            (Some("ports[1].is_unencrypted"), ErrorKind::InvalidString),
            (Some("log_level"), ErrorKind::InvalidLogLevel),
            (Some("realloc_multiplier"), ErrorKind::OutOfRange),
            (Some("apps[0].wbuf_siz"), ErrorKind::UnknownKey),
            (Some("apps[0].name"), ErrorKind::InvalidString),
            (
                Some("apps[0].endpoints[0].endpoint_id"),
                ErrorKind::OutOfRange
            ),
            (Some("apps[0].endpoints[0].url"), ErrorKind::InvalidUrl),
            // ports[0] is encrypted by default, so certs are needed.
            (Some("(root)"), ErrorKind::CertsRequired),
        ],
        "\n{}",
        lines(&errors)
    );
    // Displayed one per line.
    let shown = Config::from_json5_str(text, FILE).unwrap_err().to_string();
    assert_eq!(shown.lines().count(), 9);
    assert!(
        shown
            .lines()
            .all(|l| l.starts_with("/etc/ringsocket.json: ")),
        "{shown}"
    );
}

#[test]
fn defaults_are_the_references() {
    let c = valid(&with_root_keys(""));
    assert_eq!(c.log_level, LogLevel::Notice);
    assert_eq!(c.worker_c, None);
    assert_eq!(c.shutdown_wait_http, 15);
    assert_eq!(c.shutdown_wait_ws, 30);
    assert_eq!(c.idle_timeout, 120);
    assert_eq!(c.fd_alloc_c, 4096);
    assert_eq!(c.max_ws_msg_size, 16_777_216);
    assert_eq!(c.max_ws_frame_chain_size, 18_454_937);
    assert_eq!(c.realloc_multiplier, 1.5);
    assert_eq!(c.worker_rbuf_size, 33_554_432);
    assert_eq!(c.inbound_ring_buf_size, 67_108_864);
    assert_eq!(c.outbound_ring_buf_size, 134_217_728);
    assert_eq!(c.owrefs_elem_c, 10_000);
    assert_eq!(c.epoll_buf_elem_c, 100);
    assert_eq!(c.update_queue_size, 5);
    assert_eq!(c.user, "ringsock");
    assert_eq!(c.max_pending_output, 33_554_432);
    assert_eq!(c.max_pending_output_total, 536_870_912);
    assert_eq!(c.max_partial_msgs_size, 268_435_456);
    assert_eq!(c.max_http_request_size, 8192);
    assert_eq!(c.max_conns_per_ip, None);
    let port = &c.ports[0];
    assert!(port.ip_addrs.is_none() && port.interface.is_none());
    assert!(!port.ipv4only && !port.ipv6only && !port.ipv4_is_embedded_in_ipv6);
    let app = &c.apps[0];
    assert!(!app.no_open_cb && !app.no_close_cb && !app.close_client_on_panic);
    assert_eq!(app.wbuf_size, 1_048_576);
    assert_eq!(app.update_queue_size, 5);
    assert!(app.endpoints[0].allowed_origins.is_empty());
    assert!(app.endpoints[0].subprotocols.is_empty());
    assert!(app.endpoints[0].app_headers.is_empty());
}

#[test]
fn defaults_written_out_round_trip_to_the_same_config() {
    let explicit_root = format!(
        "log_level: '{}', shutdown_wait_http: {}, shutdown_wait_ws: {}, idle_timeout: {}, \
         fd_alloc_c: {}, \
         max_ws_msg_size: {}, max_ws_frame_chain_size: {}, realloc_multiplier: {}, \
         worker_rbuf_size: {}, inbound_ring_buf_size: {}, outbound_ring_buf_size: {}, \
         owrefs_elem_c: {}, epoll_buf_elem_c: {}, update_queue_size: {}, user: '{}', \
         max_pending_output: {}, max_pending_output_total: {}, max_partial_msgs_size: {}, \
         max_http_request_size: {}, \
         certs: []",
        defaults::LOG_LEVEL,
        defaults::SHUTDOWN_WAIT_HTTP,
        defaults::SHUTDOWN_WAIT_WS,
        defaults::IDLE_TIMEOUT,
        defaults::FD_ALLOC_C,
        defaults::MAX_WS_MSG_SIZE,
        defaults::MAX_WS_FRAME_CHAIN_SIZE,
        defaults::REALLOC_MULTIPLIER,
        defaults::WORKER_RBUF_SIZE,
        defaults::INBOUND_RING_BUF_SIZE,
        defaults::OUTBOUND_RING_BUF_SIZE,
        defaults::OWREFS_ELEM_C,
        defaults::EPOLL_BUF_ELEM_C,
        defaults::UPDATE_QUEUE_SIZE,
        defaults::USER,
        defaults::MAX_PENDING_OUTPUT,
        defaults::MAX_PENDING_OUTPUT_TOTAL,
        defaults::MAX_PARTIAL_MSGS_SIZE,
        defaults::MAX_HTTP_REQUEST_SIZE,
    );
    let port = "{port_number: 8080, is_unencrypted: true, ipv4only: false, ipv6only: false, ipv4_is_embedded_in_ipv6: false}";
    let app = format!(
        "{{name: 'a', app_path: '/usr/lib/a.so', no_open_cb: false, no_close_cb: false, wbuf_size: {}, \
         update_queue_size: {}, close_client_on_panic: false, endpoints: [{{endpoint_id: 0, url: 'ws://localhost:8080/', allowed_origins: []}}]}}",
        defaults::WBUF_SIZE,
        defaults::UPDATE_QUEUE_SIZE
    );
    let explicit = valid(&root(port, &app, &explicit_root));
    let implicit = valid(&with_root_keys(""));
    assert_eq!(explicit, implicit);
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let text = root(
        "{port_number: 443}",
        r#"{name: "a", app_path: "../lib/a.so", endpoints: [{endpoint_id: 0, url: "wss://example.com/"}]}"#,
        r#"certs: [{hostnames: ["example.com"], privkey_path: "keys/k.pem", pubchain_path: "/abs/c.pem"}]"#,
    );
    let config = Config::from_json5_str(&text, "/srv/rs/conf/main.json5").unwrap();
    assert_eq!(
        config.apps[0].app_path,
        Path::new("/srv/rs/conf/../lib/a.so")
    );
    assert_eq!(
        config.certs[0].privkey_path,
        Path::new("/srv/rs/conf/keys/k.pem")
    );
    assert_eq!(config.certs[0].pubchain_path, Path::new("/abs/c.pem"));
    assert_eq!(config.file, Path::new("/srv/rs/conf/main.json5"));

    // A relative configuration path is made absolute first, so the paths do
    // not depend on a later change of working directory.
    let config = Config::from_json5_str(&text, "conf/main.json5").unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(config.apps[0].app_path, cwd.join("conf/../lib/a.so"));
    assert_eq!(config.file, Path::new("conf/main.json5"));
}

#[test]
fn the_references_own_example_shapes_parse() {
    // The reference's skeleton and example values, comments included.
    let text = r#"
    // The JSON standard does not officially support comments,
    // but RingSocket does allow them anyway.
    {
      "ports": [{
         "port_number": 12345
       }],
      "certs": [{ // required when using TLS encryption
         "hostnames": ["example.com", "*.example.com"],
         "privkey_path": "/etc/letsencrypt/live/example.com/privkey.pem",
         "pubchain_path": "/etc/letsencrypt/live/example.com/fullchain.pem"
       }],
      "apps": [{
         "name": "foo",
         "app_path": "/usr/local/lib/foo.so",
         "no_open_cb": "true",
         "endpoints": [{
           "endpoint_id": 0,
           "url": "wss://example.com:12345/foo",
           "allowed_origins": ["http://localhost:8080", "https://example.com/foo"]
         }]
       }],
       "log_level": "warning",
    }"#;
    let config = valid(text);
    assert_eq!(config.log_level, LogLevel::Warning);
    assert!(!config.ports[0].is_unencrypted);
    assert!(config.certs[0].covers("example.com"));
    assert!(config.apps[0].no_open_cb);
    let url = &config.apps[0].endpoints[0].url;
    assert!(url.is_secure());
    assert_eq!(
        (url.host.as_str(), url.port, url.path.as_str()),
        ("example.com", 12345, "/foo")
    );
}

#[test]
fn load_reads_files_and_names_them_in_errors() {
    let dir = temp_dir("load");
    let file = dir.path().join("rs.json5");
    std::fs::write(&file, with_root_keys("worker_c: 2")).unwrap();
    assert_eq!(Config::load(&file).unwrap().worker_c, Some(2));

    std::fs::write(&file, with_root_keys("worker_c: 0")).unwrap();
    let errors = Config::load(&file).unwrap_err();
    assert_eq!(
        errors.to_string(),
        format!(
            "{}: worker_c: 0: must be an integer from 1 to 1024",
            file.display()
        )
    );
}

#[test]
fn load_reports_unreadable_files() {
    let dir = temp_dir("unreadable");
    let missing = dir.path().join("missing.json5");
    let e = &Config::load(&missing).unwrap_err().errors()[0].clone();
    assert_eq!((e.kind(), e.place()), (ErrorKind::Read, &Place::File));
    assert_eq!(
        e.to_string(),
        format!(
            "{}: cannot read the configuration file: No such file or directory (os error 2)",
            missing.display()
        )
    );

    // Whatever is not a regular file is refused before it is opened (a FIFO
    // would wait for a writer; the server tests that one).
    let socket = dir.path().join("socket.json5");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    for (path, what) in [
        (dir.path(), "a directory"),
        (socket.as_path(), "a socket"),
        (std::path::Path::new("/dev/null"), "a device"),
    ] {
        let e = &Config::load(path).unwrap_err().errors()[0].clone();
        assert_eq!(e.kind(), ErrorKind::Read);
        assert_eq!(
            e.message(),
            format!("is {what}, not a configuration file (a regular file, read again on reload)")
        );
    }
}

#[test]
fn load_refuses_non_utf8_and_oversized_files() {
    let dir = temp_dir("encoding");
    let file = dir.path().join("latin1.json5");
    std::fs::write(&file, b"{\n  ports: [],\n  apps: [], // caf\xe9\n}").unwrap();
    let e = &Config::load(&file).unwrap_err().errors()[0].clone();
    assert_eq!(e.kind(), ErrorKind::NotUtf8);
    assert_eq!(
        e.place(),
        &Place::Position {
            line: 3,
            column: 19
        }
    );

    let big = dir.path().join("big.json5");
    let mut text = with_root_keys("").into_bytes();
    text.resize(rs_conf::MAX_FILE_SIZE as usize + 1, b' ');
    std::fs::write(&big, text).unwrap();
    let e = &Config::load(&big).unwrap_err().errors()[0].clone();
    assert_eq!(e.kind(), ErrorKind::FileTooLarge);
    assert_eq!(
        e.message(),
        "the file is larger than the 8388608 bytes a configuration may have"
    );
}

#[test]
fn check_files_reports_every_missing_or_unusable_file() {
    let dir = temp_dir("files");
    std::fs::write(dir.path().join("app.so"), b"").unwrap();
    std::fs::create_dir(dir.path().join("key.pem")).unwrap();
    let text = root(
        "{port_number: 443}",
        r#"{name: "a", app_path: "app.so", endpoints: [{endpoint_id: 0, url: "wss://example.com/"}]},
           {name: "b", app_path: "nope.so", endpoints: [{endpoint_id: 0, url: "wss://example.com/b"}]}"#,
        r#"certs: [{hostnames: ["example.com"], privkey_path: "key.pem", pubchain_path: "chain.pem"}]"#,
    );
    let config = Config::from_json5_str(&text, dir.path().join("rs.json5")).unwrap();
    let errors = config.check_files().unwrap_err();
    let got: Vec<(Option<&str>, &str)> = errors
        .errors()
        .iter()
        .map(|e| (e.json_path(), e.message()))
        .collect();
    let hint = " (relative paths resolve against the configuration file's folder)";
    assert_eq!(
        got,
        [
            (
                Some("certs[0].privkey_path"),
                format!("is a directory; expected a regular file{hint}").as_str()
            ),
            (
                Some("certs[0].pubchain_path"),
                format!("no such file{hint}").as_str()
            ),
            (
                Some("apps[1].app_path"),
                format!("no such file{hint}").as_str()
            ),
        ]
    );
    assert_eq!(
        errors.errors()[2].value(),
        Some(format!("\"{}\"", dir.path().join("nope.so").display()).as_str())
    );
    assert!(
        errors
            .errors()
            .iter()
            .all(|e| e.kind() == ErrorKind::FileNotUsable)
    );

    std::fs::remove_dir(dir.path().join("key.pem")).unwrap();
    for f in ["key.pem", "chain.pem", "nope.so"] {
        std::fs::write(dir.path().join(f), b"").unwrap();
    }
    assert_eq!(config.check_files(), Ok(()));
}

#[test]
fn the_example_configurations_validate() {
    let conf_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rs-examples/conf");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&conf_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json5") {
            let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
            for app in &config.apps {
                let expected =
                    conf_dir.join(format!("../../../target/debug/examples/lib{}.so", app.name));
                assert_eq!(app.app_path, std::path::absolute(expected).unwrap());
            }
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();
    assert_eq!(
        names,
        ["all.json5", "chat.json5", "echo.json5", "silly_calc.json5"]
    );

    let all = Config::load(conf_dir.join("all.json5")).unwrap();
    let apps: Vec<&str> = all.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(apps, ["echo", "silly_calc", "chat", "broadcast"]);
    assert!(all.ports.iter().all(|p| p.is_unencrypted));
}
