//! Request bodies and queries: everything up to the first newline is the
//! query (none when there is no newline), the rest the body. It is judged as
//! every inspected endpoint, with nothing granted and with everything
//! granted. Must never panic.
#![no_main]

use std::sync::OnceLock;

use dockgate::inspect::{judge, Endpoint, Grants, RawGrants};
use libfuzzer_sys::fuzz_target;

const ENDPOINTS: [Endpoint; 13] = [
    Endpoint::ContainerCreate,
    Endpoint::ContainerStart,
    Endpoint::ContainerUpdate,
    Endpoint::ExecCreate,
    Endpoint::VolumeCreate,
    Endpoint::Build,
    Endpoint::BuildKit,
    Endpoint::PluginInstall,
    Endpoint::PluginUpgrade,
    Endpoint::PluginCreate,
    Endpoint::PluginSet,
    Endpoint::ServiceCreate,
    Endpoint::ServiceUpdate,
];

fn grants() -> &'static [Grants; 2] {
    static GRANTS: OnceLock<[Grants; 2]> = OnceLock::new();
    GRANTS.get_or_init(|| {
        let all = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let permissive = Grants::compile(&RawGrants {
            privileged: true,
            bind_mounts: all(&["/**"]),
            read_only_bind_mounts: all(&["/**"]),
            capabilities: all(&["ALL"]),
            host_namespaces: all(dockgate::inspect::grants::HOST_NAMESPACES),
            container_namespaces: all(dockgate::inspect::grants::CONTAINER_NAMESPACES),
            devices: all(&["/**"]),
            device_requests: true,
            device_cgroup_rules: true,
            security_opt: true,
            sysctls: all(&["**"]),
            cgroup_parent: true,
            runtimes: all(&["nvidia"]),
            volumes_from: true,
            volume_mount_options: true,
            plugins: true,
            swarm_services: true,
            buildkit: true,
        })
        .expect("permissive grants compile");
        [Grants::none(), permissive]
    })
}

fuzz_target!(|data: &[u8]| {
    let (query, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (std::str::from_utf8(&data[..i]).ok(), &data[i + 1..]),
        None => (None, data),
    };
    for endpoint in ENDPOINTS {
        for grants in grants() {
            let _ = judge(endpoint, query, body, grants);
        }
    }
});
