//! What changed between two configurations, key by key: what a reload
//! compares. Every field is destructured, so a key added to the model
//! cannot be left out of the comparison.

use crate::model::{AppConfig, Config, PortConfig};

/// `(key, differs)` for each binding `key` (destructured from the old
/// configuration, by the name of its key) against the field of `new`.
macro_rules! differing {
    ($new:ident: $($key:ident),*) => {
        [$((stringify!($key), *$key != $new.$key)),*]
    };
}

impl Config {
    /// The keys whose values differ from `self` in `new`, named as in the
    /// file, in its order: `ports` (compared in any order: a port's
    /// socket does not depend on it), `worker_c` (by the worker count it
    /// gives on this machine), the other top-level keys, then `apps` (when
    /// their number differs) and `apps[i].KEY` for each app's own (its
    /// endpoints as `apps[i].endpoints`). The file's path is no key.
    ///
    /// ```
    /// let text = |idle: u32| format!(r#"{{
    ///     ports: [{{port_number: 8080, is_unencrypted: true}}],
    ///     apps: [{{name: "a", app_path: "/a.so", endpoints: [{{endpoint_id: 0, url: "ws://localhost:8080/"}}]}}],
    ///     idle_timeout: {idle},
    /// }}"#);
    /// let old = rs_conf::Config::from_json5_str(&text(60), "a.json5").unwrap();
    /// let new = rs_conf::Config::from_json5_str(&text(30), "b.json5").unwrap();
    /// assert_eq!(old.changed_keys(&new), ["idle_timeout"]);
    /// assert!(old.changed_keys(&old).is_empty());
    /// ```
    pub fn changed_keys(&self, new: &Config) -> Vec<String> {
        let Config {
            file: _,
            ports,
            certs,
            apps,
            log_level,
            worker_c: _,
            shutdown_wait_http,
            shutdown_wait_ws,
            idle_timeout,
            fd_alloc_c,
            max_ws_msg_size,
            max_ws_frame_chain_size,
            realloc_multiplier,
            worker_rbuf_size,
            inbound_ring_buf_size,
            outbound_ring_buf_size,
            owrefs_elem_c,
            epoll_buf_elem_c,
            update_queue_size,
            user,
            max_pending_output,
            max_pending_output_total,
            max_partial_msgs_size,
            max_http_request_size,
            max_conns_per_ip,
        } = self;
        let same_workers = self.effective_worker_c() == new.effective_worker_c();
        let changed = [
            ("ports", !same_ports(ports, &new.ports)),
            ("worker_c", !same_workers),
        ]
        .into_iter()
        .chain(differing![new:
            certs,
            log_level,
            shutdown_wait_http,
            shutdown_wait_ws,
            idle_timeout,
            fd_alloc_c,
            max_ws_msg_size,
            max_ws_frame_chain_size,
            realloc_multiplier,
            worker_rbuf_size,
            inbound_ring_buf_size,
            outbound_ring_buf_size,
            owrefs_elem_c,
            epoll_buf_elem_c,
            update_queue_size,
            user,
            max_pending_output,
            max_pending_output_total,
            max_partial_msgs_size,
            max_http_request_size,
            max_conns_per_ip
        ])
        .chain([("apps", apps.len() != new.apps.len())])
        .filter_map(|(key, differs)| differs.then_some(key));
        let mut changed: Vec<String> = changed.map(str::to_owned).collect();
        for (i, (old, app)) in apps.iter().zip(&new.apps).enumerate() {
            changed.extend(
                old.changed_keys(app)
                    .into_iter()
                    .map(|key| format!("apps[{i}].{key}")),
            );
        }
        changed
    }
}

impl AppConfig {
    /// The keys of one app whose values differ in `new`.
    fn changed_keys(&self, new: &AppConfig) -> Vec<&'static str> {
        let AppConfig {
            name,
            app_path,
            endpoints,
            no_open_cb,
            no_close_cb,
            wbuf_size,
            update_queue_size,
            close_client_on_panic,
        } = self;
        differing![new:
            name,
            app_path,
            endpoints,
            no_open_cb,
            no_close_cb,
            wbuf_size,
            update_queue_size,
            close_client_on_panic
        ]
        .into_iter()
        .filter_map(|(key, differs)| differs.then_some(key))
        .collect()
    }
}

