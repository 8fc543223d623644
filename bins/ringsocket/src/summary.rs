//! The short summary `--check` prints for a valid configuration: ports,
//! certs, apps with their endpoints, and the effective worker count.

use std::fmt::Write;

use rs_conf::{Config, PortConfig};

/// The summary text for `config` on a machine with `available_cpus` CPUs.
pub(crate) fn summary(config: &Config, available_cpus: usize) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_summary(&mut out, config, available_cpus);
    out
}

fn write_summary(out: &mut String, config: &Config, available_cpus: usize) -> std::fmt::Result {
    writeln!(out, "{}: configuration OK", config.file.display())?;
    writeln!(out, "ports:")?;
    for port in &config.ports {
        writeln!(out, "  {}", describe_port(port))?;
    }
    if !config.certs.is_empty() {
        writeln!(out, "certs:")?;
        for cert in &config.certs {
            writeln!(out, "  {}", cert.hostnames.join(", "))?;
        }
    }
    writeln!(out, "apps:")?;
    for app in &config.apps {
        writeln!(out, "  {} ({})", app.name, app.app_path.display())?;
        for endpoint in &app.endpoints {
            writeln!(
                out,
                "    endpoint {}: {}",
                endpoint.endpoint_id, endpoint.url
            )?;
        }
    }
    let workers = config.effective_worker_c_for(available_cpus);
    let why = match config.worker_c {
        Some(_) => "from worker_c".to_owned(),
        None => format!(
            "{available_cpus} CPU{} minus {} app{}, at least 1",
            plural(available_cpus),
            config.apps.len(),
            plural(config.apps.len())
        ),
    };
    writeln!(out, "workers: {workers} ({why})")
}

fn describe_port(port: &PortConfig) -> String {
    let kind = if port.is_unencrypted {
        "ws:// (plaintext)"
    } else {
        "wss:// (TLS)"
    };
    let place = match &port.interface {
        Some(interface) => format!("on interface {interface}"),
        None => {
            let addrs: Vec<String> = port.bind_addrs().iter().map(ToString::to_string).collect();
            format!("on {}", addrs.join(", "))
        }
    };
    format!("{} {kind} {place}", port.port_number)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_ports_certs_apps_endpoints_and_workers() {
        let config = Config::from_json5_str(
            r#"{
                ports: [{port_number: 8080, is_unencrypted: true, ip_addrs: ["127.0.0.1"]},
                        {port_number: 443, interface: "eth0"}],
                certs: [{hostnames: ["example.com"], privkey_path: "/k", pubchain_path: "/c"}],
                apps: [{name: "echo", app_path: "/lib/libecho.so", endpoints: [
                    {endpoint_id: 0, url: "ws://localhost:8080/echo"},
                    {endpoint_id: 7, url: "wss://example.com/echo"}]}],
            }"#,
            "/etc/rs.json5",
        )
        .unwrap();
        assert_eq!(
            summary(&config, 4),
            "\
/etc/rs.json5: configuration OK
ports:
  8080 ws:// (plaintext) on 127.0.0.1:8080
  443 wss:// (TLS) on interface eth0
certs:
  example.com
apps:
  echo (/lib/libecho.so)
    endpoint 0: ws://localhost:8080/echo
    endpoint 7: wss://example.com/echo
workers: 3 (4 CPUs minus 1 app, at least 1)
"
        );
    }
}
