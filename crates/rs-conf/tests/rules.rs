//! One test per validation rule: each asserts the error's kind, JSON path,
//! offending value and message.

mod common;

use common::*;
use rs_conf::ErrorKind;

// ---- root -------------------------------------------------------------

#[test]
fn root_must_be_an_object() {
    assert_one_error(
        "[1]",
        ErrorKind::WrongType,
        "(root)",
        Some("[1]"),
        "expected an object with at least \"ports\" and \"apps\", found an array",
    );
}

#[test]
fn ports_is_required() {
    let text = format!("{{ apps: [{}] }}", app("a", WS_ENDPOINT, ""));
    let errors = errors(&text);
    // The endpoint's port cannot be checked without ports: no second error.
    assert_eq!(errors.len(), 1, "{}", lines(&errors));
    assert_eq!(errors[0].json_path(), Some("(root)"));
    assert_eq!(errors[0].kind(), ErrorKind::MissingKey);
    assert_eq!(
        errors[0].message(),
        "missing required key \"ports\" (a non-empty array of port objects)"
    );
}

#[test]
fn ports_must_be_a_non_empty_array() {
    let text = root("", &app("a", WS_ENDPOINT, ""), "");
    let errors = errors(&text);
    assert_eq!(errors.len(), 1, "{}", lines(&errors));
    assert_eq!(
        errors[0].to_string(),
        "/etc/ringsocket.json: ports: []: must not be empty; expected a non-empty array of port objects"
    );
    assert_one_error(
        &format!("{{ ports: 8080, apps: [{}] }}", app("a", WS_ENDPOINT, "")),
        ErrorKind::WrongType,
        "ports",
        Some("8080"),
        "expected a non-empty array of port objects, found a number",
    );
}

#[test]
fn apps_is_required_and_non_empty() {
    assert_one_error(
        &format!("{{ ports: [{WS_PORT}] }}"),
        ErrorKind::MissingKey,
        "(root)",
        None,
        "missing required key \"apps\" (a non-empty array of app objects)",
    );
    assert_one_error(
        &root(WS_PORT, "", ""),
        ErrorKind::ArrayLength,
        "apps",
        Some("[]"),
        "must not be empty; expected a non-empty array of app objects",
    );
}

#[test]
fn certs_are_required_when_a_port_is_encrypted() {
    let endpoint = r#"{endpoint_id: 0, url: "wss://example.com/"}"#;
    let text = root("{port_number: 443}", &app("a", endpoint, ""), "");
    let errors = errors(&text);
    let certs: Vec<_> = errors
        .iter()
        .filter(|e| e.kind() == ErrorKind::CertsRequired)
        .collect();
    assert_eq!(certs.len(), 1, "{}", lines(&errors));
    assert_eq!(certs[0].json_path(), Some("(root)"));
    assert_eq!(
        certs[0].message(),
        "missing required key \"certs\" (a non-empty array of cert objects): ports[0] (port 443) is encrypted (\"is_unencrypted\" is false or absent), so at least one TLS certificate is needed"
    );
    // The wss:// endpoint's host is then covered by nothing, too.
    assert!(
        errors.iter().any(|e| e.kind() == ErrorKind::UncoveredHost),
        "{}",
        lines(&errors)
    );
}

#[test]
fn certs_must_not_be_empty_when_a_port_is_encrypted() {
    let ports = format!("{WS_PORT}, {{port_number: 443, is_unencrypted: false}}");
    assert_one_error(
        &root(&ports, &app("a", WS_ENDPOINT, ""), "certs: []"),
        ErrorKind::CertsRequired,
        "certs",
        Some("[]"),
        "must not be empty: ports[1] (port 443) is encrypted (\"is_unencrypted\" is false or absent), so at least one TLS certificate is needed",
    );
}

#[test]
fn certs_may_be_absent_or_empty_when_every_port_is_plaintext() {
    assert!(valid(&with_root_keys("")).certs.is_empty());
    assert!(valid(&with_root_keys("certs: []")).certs.is_empty());
}

#[test]
fn log_level_is_one_of_five() {
    for level in ["error", "warning", "notice", "info", "debug"] {
        let config = valid(&with_root_keys(&format!("log_level: '{level}'")));
        assert_eq!(config.log_level.as_str(), level);
    }
    assert_one_error(
        &with_root_keys("log_level: 'verbose'"),
        ErrorKind::InvalidLogLevel,
        "log_level",
        Some("\"verbose\""),
        "must be one of \"error\", \"warning\", \"notice\", \"info\", \"debug\"",
    );
    assert_one_error(
        &with_root_keys("log_level: 3"),
        ErrorKind::WrongType,
        "log_level",
        Some("3"),
        "expected one of \"error\", \"warning\", \"notice\", \"info\", \"debug\", found a number",
    );
}

#[test]
fn worker_c_is_from_1_to_1024_when_given() {
    // A client id has room for 1024 worker indexes: a worker beyond them
    // could not name its clients.
    for bad in ["0", "1025", "65535"] {
        assert_one_error(
            &with_root_keys(&format!("worker_c: {bad}")),
            ErrorKind::OutOfRange,
            "worker_c",
            Some(bad),
            "must be an integer from 1 to 1024",
        );
    }
    assert_eq!(
        valid(&with_root_keys("worker_c: 1024")).worker_c,
        Some(1024)
    );
    let config = valid(&with_root_keys("worker_c: 3"));
    assert_eq!(config.worker_c, Some(3));
    assert_eq!(config.effective_worker_c_for(64), 3);
}

