//! What changed between two configurations, key by key: what a reload
//! compares. Every field is named (see [`differing`]), so a key added to
//! the model cannot be left out of the comparison.

use crate::model::{AppConfig, Config, PortConfig};

/// `(key, differs)` for each field of `$old` (a `$ty`) in `compare`, in
/// that order: whether it differs from the same field of `$new`, or what
/// the expression after its name says (the field bound by its name).
/// Every field is named, in `compare` or in `skip` (no key): the pattern
/// is exhaustive, so a field added to `$ty` does not compile until it is.
macro_rules! differing {
    ($ty:ident $old:ident, $new:ident, skip [$($skip:ident),*],
     compare [$($key:ident $(: $differs:expr)?),* $(,)?]) => {{
        // (An expression may compare otherwise than by the binding.)
        #[allow(unused_variables)]
        let $ty { $($skip: _,)* $($key),* } = $old;
        [$((stringify!($key), differing!(@one $key, $new $(, $differs)?))),*]
    }};
    (@one $key:ident, $new:ident) => { *$key != $new.$key };
    (@one $key:ident, $new:ident, $differs:expr) => { $differs };
}

impl Config {
    /// The keys whose values differ from `self` in `new`, named as in the
    /// file, in its order: `ports` are compared in any order (a port's
    /// socket does not depend on it), `apps` by their number, `worker_c`
    /// by the worker count it gives on this machine; then `apps[i].KEY`
    /// for each app's own (its endpoints as `apps[i].endpoints`). The
    /// file's path is no key.
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
        let same_workers = self.effective_worker_c() == new.effective_worker_c();
        let changed = differing!(Config self, new,
            skip [file],
            compare [
                ports: !same_ports(ports, &new.ports),
                certs,
                // Their number; each app's own keys follow.
                apps: apps.len() != new.apps.len(),
                log_level,
                worker_c: !same_workers,
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
            ]
        )
        .into_iter()
        .filter_map(|(key, differs)| differs.then_some(key));
        let mut changed: Vec<String> = changed.map(str::to_owned).collect();
        for (i, (old, app)) in self.apps.iter().zip(&new.apps).enumerate() {
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
        differing!(AppConfig self, new,
            skip [],
            compare [
                name,
                app_path,
                endpoints,
                no_open_cb,
                no_close_cb,
                wbuf_size,
                update_queue_size,
                close_client_on_panic,
            ]
        )
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
        // Every key of the file but those the values above leave alone, in
        // its order; the app's own update_queue_size is the global one
        // unless it has one.
        let mut expected: Vec<&str> = crate::parse::ROOT_KEYS
            .iter()
            .copied()
            .filter(|key| !["ports", "certs", "apps"].contains(key))
            .collect();
        expected.push("apps[0].update_queue_size");
        assert_eq!(keys, expected);
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
        // Every key of an app, in the file's order.
        let expected: Vec<String> = crate::parse::APP_KEYS
            .iter()
            .map(|key| format!("apps[1].{key}"))
            .collect();
        assert_eq!(keys, expected);
        assert_eq!(old.changed_keys(&config("", PORTS, APP)), ["apps"]);
    }
}