/// Whether `a` and `b` list the same ports, in any order.
fn same_ports(a: &[PortConfig], b: &[PortConfig]) -> bool {
    a.len() == b.len()
        && a.iter().all(|port| b.contains(port))
        && b.iter().all(|port| a.contains(port))
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn config(extra: &str, ports: &str, apps: &str) -> Config {
        let text = format!("{{ ports: [{ports}], apps: [{apps}], {extra} }}");
        Config::from_json5_str(&text, "c.json5").unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    const PORTS: &str =
        "{port_number: 8080, is_unencrypted: true}, {port_number: 8081, is_unencrypted: true}";
    const APP: &str = r#"{name: "a", app_path: "/a.so", endpoints: [{endpoint_id: 0, url: "ws://localhost:8080/"}]}"#;

    #[test]
    fn ports_in_another_order_are_no_change() {
        let reordered =
            "{port_number: 8081, is_unencrypted: true}, {port_number: 8080, is_unencrypted: true}";
        let old = config("", PORTS, APP);
        assert!(old.changed_keys(&config("", reordered, APP)).is_empty());
        let fewer = "{port_number: 8080, is_unencrypted: true}";
        assert_eq!(old.changed_keys(&config("", fewer, APP)), ["ports"]);
    }

    #[test]
    fn every_top_level_key_is_compared_in_file_order() {
        let changed = r#"
            log_level: "debug", worker_c: 3, shutdown_wait_http: 7, shutdown_wait_ws: 7,
            idle_timeout: 7, fd_alloc_c: 7777, max_ws_msg_size: 7777,
            max_ws_frame_chain_size: 77777, realloc_multiplier: 7.5, worker_rbuf_size: 7777,
            inbound_ring_buf_size: 777777, outbound_ring_buf_size: 777777, owrefs_elem_c: 7,
            epoll_buf_elem_c: 7, update_queue_size: 7, user: "someone",
            max_pending_output: 7777777, max_pending_output_total: 77777777,
            max_partial_msgs_size: 7777777, max_http_request_size: 7777, max_conns_per_ip: 7,
        "#;
        let keys = config("worker_c: 2", PORTS, APP).changed_keys(&config(changed, PORTS, APP));
        assert_eq!(
            keys,
            [
                "worker_c",
                "log_level",
                "shutdown_wait_http",
                "shutdown_wait_ws",
                "idle_timeout",
                "fd_alloc_c",
                "max_ws_msg_size",
                "max_ws_frame_chain_size",
                "realloc_multiplier",
                "worker_rbuf_size",
                "inbound_ring_buf_size",
                "outbound_ring_buf_size",
                "owrefs_elem_c",
                "epoll_buf_elem_c",
                "update_queue_size",
                "user",
                "max_pending_output",
                "max_pending_output_total",
                "max_partial_msgs_size",
                "max_http_request_size",
                "max_conns_per_ip",
                // Its own is the global one unless it has one.
                "apps[0].update_queue_size",
            ]
        );
    }

    #[test]
    fn an_app_s_keys_are_named_with_its_index() {
        let second = r#"{name: "b", app_path: "/b.so",
            endpoints: [{endpoint_id: 0, url: "ws://localhost:8080/b"}]}"#;
        let changed = r#"{name: "c", app_path: "/c.so", no_open_cb: true, no_close_cb: true,
            wbuf_size: 7777, update_queue_size: 7, close_client_on_panic: true,
            endpoints: [{endpoint_id: 1, url: "ws://localhost:8080/b"}]}"#;
        let old = config("", PORTS, &format!("{APP}, {second}"));
        let keys = old.changed_keys(&config("", PORTS, &format!("{APP}, {changed}")));
        let expected: Vec<String> = [
            "name",
            "app_path",
            "endpoints",
            "no_open_cb",
            "no_close_cb",
            "wbuf_size",
            "update_queue_size",
            "close_client_on_panic",
        ]
        .iter()
        .map(|key| format!("apps[1].{key}"))
        .collect();
        assert_eq!(keys, expected);
        assert_eq!(old.changed_keys(&config("", PORTS, APP)), ["apps"]);
    }
}