#[test]
fn worker_c_defaults_to_cpus_minus_apps_from_1_to_1024() {
    let text = root(
        WS_PORT,
        &format!(
            "{}, {}",
            app("a", WS_ENDPOINT, ""),
            app("b", r#"{endpoint_id: 0, url: "ws://localhost:8080/b"}"#, "")
        ),
        "",
    );
    let config = valid(&text);
    assert_eq!(config.worker_c, None);
    assert_eq!(config.effective_worker_c_for(8), 6);
    assert_eq!(config.effective_worker_c_for(2), 1);
    assert_eq!(config.effective_worker_c_for(0), 1);
    assert_eq!(config.effective_worker_c_for(1026), 1024);
    assert_eq!(config.effective_worker_c_for(4096), 1024);
    assert!(config.effective_worker_c() >= 1);
}

#[test]
fn sizes_and_counts_are_positive_integers() {
    for (key, rule) in [
        "fd_alloc_c",
        "max_ws_frame_chain_size",
        "worker_rbuf_size",
        "inbound_ring_buf_size",
        "outbound_ring_buf_size",
        "owrefs_elem_c",
        "update_queue_size",
        "max_pending_output",
        "max_pending_output_total",
        "max_partial_msgs_size",
    ]
    .into_iter()
    .map(|key| (key, "an integer of at least 1"))
    .chain([
        ("epoll_buf_elem_c", "an integer from 1 to 65536"),
        ("max_ws_msg_size", "an integer from 1 to 4294901760"),
    ]) {
        for bad in ["0", "-1"] {
            assert_one_error(
                &with_root_keys(&format!("{key}: {bad}")),
                ErrorKind::OutOfRange,
                key,
                Some(bad),
                &format!("must be {rule}"),
            );
        }
        assert_one_error(
            &with_root_keys(&format!("{key}: 1.5")),
            ErrorKind::OutOfRange,
            key,
            Some("1.5"),
            &format!("must be {rule}"),
        );
        assert_one_error(
            &with_root_keys(&format!("{key}: '100'")),
            ErrorKind::WrongType,
            key,
            Some("\"100\""),
            &format!("expected {rule}, found a string"),
        );
    }
    // Integral numbers in other notations are fine.
    let config = valid(&with_root_keys("fd_alloc_c: 0x2000, epoll_buf_elem_c: 2e2"));
    assert_eq!((config.fd_alloc_c, config.epoll_buf_elem_c), (8192, 200));
}

#[test]
fn shutdown_waits_are_positive_seconds() {
    for key in ["shutdown_wait_http", "shutdown_wait_ws"] {
        assert_one_error(
            &with_root_keys(&format!("{key}: 0")),
            ErrorKind::OutOfRange,
            key,
            Some("0"),
            "must be an integer from 1 to 4294967295",
        );
    }
    let config = valid(&with_root_keys(
        "shutdown_wait_http: 1, shutdown_wait_ws: 600",
    ));
    assert_eq!(
        (config.shutdown_wait_http, config.shutdown_wait_ws),
        (1, 600)
    );
}

#[test]
fn idle_timeout_is_seconds_and_0_turns_it_off() {
    for (text, seconds) in [("0", 0), ("1", 1), ("4294967295", u32::MAX)] {
        let config = valid(&with_root_keys(&format!("idle_timeout: {text}")));
        assert_eq!(config.idle_timeout, seconds);
    }
    for bad in ["-1", "4294967296", "1.5"] {
        assert_one_error(
            &with_root_keys(&format!("idle_timeout: {bad}")),
            ErrorKind::OutOfRange,
            "idle_timeout",
            Some(bad),
            "must be an integer from 0 to 4294967295",
        );
    }
}

#[test]
fn realloc_multiplier_is_greater_than_1() {
    for bad in ["1", "0.5", "-2", "NaN", "Infinity"] {
        assert_one_error(
            &with_root_keys(&format!("realloc_multiplier: {bad}")),
            ErrorKind::OutOfRange,
            "realloc_multiplier",
            Some(if bad == "1" { "1" } else { bad }),
            "must be a finite number greater than 1 (buffers must grow)",
        );
    }
    assert_eq!(
        valid(&with_root_keys("realloc_multiplier: 1.25")).realloc_multiplier,
        1.25
    );
    assert_eq!(
        valid(&with_root_keys("realloc_multiplier: 2")).realloc_multiplier,
        2.0
    );
}

#[test]
fn frame_chain_size_leaves_room_for_a_message_of_the_maximum_size_in_one_frame() {
    // Its frames include its payload and a header of up to 14 bytes each:
    // less than that refuses (1009) a message within max_ws_msg_size.
    assert_one_error(
        &with_root_keys("max_ws_msg_size: 1000, max_ws_frame_chain_size: 1013"),
        ErrorKind::InconsistentLimits,
        "max_ws_frame_chain_size",
        Some("1013"),
        "must be at least \"max_ws_msg_size\" + 14 (1014): a message's frames include its \
         whole payload, and a header of up to 14 bytes each",
    );
    // Against the default message size too.
    assert_one_error(
        &with_root_keys("max_ws_frame_chain_size: 16777216"),
        ErrorKind::InconsistentLimits,
        "max_ws_frame_chain_size",
        Some("16777216"),
        "must be at least \"max_ws_msg_size\" + 14 (16777230): a message's frames include its \
         whole payload, and a header of up to 14 bytes each",
    );
    assert_eq!(
        valid(&with_root_keys(
            "max_ws_msg_size: 1000, max_ws_frame_chain_size: 1014"
        ))
        .max_ws_frame_chain_size,
        1014
    );
}

#[test]
fn frame_chain_size_default_follows_the_message_size() {
    let config = valid(&with_root_keys("max_ws_msg_size: 100000000"));
    assert_eq!(config.max_ws_frame_chain_size, 110_000_000);
    // A tenth more is less than a header below 140 bytes.
    let config = valid(&with_root_keys("max_ws_msg_size: 50"));
    assert_eq!(config.max_ws_frame_chain_size, 64);
}

#[test]
fn pending_output_is_at_least_the_message_size() {
    assert_one_error(
        &with_root_keys("max_ws_msg_size: 1000, max_pending_output: 1105"),
        ErrorKind::InconsistentLimits,
        "max_pending_output",
        Some("1105"),
        "must be at least \"max_ws_msg_size\" + 106 (1106) so one maximum-size message fits, \
         with its frame header and what queuing it costs",
    );
    let pending = |keys| valid(&with_root_keys(keys)).max_pending_output;
    assert_eq!(
        pending("max_ws_msg_size: 1000, max_pending_output: 1106"),
        1106
    );
    assert_eq!(pending("max_ws_msg_size: 1000"), 2000);
    // Twice a small size is less than one with its costs.
    assert_eq!(pending("max_ws_msg_size: 50"), 156);
}

#[test]
fn pending_output_total_is_at_least_one_clients_pending_output() {
    assert_one_error(
        &with_root_keys(
            "max_ws_msg_size: 1000, max_pending_output: 5000, max_pending_output_total: 4999",
        ),
        ErrorKind::InconsistentLimits,
        "max_pending_output_total",
        Some("4999"),
        "must be at least \"max_pending_output\" (5000) so one client at its limit fits",
    );
    // Derived from max_pending_output, itself derived from max_ws_msg_size.
    assert_eq!(
        valid(&with_root_keys(
            "max_ws_msg_size: 1000, max_pending_output: 5000"
        ))
        .max_pending_output_total,
        80_000
    );
    assert_eq!(
        valid(&with_root_keys("max_ws_msg_size: 1000")).max_pending_output_total,
        32_000
    );
    assert_eq!(
        valid(&with_root_keys(
            "max_ws_msg_size: 1000, max_pending_output: 5000, max_pending_output_total: 5000"
        ))
        .max_pending_output_total,
        5000
    );
}

#[test]
fn partial_messages_size_is_at_least_the_message_size() {
    assert_one_error(
        &with_root_keys("max_ws_msg_size: 1000, max_partial_msgs_size: 999"),
        ErrorKind::InconsistentLimits,
        "max_partial_msgs_size",
        Some("999"),
        "must be at least \"max_ws_msg_size\" (1000) so one maximum-size message in pieces fits",
    );
    assert_eq!(
        valid(&with_root_keys("max_ws_msg_size: 1000")).max_partial_msgs_size,
        16_000
    );
    assert_eq!(
        valid(&with_root_keys(
            "max_ws_msg_size: 1000, max_partial_msgs_size: 1000"
        ))
        .max_partial_msgs_size,
        1000
    );
}

#[test]
fn http_request_size_is_from_256_to_4_gib_minus_1() {
    for bad in [255_u64, 1 << 32] {
        assert_one_error(
            &with_root_keys(&format!("max_http_request_size: {bad}")),
            ErrorKind::OutOfRange,
            "max_http_request_size",
            Some(&bad.to_string()),
            "must be an integer from 256 to 4294967295",
        );
    }
    for good in [256_usize, (1 << 32) - 1] {
        assert_eq!(
            valid(&with_root_keys(&format!("max_http_request_size: {good}"))).max_http_request_size,
            good
        );
    }
}

#[test]
fn max_conns_per_ip_is_absent_or_at_least_1() {
    assert_eq!(valid(&with_root_keys("")).max_conns_per_ip, None);
    assert_eq!(
        valid(&with_root_keys("max_conns_per_ip: 1")).max_conns_per_ip,
        Some(1)
    );
    for bad in ["0", "4294967296"] {
        assert_one_error(
            &with_root_keys(&format!("max_conns_per_ip: {bad}")),
            ErrorKind::OutOfRange,
            "max_conns_per_ip",
            Some(bad),
            "must be an integer from 1 to 4294967295",
        );
    }
}

#[test]
fn user_is_a_valid_user_name() {
    for bad in ["", "-x", "a b", "1000", "root:x", &"u".repeat(33)] {
        assert_one_error(
            &with_root_keys(&format!("user: '{bad}'")),
            ErrorKind::InvalidUser,
            "user",
            Some(&format!("\"{bad}\"")),
            "not a valid user name (a user name is 1-32 letters, digits, '_', '.' or '-', not starting with '-' and not all digits)",
        );
    }
    assert_eq!(valid(&with_root_keys("user: 'www-data'")).user, "www-data");
}

// ---- keys -------------------------------------------------------------

#[test]
fn unknown_keys_suggest_the_closest_known_key() {
    assert_one_error(
        &with_port("{port_numbr: 8080, port_number: 8080, is_unencrypted: true}"),
        ErrorKind::UnknownKey,
        "ports[0].port_numbr",
        None,
        "unknown key in ports[0]; did you mean \"port_number\"?",
    );
    assert_one_error(
        &with_root_keys("log_levle: 'info'"),
        ErrorKind::UnknownKey,
        "log_levle",
        None,
        "unknown key in the root object; did you mean \"log_level\"?",
    );
    assert_one_error(
        &with_endpoint(r#"{endpoint_id: 0, url: "ws://localhost:8080/", allowed_origin: []}"#),
        ErrorKind::UnknownKey,
        "apps[0].endpoints[0].allowed_origin",
        None,
        "unknown key in apps[0].endpoints[0]; did you mean \"allowed_origins\"?",
    );
}

#[test]
fn the_old_name_wrefs_elem_c_points_to_owrefs_elem_c() {
    assert_one_error(
        &with_root_keys("wrefs_elem_c: 10000"),
        ErrorKind::UnknownKey,
        "wrefs_elem_c",
        None,
        "unknown key in the root object; did you mean \"owrefs_elem_c\"?",
    );
    assert_eq!(valid(&with_root_keys("owrefs_elem_c: 7")).owrefs_elem_c, 7);
}

#[test]
fn unknown_keys_without_a_close_match_list_the_known_keys() {
    assert_one_error(
        &with_app_keys("colour: 'red'"),
        ErrorKind::UnknownKey,
        "apps[0].colour",
        None,
        "unknown key in apps[0]; known keys: name, app_path, endpoints, no_open_cb, no_close_cb, wbuf_size, update_queue_size, close_client_on_panic",
    );
}

#[test]
fn duplicate_keys_are_errors() {
    assert_one_error(
        &with_root_keys("log_level: 'info', log_level: 'debug'"),
        ErrorKind::DuplicateKey,
        "log_level",
        None,
        "duplicate key in the root object; each key may appear once",
    );
}

// ---- ports ------------------------------------------------------------

#[test]
fn port_must_be_an_object() {
    assert_one_error(
        &with_port(&format!("{WS_PORT}, 443")),
        ErrorKind::WrongType,
        "ports[1]",
        Some("443"),
        "expected a port object, found a number",
    );
}

#[test]
fn port_number_is_required() {
    let errors = errors(&with_port("{is_unencrypted: true}"));
    // Without the number, the endpoint's port cannot be checked: no cascade.
    assert_eq!(errors.len(), 1, "{}", lines(&errors));
    assert_eq!(errors[0].json_path(), Some("ports[0]"));
    assert_eq!(
        errors[0].message(),
        "missing required key \"port_number\" (an integer from 1 to 65535)"
    );
}

#[test]
fn port_number_is_1_to_65535() {
    for bad in ["0", "65536", "-80"] {
        let errors = errors(&with_port(&format!(
            "{{port_number: {bad}, is_unencrypted: true}}"
        )));
        assert_eq!(errors.len(), 1, "{}", lines(&errors));
        assert_eq!(
            errors[0].to_string(),
            format!(
                "/etc/ringsocket.json: ports[0].port_number: {bad}: must be an integer from 1 to 65535"
            )
        );
    }
}

#[test]
fn booleans_are_true_false_or_their_string_forms() {
    let config = valid(&with_port(
        r#"{port_number: 8080, is_unencrypted: "true", ipv4only: "false"}"#,
    ));
    assert!(config.ports[0].is_unencrypted);
    assert!(!config.ports[0].ipv4only);
    assert_one_error(
        &with_port(r#"{port_number: 8080, is_unencrypted: "yes"}"#),
        ErrorKind::InvalidString,
        "ports[0].is_unencrypted",
        Some("\"yes\""),
        "expected true or false (or the strings \"true\" and \"false\")",
    );
    assert_one_error(
        &with_port("{port_number: 8080, is_unencrypted: true, ipv6only: 1}"),
        ErrorKind::WrongType,
        "ports[0].ipv6only",
        Some("1"),
        "expected true or false (or the strings \"true\" and \"false\")",
    );
}

#[test]
fn ip_addrs_and_interface_are_exclusive() {
    assert_one_error(
        &with_port(
            r#"{port_number: 8080, is_unencrypted: true, ip_addrs: ["127.0.0.1"], interface: "lo"}"#,
        ),
        ErrorKind::IpAddrsWithInterface,
        "ports[0]",
        None,
        "\"ip_addrs\" and \"interface\" cannot both be set; use one of them",
    );
}

#[test]
fn ipv4only_and_ipv6only_are_exclusive() {
    assert_one_error(
        &with_port("{port_number: 8080, is_unencrypted: true, ipv4only: true, ipv6only: true}"),
        ErrorKind::ConflictingFamilyFlags,
        "ports[0]",
        None,
        "\"ipv4only\" and \"ipv6only\" cannot both be true; set at most one",
    );
}

#[test]
fn embedding_ipv4_in_ipv6_needs_both_families() {
    for flag in ["ipv4only", "ipv6only"] {
        assert_one_error(
            &with_port(&format!(
                "{{port_number: 8080, is_unencrypted: true, ipv4_is_embedded_in_ipv6: true, {flag}: true}}"
            )),
            ErrorKind::ConflictingFamilyFlags,
            "ports[0]",
            None,
            "\"ipv4_is_embedded_in_ipv6\" needs both IP families; it cannot be combined with \"ipv4only\" or \"ipv6only\"",
        );
    }
}

#[test]
fn ip_addrs_are_distinct_ip_addresses() {
    assert_one_error(
        &with_port(
            r#"{port_number: 8080, is_unencrypted: true, ip_addrs: ["127.0.0.1", "localhost"]}"#,
        ),
        ErrorKind::InvalidIpAddr,
        "ports[0].ip_addrs[1]",
        Some("\"localhost\""),
        "not an IP address (e.g. \"0.0.0.0\", \"127.0.0.1\", \"::\")",
    );
    assert_one_error(
        &with_port(r#"{port_number: 8080, is_unencrypted: true, ip_addrs: ["::1", "0::1"]}"#),
        ErrorKind::InvalidIpAddr,
        "ports[0].ip_addrs[1]",
        Some("\"0::1\""),
        "listed twice",
    );
    assert_one_error(
        &with_port("{port_number: 8080, is_unencrypted: true, ip_addrs: []}"),
        ErrorKind::ArrayLength,
        "ports[0].ip_addrs",
        Some("[]"),
        "must not be empty; expected a non-empty array of IP address strings (omit it to listen on every address)",
    );
    assert_one_error(
        &with_port("{port_number: 8080, is_unencrypted: true, ip_addrs: [127]}"),
        ErrorKind::WrongType,
        "ports[0].ip_addrs[0]",
        Some("127"),
        "expected an IP address string, found a number",
    );
}

#[test]
fn ip_addrs_match_the_port_family_flags() {
    assert_one_error(
        &with_port(
            r#"{port_number: 8080, is_unencrypted: true, ipv4only: true, ip_addrs: ["::1"]}"#,
        ),
        ErrorKind::IpFamilyMismatch,
        "ports[0].ip_addrs[0]",
        Some("\"::1\""),
        "an IPv6 address on a port with \"ipv4only\": true",
    );
    assert_one_error(
        &with_port(
            r#"{port_number: 8080, is_unencrypted: true, ipv6only: true, ip_addrs: ["127.0.0.1"]}"#,
        ),
        ErrorKind::IpFamilyMismatch,
        "ports[0].ip_addrs[0]",
        Some("\"127.0.0.1\""),
        "an IPv4 address on a port with \"ipv6only\": true",
    );
}

#[test]
fn ip_addrs_can_be_listened_on() {
    let port = |addrs: &str, flags: &str| {
        with_port(&format!(
            "{{port_number: 8080, is_unencrypted: true, {flags} ip_addrs: [{addrs}]}}"
        ))
    };
    for ip in ["224.0.0.1", "255.255.255.255", "ff02::1"] {
        assert_one_error(
            &port(&format!("\"{ip}\""), ""),
            ErrorKind::InvalidIpAddr,
            "ports[0].ip_addrs[0]",
            Some(&format!("\"{ip}\"")),
            "a multicast or broadcast address: a TCP port cannot listen on it",
        );
    }
    // A link-local address binds only with an interface's scope id.
    for ip in ["fe80::1", "febf:ffff::1"] {
        assert_one_error(
            &port(&format!("\"{ip}\""), ""),
            ErrorKind::InvalidIpAddr,
            "ports[0].ip_addrs[0]",
            Some(&format!("\"{ip}\"")),
            "a link-local address, which needs an interface to listen on: set \"interface\" \
             instead of \"ip_addrs\" to listen on that interface's addresses",
        );
    }
    valid(&port(r#""fec0::1""#, ""));
    // An IPv6-only socket (the default) cannot take an IPv4-mapped address.
    assert_one_error(
        &port(r#""::ffff:127.0.0.1""#, ""),
        ErrorKind::IpFamilyMismatch,
        "ports[0].ip_addrs[0]",
        Some("\"::ffff:127.0.0.1\""),
        "an IPv4-mapped IPv6 address, which an IPv6-only socket cannot listen on: write \
         \"127.0.0.1\", or set \"ipv4_is_embedded_in_ipv6\": true",
    );
    valid(&port(
        r#""::ffff:127.0.0.1""#,
        "ipv4_is_embedded_in_ipv6: true,",
    ));
}

#[test]
fn ip_addrs_do_not_overlap_within_an_entry() {
    let port = |addrs: &str, flags: &str| {
        with_port(&format!(
            "{{port_number: 8080, is_unencrypted: true, {flags} ip_addrs: [{addrs}]}}"
        ))
    };
    let taken = |by: &str| {
        format!(
            "\"{by}\" in the same list already takes this address (binding both would fail); \
             list one of them"
        )
    };
    assert_one_error(
        &port(r#""0.0.0.0", "127.0.0.1""#, ""),
        ErrorKind::DuplicatePort,
        "ports[0].ip_addrs[1]",
        Some("\"127.0.0.1\""),
        &taken("0.0.0.0"),
    );
    assert_one_error(
        &port(r#""::1", "::""#, ""),
        ErrorKind::DuplicatePort,
        "ports[0].ip_addrs[0]",
        Some("\"::1\""),
        &taken("::"),
    );
    // `::` with embedding takes the IPv4 addresses too; without, both
    // families' unspecified addresses go together.
    assert_one_error(
        &port(r#""::", "0.0.0.0""#, "ipv4_is_embedded_in_ipv6: true,"),
        ErrorKind::DuplicatePort,
        "ports[0].ip_addrs[1]",
        Some("\"0.0.0.0\""),
        &taken("::"),
    );
    valid(&port(r#""::", "0.0.0.0""#, ""));
    // With embedding, `::ffff:a.b.c.d` is `a.b.c.d`.
    let embedded = "ipv4_is_embedded_in_ipv6: true,";
    assert_one_error(
        &port(r#""0.0.0.0", "::ffff:127.0.0.1""#, embedded),
        ErrorKind::DuplicatePort,
        "ports[0].ip_addrs[1]",
        Some("\"::ffff:127.0.0.1\""),
        &taken("0.0.0.0"),
    );
    assert_one_error(
        &port(r#""::ffff:0.0.0.0", "127.0.0.1""#, embedded),
        ErrorKind::DuplicatePort,
        "ports[0].ip_addrs[1]",
        Some("\"127.0.0.1\""),
        &taken("0.0.0.0"),
    );
    assert_one_error(
        &port(r#""127.0.0.1", "::ffff:127.0.0.1""#, embedded),
        ErrorKind::InvalidIpAddr,
        "ports[0].ip_addrs[1]",
        Some("\"::ffff:127.0.0.1\""),
        "listed twice",
    );
}

#[test]
fn a_long_key_is_cut_in_the_error_line() {
    let key = "k".repeat(1 << 20);
    let errors = errors(&with_root_keys(&format!("{key}: 1")));
    assert_eq!(errors.len(), 1, "{}", lines(&errors));
    let cut = format!("[\"{}…\"]", "k".repeat(60));
    assert_eq!(errors[0].json_path(), Some(cut.as_str()));
    assert!(errors[0].to_string().len() < 1000, "{}", errors[0]);
}

#[test]
fn interface_is_a_valid_interface_name() {
    for bad in ["", "a/b", "eth0:1", "a b", "sixteen_chars_xx", ".."] {
        assert_one_error(
            &with_port(&format!(
                "{{port_number: 8080, is_unencrypted: true, interface: '{bad}'}}"
            )),
            ErrorKind::InvalidInterface,
            "ports[0].interface",
            Some(&format!("\"{bad}\"")),
            "not a valid network interface name (1-15 bytes without '/', ':' or whitespace, e.g. \"eth0\")",
        );
    }
    let config = valid(&with_port(
        "{port_number: 8080, is_unencrypted: true, interface: 'lo'}",
    ));
    assert_eq!(config.ports[0].interface.as_deref(), Some("lo"));
}

#[test]
fn port_numbers_are_unique_per_address() {
    let dup = "port 8080 is already configured on overlapping addresses by ports[0]; give each entry distinct \"ip_addrs\", \"interface\" or IP family";
    for (a, b) in [
        ("", ""),
        ("", r#", ip_addrs: ["127.0.0.1"]"#),
        (r#", ip_addrs: ["0.0.0.0"]"#, r#", ip_addrs: ["127.0.0.1"]"#),
        (
            r#", ip_addrs: ["::1", "127.0.0.1"]"#,
            r#", ip_addrs: ["127.0.0.1"]"#,
        ),
        (", interface: 'eth0'", ", interface: 'eth0'"),
        (", ipv4only: true", ""),
        // A dual-stack socket on :: takes every IPv4 address too, and one
        // on ::ffff:a.b.c.d takes a.b.c.d.
        (
            r#", ipv4_is_embedded_in_ipv6: true, ip_addrs: ["::"]"#,
            r#", ip_addrs: ["0.0.0.0"]"#,
        ),
        (
            r#", ipv4_is_embedded_in_ipv6: true, ip_addrs: ["::"]"#,
            r#", ip_addrs: ["127.0.0.1"]"#,
        ),
        (
            r#", ipv4_is_embedded_in_ipv6: true, ip_addrs: ["::ffff:127.0.0.1"]"#,
            r#", ip_addrs: ["127.0.0.1"]"#,
        ),
    ] {
        let ports = format!(
            "{{port_number: 8080, is_unencrypted: true{a}}}, {{port_number: 8080, is_unencrypted: true{b}}}"
        );
        assert_one_error(
            &with_port(&ports),
            ErrorKind::DuplicatePort,
            "ports[1].port_number",
            Some("8080"),
            dup,
        );
    }
    // The same number on distinct addresses, interfaces or families is fine.
    for (a, b) in [
        (
            r#", ip_addrs: ["127.0.0.1"]"#,
            r#", ip_addrs: ["127.0.0.2"]"#,
        ),
        (r#", ip_addrs: ["0.0.0.0"]"#, r#", ip_addrs: ["::1"]"#),
        (", interface: 'eth0'", ", interface: 'eth1'"),
        (", ipv4only: true", ", ipv6only: true"),
        // Without the dual stack, :: takes IPv6 only.
        (r#", ip_addrs: ["::"]"#, r#", ip_addrs: ["0.0.0.0"]"#),
        (
            r#", ipv4_is_embedded_in_ipv6: true, ip_addrs: ["::ffff:127.0.0.1"]"#,
            r#", ip_addrs: ["127.0.0.2"]"#,
        ),
    ] {
        let ports = format!(
            "{{port_number: 8080, is_unencrypted: true{a}}}, {{port_number: 8080, is_unencrypted: true{b}}}"
        );
        assert_eq!(valid(&with_port(&ports)).ports.len(), 2);
    }
}

// ---- certs ------------------------------------------------------------

/// A configuration with one wss port 443, these certs, and one endpoint URL.
fn tls(certs: &str, url: &str) -> String {
    root(
        "{port_number: 443}",
        &app("a", &format!("{{endpoint_id: 0, url: '{url}'}}"), ""),
        &format!("certs: [{certs}]"),
    )
}

const CERT: &str = r#"{hostnames: ["example.com", "*.example.com"], privkey_path: "/k.pem", pubchain_path: "/c.pem"}"#;

#[test]
fn cert_hostnames_are_required_and_non_empty() {
    let errors = errors(&tls(
        "{privkey_path: '/k', pubchain_path: '/c'}",
        "wss://example.com/",
    ));
    // Unknown hostnames: host coverage is not checked, so one error only.
    assert_eq!(errors.len(), 1, "{}", lines(&errors));
    assert_eq!(
        errors[0].to_string(),
        "/etc/ringsocket.json: certs[0]: missing required key \"hostnames\" (a non-empty array of host names, e.g. [\"example.com\", \"*.example.com\"])"
    );
    assert_one_error(
        &tls(
            "{hostnames: [], privkey_path: '/k', pubchain_path: '/c'}",
            "wss://example.com/",
        ),
        ErrorKind::ArrayLength,
        "certs[0].hostnames",
        Some("[]"),
        "must not be empty; expected a non-empty array of host names, e.g. [\"example.com\", \"*.example.com\"]",
    );
}

#[test]
fn cert_hostnames_are_host_names_wildcards_or_ips() {
    assert_one_error(
        &tls(
            "{hostnames: ['example.com', 'a.*.example.com'], privkey_path: '/k', pubchain_path: '/c'}",
            "wss://example.com/",
        ),
        ErrorKind::InvalidHostname,
        "certs[0].hostnames[1]",
        Some("\"a.*.example.com\""),
        "a wildcard is only allowed as the whole leftmost label (e.g. *.example.com); expected a host name, a *.wildcard or an IP address",
    );
    assert_one_error(
        &tls(
            "{hostnames: ['example.com', 'bad_name.org'], privkey_path: '/k', pubchain_path: '/c'}",
            "wss://example.com/",
        ),
        ErrorKind::InvalidHostname,
        "certs[0].hostnames[1]",
        Some("\"bad_name.org\""),
        "\"bad_name.org\" is not a valid host name ('_' is not allowed; use letters, digits, '-' and '.'); expected a host name, a *.wildcard or an IP address",
    );
    let config = valid(&tls(
        "{hostnames: ['Example.COM', '127.0.0.1', '::1'], privkey_path: '/k', pubchain_path: '/c'}",
        "wss://[::1]/",
    ));
    assert_eq!(
        config.certs[0].hostnames,
        ["example.com", "127.0.0.1", "[::1]"]
    );
}

#[test]
fn a_hostname_belongs_to_one_cert() {
    let other = r#"{hostnames: ["www.example.org", "Example.com"], privkey_path: "/k2.pem", pubchain_path: "/c2.pem"}"#;
    assert_one_error(
        &tls(&format!("{CERT}, {other}"), "wss://example.com/"),
        ErrorKind::DuplicateHostname,
        "certs[1].hostnames[1]",
        Some("\"example.com\""),
        "already listed at certs[0].hostnames[0]; each hostname may belong to one cert only",
    );
    // A client without SNI is given the cert of the address it connected
    // to: an IPv4 address and its IPv4-mapped form are that one address.
    let mapped =
        r#"{hostnames: ["::FFFF:127.0.0.1"], privkey_path: "/k2.pem", pubchain_path: "/c2.pem"}"#;
    let first = r#"{hostnames: ["127.0.0.1"], privkey_path: "/k.pem", pubchain_path: "/c.pem"}"#;
    assert_one_error(
        &tls(&format!("{first}, {mapped}"), "wss://127.0.0.1/"),
        ErrorKind::DuplicateHostname,
        "certs[1].hostnames[0]",
        Some("\"[::ffff:127.0.0.1]\""),
        "already listed at certs[0].hostnames[0] as \"127.0.0.1\", the same address; each hostname may belong to one cert only",
    );
    // Twice in the same cert: harmless, but listed once.
    let twice = r#"{hostnames: ["127.0.0.1", "example.com", "::ffff:127.0.0.1"], privkey_path: "/k.pem", pubchain_path: "/c.pem"}"#;
    assert_one_error(
        &tls(twice, "wss://127.0.0.1/"),
        ErrorKind::DuplicateHostname,
        "certs[0].hostnames[2]",
        Some("\"[::ffff:127.0.0.1]\""),
        "already listed at certs[0].hostnames[0] as \"127.0.0.1\", the same address; list it once",
    );
}

#[test]
fn cert_paths_are_required_non_empty_strings() {
    assert_one_error(
        &tls(
            "{hostnames: ['example.com'], pubchain_path: '/c'}",
            "wss://example.com/",
        ),
        ErrorKind::MissingKey,
        "certs[0]",
        None,
        "missing required key \"privkey_path\" (the path of the private key file (PEM))",
    );
    assert_one_error(
        &tls(
            "{hostnames: ['example.com'], privkey_path: '/k', pubchain_path: ''}",
            "wss://example.com/",
        ),
        ErrorKind::InvalidString,
        "certs[0].pubchain_path",
        Some("\"\""),
        "must not be empty (the path of the full public certificate chain file (PEM))",
    );
}

// ---- apps -------------------------------------------------------------

#[test]
fn app_name_is_a_required_non_empty_string() {
    let no_name = format!("{{app_path: '/a.so', endpoints: [{WS_ENDPOINT}]}}");
    assert_one_error(
        &root(WS_PORT, &no_name, ""),
        ErrorKind::MissingKey,
        "apps[0]",
        None,
        "missing required key \"name\" (a non-empty name for the app's log messages)",
    );
    assert_one_error(
        &root(WS_PORT, &app("", WS_ENDPOINT, ""), ""),
        ErrorKind::InvalidString,
        "apps[0].name",
        Some("\"\""),
        "must not be empty (a non-empty name for the app's log messages)",
    );
    assert_one_error(
        &root(WS_PORT, &app("a\\nb", WS_ENDPOINT, ""), ""),
        ErrorKind::InvalidString,
        "apps[0].name",
        Some("\"a\\nb\""),
        "must not contain control characters (it prefixes log lines)",
    );
}

#[test]
fn app_names_are_unique() {
    let apps = format!(
        "{}, {}",
        app("chat", WS_ENDPOINT, ""),
        app(
            "chat",
            r#"{endpoint_id: 0, url: "ws://localhost:8080/2"}"#,
            ""
        )
    );
    assert_one_error(
        &root(WS_PORT, &apps, ""),
        ErrorKind::DuplicateAppName,
        "apps[1].name",
        Some("\"chat\""),
        "already the name of apps[0]; app names must be unique (they prefix log messages)",
    );
}

#[test]
fn app_path_is_required() {
    let no_path = format!("{{name: 'a', endpoints: [{WS_ENDPOINT}]}}");
    assert_one_error(
        &root(WS_PORT, &no_path, ""),
        ErrorKind::MissingKey,
        "apps[0]",
        None,
        "missing required key \"app_path\" (the path of the app's shared object (.so) file)",
    );
}

#[test]
fn endpoints_are_required_and_non_empty() {
    assert_one_error(
        &root(WS_PORT, "{name: 'a', app_path: '/a.so'}", ""),
        ErrorKind::MissingKey,
        "apps[0]",
        None,
        "missing required key \"endpoints\" (a non-empty array of endpoint objects)",
    );
    assert_one_error(
        &root(WS_PORT, &app("a", "", ""), ""),
        ErrorKind::ArrayLength,
        "apps[0].endpoints",
        Some("[]"),
        "must not be empty; expected a non-empty array of endpoint objects",
    );
}

#[test]
fn wbuf_size_is_from_one_byte_to_1_gib() {
    // Allocated when the app starts: a size no allocation can have would
    // stop the server after --check called it valid.
    for value in ["0", "1073741825", "9223372036854775807"] {
        assert_one_error(
            &with_app_keys(&format!("wbuf_size: {value}")),
            ErrorKind::OutOfRange,
            "apps[0].wbuf_size",
            Some(value),
            "must be an integer from 1 to 1073741824",
        );
    }
    let config = valid(&with_app_keys("wbuf_size: 1073741824"));
    assert_eq!(config.apps[0].wbuf_size, 1 << 30);
}

#[test]
fn epoll_buf_elem_c_is_at_most_65536() {
    assert_one_error(
        &with_root_keys("epoll_buf_elem_c: 65537"),
        ErrorKind::OutOfRange,
        "epoll_buf_elem_c",
        Some("65537"),
        "must be an integer from 1 to 65536",
    );
    assert_eq!(
        valid(&with_root_keys("epoll_buf_elem_c: 65536")).epoll_buf_elem_c,
        65536
    );
}

#[test]
fn app_update_queue_size_overrides_the_global_one() {
    let apps = format!(
        "{}, {}",
        app("a", WS_ENDPOINT, "update_queue_size: 9"),
        app("b", r#"{endpoint_id: 0, url: "ws://localhost:8080/b"}"#, "")
    );
    let config = valid(&root(WS_PORT, &apps, "update_queue_size: 3"));
    assert_eq!(config.update_queue_size, 3);
    assert_eq!(config.apps[0].update_queue_size, 9);
    assert_eq!(config.apps[1].update_queue_size, 3);
    assert_one_error(
        &with_app_keys("update_queue_size: 0"),
        ErrorKind::OutOfRange,
        "apps[0].update_queue_size",
        Some("0"),
        "must be an integer of at least 1",
    );
}

#[test]
fn a_size_above_what_any_key_takes_is_told_the_largest() {
    assert_one_error(
        &with_root_keys("max_pending_output_total: 1e19"),
        ErrorKind::OutOfRange,
        "max_pending_output_total",
        Some("1e19"),
        "must be an integer from 1 to 9223372036854775807",
    );
    // A message crosses a ring whole: 4 GiB - 64 KiB at most.
    assert_one_error(
        &with_root_keys("max_ws_msg_size: 4294901761"),
        ErrorKind::OutOfRange,
        "max_ws_msg_size",
        Some("4294901761"),
        "must be an integer from 1 to 4294901760",
    );
    assert_eq!(
        valid(&with_root_keys(
            "max_ws_msg_size: 4294901760, max_pending_output: 1e10, max_pending_output_total: 1e10, max_partial_msgs_size: 1e10"
        ))
        .max_ws_msg_size,
        4294901760
    );
}

#[test]
fn callback_flags_accept_the_seeds_string_forms() {
    let config = valid(&with_app_keys(r#"no_open_cb: "true", no_close_cb: true"#));
    assert!(config.apps[0].no_open_cb && config.apps[0].no_close_cb);
    let config = valid(&with_app_keys(r#"no_open_cb: "false", no_close_cb: false"#));
    assert!(!config.apps[0].no_open_cb && !config.apps[0].no_close_cb);
    assert_one_error(
        &with_app_keys(r#"no_open_cb: "TRUE""#),
        ErrorKind::InvalidString,
        "apps[0].no_open_cb",
        Some("\"TRUE\""),
        "expected true or false (or the strings \"true\" and \"false\")",
    );
}

#[test]
fn close_client_on_panic_is_a_boolean() {
    let config = valid(&with_app_keys("close_client_on_panic: true"));
    assert!(config.apps[0].close_client_on_panic);
    assert_one_error(
        &with_app_keys("close_client_on_panic: 1"),
        ErrorKind::WrongType,
        "apps[0].close_client_on_panic",
        Some("1"),
        "expected true or false (or the strings \"true\" and \"false\")",
    );
}

// ---- endpoints --------------------------------------------------------

#[test]
fn endpoint_id_is_required_and_0_to_65535() {
    assert_one_error(
        &with_endpoint("{url: 'ws://localhost:8080/'}"),
        ErrorKind::MissingKey,
        "apps[0].endpoints[0]",
        None,
        "missing required key \"endpoint_id\" (an integer from 0 to 65535)",
    );
    for bad in ["-1", "65536"] {
        assert_one_error(
            &with_endpoint(&format!(
                "{{endpoint_id: {bad}, url: 'ws://localhost:8080/'}}"
            )),
            ErrorKind::OutOfRange,
            "apps[0].endpoints[0].endpoint_id",
            Some(bad),
            "must be an integer from 0 to 65535",
        );
    }
    for good in [0, 65535] {
        let config = valid(&with_endpoint(&format!(
            "{{endpoint_id: {good}, url: 'ws://localhost:8080/'}}"
        )));
        assert_eq!(config.apps[0].endpoints[0].endpoint_id, good);
    }
}

#[test]
fn endpoint_url_is_required() {
    assert_one_error(
        &with_endpoint("{endpoint_id: 0}"),
        ErrorKind::MissingKey,
        "apps[0].endpoints[0]",
        None,
        "missing required key \"url\" (a ws:// or wss:// URL, e.g. \"wss://example.com:12345/foo\")",
    );
}

#[test]
fn endpoint_url_must_parse() {
    let tail = "; expected ws://host[:port][/path] or wss://host[:port][/path]";
    for (url, why) in [
        ("localhost:8080/", "missing \"scheme://\" at the start"),
        ("http://localhost:8080/", "unsupported scheme \"http\""),
        (
            "ws://localhost:8080/?q=1",
            "a query (\"?…\") is not allowed",
        ),
        (
            "ws://localhost:8080/#x",
            "a fragment (\"#…\") is not allowed",
        ),
        (
            "ws://me@localhost:8080/",
            "user info (\"user@\") is not allowed",
        ),
        (
            "ws://localhost:80800/",
            "port \"80800\" is not a number from 1 to 65535",
        ),
        (
            "ws://local_host:8080/",
            "\"local_host\" is not a valid host name ('_' is not allowed; use letters, digits, '-' and '.')",
        ),
        ("ws://:8080/", "the host is missing"),
        (
            "ws://localhost:8080/a b",
            "whitespace and control characters are not allowed",
        ),
        (
            "ws://localhost:8080/a/../b",
            "a \".\" or \"..\" segment in the path, which clients resolve before they send it \
             (\"/a/../b\" arrives as \"/b\"): write the path they send",
        ),
        (
            "ws://localhost:8080/a/%2E",
            "a \".\" or \"..\" segment in the path, which clients resolve before they send it \
             (\"/a/../b\" arrives as \"/b\"): write the path they send",
        ),
    ] {
        assert_one_error(
            &with_endpoint(&format!("{{endpoint_id: 0, url: '{url}'}}")),
            ErrorKind::InvalidUrl,
            "apps[0].endpoints[0].url",
            Some(&format!("\"{url}\"")),
            &format!("not a valid endpoint URL: {why}{tail}"),
        );
    }
}

#[test]
fn endpoint_url_parts_are_exposed_separately() {
    let config = valid(&with_endpoint(
        "{endpoint_id: 0, url: 'WS://LocalHost:8080/Echo'}",
    ));
    let url = &config.apps[0].endpoints[0].url;
    assert_eq!(url.raw, "WS://LocalHost:8080/Echo");
    assert_eq!(url.scheme, rs_conf::Scheme::Ws);
    assert!(!url.is_secure());
    assert_eq!(
        (url.host.as_str(), url.port, url.path.as_str()),
        ("localhost", 8080, "/Echo")
    );
}

#[test]
fn endpoint_scheme_matches_its_ports_encryption() {
    let ports = format!("{WS_PORT}, {{port_number: 443}}");
    let certs = format!("certs: [{CERT}]");
    assert_one_error(
        &root(
            &ports,
            &app("a", "{endpoint_id: 0, url: 'ws://example.com:443/'}", ""),
            &certs,
        ),
        ErrorKind::SchemePortMismatch,
        "apps[0].endpoints[0].url",
        Some("\"ws://example.com:443/\""),
        "ws:// needs a port with \"is_unencrypted\": true, but port 443 (ports[1]) is encrypted",
    );
    assert_one_error(
        &root(
            &ports,
            &app("a", "{endpoint_id: 0, url: 'wss://example.com:8080/'}", ""),
            &certs,
        ),
        ErrorKind::SchemePortMismatch,
        "apps[0].endpoints[0].url",
        Some("\"wss://example.com:8080/\""),
        "wss:// needs an encrypted port, but port 8080 (ports[0]) has \"is_unencrypted\": true",
    );
}

#[test]
fn endpoint_port_is_a_configured_port() {
    let ports = format!("{WS_PORT}, {{port_number: 443}}");
    let certs = format!("certs: [{CERT}]");
    assert_one_error(
        &root(
            &ports,
            &app("a", "{endpoint_id: 0, url: 'wss://example.com:99/a'}", ""),
            &certs,
        ),
        ErrorKind::UnconfiguredPort,
        "apps[0].endpoints[0].url",
        Some("\"wss://example.com:99/a\""),
        "port 99 is not a configured port (configured: 8080, 443)",
    );
    // The implied port counts: 80 for ws://.
    assert_one_error(
        &with_endpoint("{endpoint_id: 0, url: 'ws://localhost/'}"),
        ErrorKind::UnconfiguredPort,
        "apps[0].endpoints[0].url",
        Some("\"ws://localhost/\""),
        "port 80 is not a configured port (configured: 8080)",
    );
    // And 443 for wss://.
    let config = valid(&tls(CERT, "wss://example.com/x"));
    assert_eq!(config.apps[0].endpoints[0].url.port, 443);
}

#[test]
fn wss_hosts_are_covered_by_a_cert() {
    assert_one_error(
        &tls(CERT, "wss://example.org/"),
        ErrorKind::UncoveredHost,
        "apps[0].endpoints[0].url",
        Some("\"wss://example.org/\""),
        "host \"example.org\" is not covered by any cert's \"hostnames\" (configured: example.com, *.example.com)",
    );
    // A wildcard covers exactly one label.
    valid(&tls(CERT, "wss://www.example.com/"));
    assert_one_error(
        &tls(CERT, "wss://a.b.example.com/"),
        ErrorKind::UncoveredHost,
        "apps[0].endpoints[0].url",
        Some("\"wss://a.b.example.com/\""),
        "host \"a.b.example.com\" is not covered by any cert's \"hostnames\" (configured: example.com, *.example.com)",
    );
}

#[test]
fn endpoint_urls_are_unique() {
    let endpoints = "{endpoint_id: 0, url: 'ws://localhost:8080/a'}";
    let other = "{endpoint_id: 1, url: 'ws://LOCALHOST:8080/a'}";
    let apps = format!("{}, {}", app("a", endpoints, ""), app("b", other, ""));
    assert_one_error(
        &root(WS_PORT, &apps, ""),
        ErrorKind::DuplicateUrl,
        "apps[1].endpoints[0].url",
        Some("\"ws://LOCALHOST:8080/a\""),
        "same endpoint URL as apps[0].endpoints[0].url (\"ws://localhost:8080/a\"); each URL may be configured once",
    );
    // An implied port equals the explicit default port.
    let text = root(
        "{port_number: 80, is_unencrypted: true}",
        &app(
            "a",
            "{endpoint_id: 0, url: 'ws://h/'}, {endpoint_id: 1, url: 'ws://h:80'}",
            "",
        ),
        "",
    );
    assert_one_error(
        &text,
        ErrorKind::DuplicateUrl,
        "apps[0].endpoints[1].url",
        Some("\"ws://h:80\""),
        "same endpoint URL as apps[0].endpoints[0].url (\"ws://h/\"); each URL may be configured once",
    );
}

#[test]
fn app_headers_are_distinct_header_names_whatever_their_case() {
    let config = valid(&with_endpoint(
        "{endpoint_id: 0, url: 'ws://localhost:8080/', app_headers: ['Cookie', 'X-Forwarded-For']}",
    ));
    assert_eq!(
        config.apps[0].endpoints[0].app_headers,
        ["Cookie", "X-Forwarded-For"]
    );
    assert_one_error(
        &with_endpoint(
            "{endpoint_id: 0, url: 'ws://localhost:8080/', app_headers: ['Cookie', 'x-a', 'cookie']}",
        ),
        ErrorKind::InvalidHeaderName,
        "apps[0].endpoints[0].app_headers[2]",
        Some("\"cookie\""),
        "listed twice (also apps[0].endpoints[0].app_headers[0])",
    );
    assert_one_error(
        &with_endpoint("{endpoint_id: 0, url: 'ws://localhost:8080/', app_headers: ['Cookie:']}"),
        ErrorKind::InvalidHeaderName,
        "apps[0].endpoints[0].app_headers[0]",
        Some("\"Cookie:\""),
        "not a valid header name: it must be one or more letters, digits or !#$%&'*+-.^_`|~ (an HTTP token)",
    );
    let long = "x".repeat(256);
    assert_one_error(
        &with_endpoint(&format!(
            "{{endpoint_id: 0, url: 'ws://localhost:8080/', app_headers: ['{long}']}}"
        )),
        ErrorKind::InvalidHeaderName,
        "apps[0].endpoints[0].app_headers[0]",
        Some(&format!("\"{long}\"")),
        "a header name is at most 255 bytes long, this one 256",
    );
    assert_one_error(
        &with_endpoint("{endpoint_id: 0, url: 'ws://localhost:8080/', app_headers: [1]}"),
        ErrorKind::WrongType,
        "apps[0].endpoints[0].app_headers[0]",
        Some("1"),
        "expected a header name, found a number",
    );
    assert_one_error(
        &with_endpoint("{endpoint_id: 0, url: 'ws://localhost:8080/', app_headers: 'Cookie'}"),
        ErrorKind::WrongType,
        "apps[0].endpoints[0].app_headers",
        Some("\"Cookie\""),
        "expected an array of header names like \"Cookie\", found a string",
    );
}

#[test]
fn subprotocols_keep_their_order_of_preference() {
    let config = valid(&with_endpoint(
        "{endpoint_id: 0, url: 'ws://localhost:8080/', subprotocols: ['chat.v2', 'chat.v1', 'graphql-ws']}",
    ));
    assert_eq!(
        config.apps[0].endpoints[0].subprotocols,
        ["chat.v2", "chat.v1", "graphql-ws"]
    );
}

#[test]
fn subprotocols_are_distinct_tokens() {
    assert_one_error(
        &with_endpoint(
            "{endpoint_id: 0, url: 'ws://localhost:8080/', subprotocols: ['chat.v1', 'chat v2']}",
        ),
        ErrorKind::InvalidSubprotocol,
        "apps[0].endpoints[0].subprotocols[1]",
        Some("\"chat v2\""),
        "not a valid subprotocol name: it must be one or more letters, digits or !#$%&'*+-.^_`|~ (an HTTP token)",
    );
    assert_one_error(
        &with_endpoint("{endpoint_id: 0, url: 'ws://localhost:8080/', subprotocols: ['']}"),
        ErrorKind::InvalidSubprotocol,
        "apps[0].endpoints[0].subprotocols[0]",
        Some("\"\""),
        "not a valid subprotocol name: it must be one or more letters, digits or !#$%&'*+-.^_`|~ (an HTTP token)",
    );
    assert_one_error(
        &with_endpoint(
            "{endpoint_id: 0, url: 'ws://localhost:8080/', subprotocols: ['a', 'b', 'a']}",
        ),
        ErrorKind::InvalidSubprotocol,
        "apps[0].endpoints[0].subprotocols[2]",
        Some("\"a\""),
        "listed twice (also apps[0].endpoints[0].subprotocols[0])",
    );
    // The first copy is named where it is, whatever came before it.
    let errors = errors(&with_endpoint(
        "{endpoint_id: 0, url: 'ws://localhost:8080/', subprotocols: ['a b', 'c', 'c']}",
    ));
    assert_eq!(errors.len(), 2, "{}", lines(&errors));
    assert_eq!(
        errors[1].message(),
        "listed twice (also apps[0].endpoints[0].subprotocols[1])"
    );
    let longest = "x".repeat(255);
    let config = valid(&with_endpoint(&format!(
        "{{endpoint_id: 0, url: 'ws://localhost:8080/', subprotocols: ['{longest}']}}"
    )));
    assert_eq!(config.apps[0].endpoints[0].subprotocols, [longest]);
    let long = "x".repeat(256);
    assert_one_error(
        &with_endpoint(&format!(
            "{{endpoint_id: 0, url: 'ws://localhost:8080/', subprotocols: ['{long}']}}"
        )),
        ErrorKind::InvalidSubprotocol,
        "apps[0].endpoints[0].subprotocols[0]",
        Some(&format!("\"{long}\"")),
        "a subprotocol name is at most 255 bytes long, this one 256",
    );
    assert_one_error(
        &with_endpoint("{endpoint_id: 0, url: 'ws://localhost:8080/', subprotocols: 'chat'}"),
        ErrorKind::WrongType,
        "apps[0].endpoints[0].subprotocols",
        Some("\"chat\""),
        "expected an array of subprotocol names like \"chat.v1\", found a string",
    );
}

#[test]
fn allowed_origins_are_valid_origins() {
    assert_one_error(
        &with_endpoint(
            "{endpoint_id: 0, url: 'ws://localhost:8080/', allowed_origins: ['https://example.com', 'example.com']}",
        ),
        ErrorKind::InvalidOrigin,
        "apps[0].endpoints[0].allowed_origins[1]",
        Some("\"example.com\""),
        "not a valid origin: missing \"scheme://\" at the start; expected scheme://host[:port], e.g. \"https://example.com\"",
    );
    assert_one_error(
        &with_endpoint(
            "{endpoint_id: 0, url: 'ws://localhost:8080/', allowed_origins: ['https://example.com?x=1']}",
        ),
        ErrorKind::InvalidOrigin,
        "apps[0].endpoints[0].allowed_origins[0]",
        Some("\"https://example.com?x=1\""),
        "not a valid origin: a query (\"?…\") is not allowed; expected scheme://host[:port], e.g. \"https://example.com\"",
    );
    assert_one_error(
        &with_endpoint(
            "{endpoint_id: 0, url: 'ws://localhost:8080/', allowed_origins: 'https://example.com'}",
        ),
        ErrorKind::WrongType,
        "apps[0].endpoints[0].allowed_origins",
        Some("\"https://example.com\""),
        "expected an array of origins like \"https://example.com\", found a string",
    );
}

#[test]
fn allowed_origins_keep_the_original_strings_and_ignore_paths() {
    let config = valid(&with_endpoint(
        "{endpoint_id: 0, url: 'ws://localhost:8080/', allowed_origins: ['http://localhost:8080', 'https://example.com/foo']}",
    ));
    let origins = &config.apps[0].endpoints[0].allowed_origins;
    let raw: Vec<&str> = origins.iter().map(|o| o.raw.as_str()).collect();
    let serialized: Vec<&str> = origins.iter().map(|o| o.origin.as_str()).collect();
    assert_eq!(raw, ["http://localhost:8080", "https://example.com/foo"]);
    assert_eq!(serialized, ["http://localhost:8080", "https://example.com"]);
    // Absent means none: every request with an Origin header is refused.
    assert!(
        valid(&with_endpoint(WS_ENDPOINT)).apps[0].endpoints[0]
            .allowed_origins
            .is_empty()
    );
}
