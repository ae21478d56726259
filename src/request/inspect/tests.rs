//! Table-driven tests of `judge`: one row per rule, each with the request that must pass and
//! the one that must not.

use super::*;
use crate::config::grants::RawGrants;

/// What a row expects.
#[derive(Debug, Clone, Copy)]
enum Want {
    Ok,
    /// Forbidden, with a field starting with this text.
    Forbidden(&'static str),
    Ambiguous,
}
use Want::*;

fn grants(text: &str) -> Grants {
    let raw: RawGrants = toml::from_str(text).expect("grants toml");
    Grants::compile(&raw).expect("grants compile")
}

/// Runs one table; every row names its endpoint, query, body, grants and expectation.
fn run(rows: &[(Endpoint, Option<&str>, &str, &str, Want)]) {
    for (i, (endpoint, query, body, granted, want)) in rows.iter().enumerate() {
        let got = judge(*endpoint, *query, body.as_bytes(), &grants(granted));
        let ok = match (want, &got) {
            (Ok, Result::Ok(())) => true,
            (Forbidden(prefix), Err(Refusal::Forbidden { field, .. })) => field.starts_with(prefix),
            (Ambiguous, Err(Refusal::Ambiguous(_))) => true,
            _ => false,
        };
        assert!(
            ok,
            "row {i}: {endpoint:?} {query:?} {body} with [{granted}]: want {want:?}, got {got:?}"
        );
    }
}

/// Runs a table whose bodies are built at run time, all sent to `endpoint`.
fn run_bodies(endpoint: Endpoint, rows: &[(String, &str, Want)]) {
    let rows: Vec<_> = rows
        .iter()
        .map(|(body, granted, want)| (endpoint, None, body.as_str(), *granted, *want))
        .collect();
    run(&rows);
}

const C: Endpoint = Endpoint::ContainerCreate;
const NONE: &str = "";

#[test]
fn privileged() {
    run(&[
        (C, None, r#"{"Image":"x"}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"Privileged":false}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"Privileged":true}}"#, NONE, Forbidden("HostConfig.Privileged")),
        (C, None, r#"{"HostConfig":{"Privileged":true}}"#, "privileged = true", Ok),
        (C, None, r#"{"HostConfig":{"Privileged":null}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"Privileged":"true"}}"#, NONE, Ambiguous),
        (C, None, r#"{"HostConfig":{"Privileged":1}}"#, NONE, Ambiguous),
        (C, None, r#"{"hostconfig":{"privileged":true}}"#, NONE, Forbidden("HostConfig.Privileged")),
        (C, None, r#"{"HOSTCONFIG":{"PRIVILEGED":true}}"#, NONE, Forbidden("HostConfig.Privileged")),
        (C, None, r#"{"Host\u0043onfig":{"Privil\u0065ged":true}}"#, NONE, Forbidden("HostConfig.Privileged")),
        (C, None, "{\"HostConfig\":{\"Privileged\":true}}", NONE, Forbidden("HostConfig.Privileged")),
        // Top-level HostConfig fields (the deprecated embedded HostConfig).
        (C, None, r#"{"Image":"x","Privileged":true}"#, NONE, Forbidden("Privileged")),
        (C, None, r#"{"Image":"x","privileged":true,"HostConfig":{}}"#, NONE, Forbidden("Privileged")),
        // Duplicates that fold to an inspected field.
        (C, None, r#"{"HostConfig":{},"HostConfig":{"Privileged":true}}"#, NONE, Ambiguous),
        (C, None, r#"{"HostConfig":{},"hostConfig":{}}"#, NONE, Ambiguous),
        (C, None, r#"{"HostConfig":{"Privileged":true,"privileged":false}}"#, NONE, Ambiguous),
        (C, None, r#"{"HostConfig":{"Privileged":false,"Privileged":false}}"#, NONE, Ambiguous),
        // Unrelated duplicates (map keys) are fine.
        (C, None, r#"{"Labels":{"a":"1","A":"2"},"Env":["A=1"]}"#, NONE, Ok),
        // Exec.
        (Endpoint::ExecCreate, None, r#"{"Cmd":["sh"],"Privileged":true}"#, NONE, Forbidden("Privileged")),
        (Endpoint::ExecCreate, None, r#"{"Cmd":["sh"],"Privileged":true}"#, "privileged = true", Ok),
        (Endpoint::ExecCreate, None, r#"{"Cmd":["sh"],"Privileged":false}"#, NONE, Ok),
        (Endpoint::ExecCreate, None, r#"{"privileged":true,"PRIVILEGED":false}"#, NONE, Ambiguous),
    ]);
}

#[test]
fn malformed_bodies() {
    run(&[
        (C, None, "", NONE, Ambiguous),
        (C, None, "null", NONE, Ambiguous),
        (C, None, "[]", NONE, Ambiguous),
        (C, None, r#"{"Image":"x"} {"HostConfig":{"Privileged":true}}"#, NONE, Ambiguous),
        (C, None, "{\"Image\":\"\u{00ff}\"}", NONE, Ok),
        (C, None, r#"{"HostConfig":"x"}"#, NONE, Ambiguous),
        (C, None, r#"{"HostConfig":null}"#, NONE, Ok),
        (C, None, r#"{"Image":"\ud800"}"#, NONE, Ambiguous),
        (Endpoint::ContainerUpdate, None, "", NONE, Ambiguous),
        (Endpoint::ExecCreate, None, "{", NONE, Ambiguous),
        (Endpoint::VolumeCreate, None, "{}x", NONE, Ambiguous),
    ]);
    let invalid_utf8 = b"{\"Image\":\"\xff\"}";
    assert!(matches!(
        judge(C, None, invalid_utf8, &Grants::none()),
        Err(Refusal::Ambiguous(_))
    ));
}

#[test]
fn binds_and_mounts() {
    let ci = r#"bind_mounts = ["/srv/ci/**"]"#;
    let ro = r#"read_only_bind_mounts = ["/etc/ssl/certs"]"#;
    run(&[
        (C, None, r#"{"HostConfig":{"Binds":["/:/host"]}}"#, NONE, Forbidden("HostConfig.Binds")),
        (C, None, r#"{"HostConfig":{"Binds":["myvol:/data"]}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"Binds":["myvol:/data:ro"]}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"Binds":["/data"]}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"Binds":["/srv/ci/x:/x"]}}"#, ci, Ok),
        (C, None, r#"{"HostConfig":{"Binds":["/srv/ci:/x:ro"]}}"#, ci, Ok),
        (C, None, r#"{"HostConfig":{"Binds":["//srv/./ci/x/:/x"]}}"#, ci, Ok),
        (C, None, r#"{"HostConfig":{"Binds":["/srv/ci/../../etc:/x"]}}"#, ci, Ambiguous),
        (C, None, r#"{"HostConfig":{"Binds":["/srv/cix:/x"]}}"#, ci, Forbidden("HostConfig.Binds")),
        (C, None, r#"{"HostConfig":{"Binds":["myvol:/data","/etc:/x"]}}"#, ci, Forbidden("HostConfig.Binds")),
        (C, None, r#"{"HostConfig":{"Binds":["/a:/b:ro:x"]}}"#, NONE, Ambiguous),
        (C, None, r#"{"HostConfig":{"Binds":"/:/host"}}"#, NONE, Ambiguous),
        (C, None, r#"{"Binds":["/:/host"]}"#, NONE, Forbidden("Binds")),
        // A `:ro` bind is recursive, and the Engine remounts only its top read-only: filesystems
        // mounted below the source stay writable, so a read-only grant does not cover it.
        (C, None, r#"{"HostConfig":{"Binds":["/etc/ssl/certs:/c:ro"]}}"#, ro, Forbidden("HostConfig.Binds")),
        // `z` relabels the host tree: a write even on a read-only mount.
        (C, None, r#"{"HostConfig":{"Binds":["/etc/ssl/certs:/c:z,ro"]}}"#, ro, Forbidden("HostConfig.Binds")),
        (C, None, r#"{"HostConfig":{"Binds":["/srv/ci/x:/c:z,ro"]}}"#, ci, Ok),
        (C, None, r#"{"HostConfig":{"Binds":["/etc/ssl/certs:/c"]}}"#, ro, Forbidden("HostConfig.Binds")),
        (C, None, r#"{"HostConfig":{"Binds":["/etc/ssl/certs:/c:rw"]}}"#, ro, Forbidden("HostConfig.Binds")),
        // Mounts.
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}}"#, NONE, Forbidden("HostConfig.Mounts.Source")),
        (C, None, r#"{"HostConfig":{"Mounts":[{"type":"bind","source":"/srv/ci/a","target":"/h"}]}}"#, ci, Ok),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/etc/ssl/certs","ReadOnly":true}]}}"#, ro, Forbidden("HostConfig.Mounts.Source")),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/etc/ssl/certs","ReadOnly":true,"BindOptions":{"NonRecursive":true}}]}}"#, ro, Ok),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/etc/ssl/certs","ReadOnly":true,"BindOptions":{"ReadOnlyForceRecursive":true}}]}}"#, ro, Forbidden("HostConfig.Mounts.Source")),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/etc/ssl/certs"}]}}"#, ro, Forbidden("HostConfig.Mounts.Source")),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"relative"}]}}"#, ci, Ambiguous),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/srv/ci/a","source":"/"}]}}"#, ci, Ambiguous),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v"}]}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/t"}]}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"Bind","Source":"/"}]}}"#, NONE, Ambiguous),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Source":"/"}]}}"#, NONE, Ambiguous),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"bind","device":"/"}}}}]}}"#, NONE, Forbidden("HostConfig.Mounts.VolumeOptions.DriverConfig.Options.device")),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/srv/ci/v"}}}}]}}"#, ci, Ok),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","VolumeOptions":{"DriverConfig":{"Name":"sshfs","Options":{"o":"bind","device":"/"}}}}]}}"#, NONE, Ok),
        (C, None, r#"{"Mounts":[{"Type":"bind","Source":"/"}]}"#, NONE, Forbidden("Mounts.Source")),
        // VolumesFrom.
        (C, None, r#"{"HostConfig":{"VolumesFrom":["other"]}}"#, NONE, Forbidden("HostConfig.VolumesFrom")),
        (C, None, r#"{"HostConfig":{"VolumesFrom":["other"]}}"#, "volumes_from = true", Ok),
        (C, None, r#"{"HostConfig":{"VolumesFrom":[]}}"#, NONE, Ok),
    ]);
}

#[test]
fn namespaces() {
    run(&[
        (C, None, r#"{"HostConfig":{"NetworkMode":"host"}}"#, NONE, Forbidden("HostConfig.NetworkMode")),
        (C, None, r#"{"HostConfig":{"NetworkMode":"HOST"}}"#, NONE, Forbidden("HostConfig.NetworkMode")),
        (C, None, r#"{"HostConfig":{"NetworkMode":"host"}}"#, r#"host_namespaces = ["network"]"#, Ok),
        (C, None, r#"{"HostConfig":{"NetworkMode":"host"}}"#, r#"host_namespaces = ["pid"]"#, Forbidden("HostConfig.NetworkMode")),
        (C, None, r#"{"HostConfig":{"NetworkMode":"bridge"}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"NetworkMode":"mynet"}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"NetworkMode":"container:abc"}}"#, NONE, Forbidden("HostConfig.NetworkMode")),
        (C, None, r#"{"HostConfig":{"NetworkMode":"container:abc"}}"#, r#"container_namespaces = ["network"]"#, Ok),
        (C, None, r#"{"HostConfig":{"NetworkMode":"container:abc"}}"#, r#"host_namespaces = ["network"]"#, Forbidden("HostConfig.NetworkMode")),
        (C, None, r#"{"HostConfig":{"PidMode":"host"}}"#, NONE, Forbidden("HostConfig.PidMode")),
        (C, None, r#"{"HostConfig":{"PidMode":"container:x"}}"#, NONE, Forbidden("HostConfig.PidMode")),
        (C, None, r#"{"HostConfig":{"IpcMode":"host"}}"#, NONE, Forbidden("HostConfig.IpcMode")),
        (C, None, r#"{"HostConfig":{"IpcMode":"shareable"}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"UTSMode":"host"}}"#, NONE, Forbidden("HostConfig.UTSMode")),
        (C, None, r#"{"HostConfig":{"UsernsMode":"host"}}"#, NONE, Forbidden("HostConfig.UsernsMode")),
        (C, None, r#"{"HostConfig":{"CgroupnsMode":"host"}}"#, NONE, Forbidden("HostConfig.CgroupnsMode")),
        (C, None, r#"{"HostConfig":{"CgroupnsMode":"private"}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"Cgroup":"container:x"}}"#, NONE, Forbidden("HostConfig.Cgroup")),
        (C, None, r#"{"HostConfig":{"NetworkMode":1}}"#, NONE, Ambiguous),
        (C, None, r#"{"PidMode":"host"}"#, NONE, Forbidden("PidMode")),
        (C, None, r#"{"uts\u006dode":"host"}"#, NONE, Forbidden("UTSMode")),
        (C, None, r#"{"NetworkingConfig":{"EndpointsConfig":{"host":{}}}}"#, NONE, Forbidden("NetworkingConfig.EndpointsConfig")),
        (C, None, r#"{"NetworkingConfig":{"EndpointsConfig":{"mynet":{}}}}"#, NONE, Ok),
    ]);
}

#[test]
fn capabilities_and_confinement() {
    let admin = r#"capabilities = ["SYS_ADMIN"]"#;
    run(&[
        (C, None, r#"{"HostConfig":{"CapAdd":["NET_ADMIN"]}}"#, NONE, Forbidden("HostConfig.CapAdd")),
        (C, None, r#"{"HostConfig":{"Capabilities":["CAP_CHOWN","KILL"]}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"Capabilities":["CAP_CHOWN","CAP_SYS_ADMIN"]}}"#, NONE, Forbidden("HostConfig.Capabilities")),
        (C, None, r#"{"Capabilities":["SYS_ADMIN"]}"#, admin, Ok),
        (C, None, r#"{"HostConfig":{"CapAdd":["cap_sys_admin"]}}"#, admin, Ok),
        (C, None, r#"{"HostConfig":{"CapAdd":["Sys_Admin"]}}"#, admin, Ok),
        (C, None, r#"{"HostConfig":{"CapAdd":"CAP_SYS_ADMIN"}}"#, admin, Ok),
        (C, None, r#"{"HostConfig":{"CapAdd":["SYS_ADMIN","NET_RAW"]}}"#, admin, Forbidden("HostConfig.CapAdd")),
        (C, None, r#"{"HostConfig":{"CapAdd":["ALL"]}}"#, admin, Forbidden("HostConfig.CapAdd")),
        (C, None, r#"{"HostConfig":{"CapAdd":["all"]}}"#, r#"capabilities = ["ALL"]"#, Ok),
        (C, None, r#"{"HostConfig":{"CapAdd":[]}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"CapDrop":["ALL"]}}"#, NONE, Ok),
        (C, None, r#"{"CapAdd":["SYS_ADMIN"]}"#, NONE, Forbidden("CapAdd")),
        // SecurityOpt.
        (C, None, r#"{"HostConfig":{"SecurityOpt":["no-new-privileges"]}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"SecurityOpt":["no-new-privileges=true"]}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"SecurityOpt":["no-new-privileges:true"]}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"SecurityOpt":["no-new-privileges=false"]}}"#, NONE, Forbidden("HostConfig.SecurityOpt")),
        (C, None, r#"{"HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}"#, NONE, Forbidden("HostConfig.SecurityOpt")),
        (C, None, r#"{"HostConfig":{"SecurityOpt":["seccomp:unconfined"]}}"#, NONE, Forbidden("HostConfig.SecurityOpt")),
        (C, None, r#"{"HostConfig":{"SecurityOpt":["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]}}"#, NONE, Forbidden("HostConfig.SecurityOpt")),
        (C, None, r#"{"HostConfig":{"SecurityOpt":["apparmor=unconfined"]}}"#, NONE, Forbidden("HostConfig.SecurityOpt")),
        (C, None, r#"{"HostConfig":{"SecurityOpt":["label=disable"]}}"#, NONE, Forbidden("HostConfig.SecurityOpt")),
        (C, None, r#"{"HostConfig":{"SecurityOpt":["label:disable"]}}"#, NONE, Forbidden("HostConfig.SecurityOpt")),
        (C, None, r#"{"HostConfig":{"SecurityOpt":["label=type:spc_t"]}}"#, NONE, Forbidden("HostConfig.SecurityOpt")),
        (C, None, r#"{"HostConfig":{"SecurityOpt":["systempaths=unconfined"]}}"#, NONE, Forbidden("HostConfig.SecurityOpt")),
        (C, None, r#"{"HostConfig":{"SecurityOpt":["writable-cgroups=true"]}}"#, NONE, Forbidden("HostConfig.SecurityOpt")),
        (C, None, r#"{"HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}"#, "security_opt = true", Ok),
        (C, None, r#"{"HostConfig":{"MaskedPaths":[]}}"#, NONE, Forbidden("HostConfig.MaskedPaths")),
        (C, None, r#"{"HostConfig":{"ReadonlyPaths":[]}}"#, NONE, Forbidden("HostConfig.ReadonlyPaths")),
        (C, None, r#"{"HostConfig":{"MaskedPaths":null}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"MaskedPaths":[]}}"#, "security_opt = true", Ok),
        // Sysctls.
        (C, None, r#"{"HostConfig":{"Sysctls":{"net.ipv4.ip_forward":"1"}}}"#, NONE, Forbidden("HostConfig.Sysctls")),
        (C, None, r#"{"HostConfig":{"Sysctls":{"net.ipv4.ip_forward":"1"}}}"#, r#"sysctls = ["net.ipv4.*"]"#, Ok),
        (C, None, r#"{"HostConfig":{"Sysctls":{"net/ipv4/ip_forward":"1"}}}"#, r#"sysctls = ["net.ipv4.*"]"#, Ok),
        (C, None, r#"{"HostConfig":{"Sysctls":{"kernel.shmmax":"1"}}}"#, r#"sysctls = ["net.ipv4.*"]"#, Forbidden("HostConfig.Sysctls")),
        (C, None, "{\"HostConfig\":{\"\u{017F}ysctls\":{\"kernel.x\":\"1\"}}}", NONE, Forbidden("HostConfig.Sysctls")),
        (C, None, r#"{"HostConfig":{"Sysctls":{}}}"#, NONE, Ok),
        // Runtime, cgroup parent.
        (C, None, r#"{"HostConfig":{"Runtime":"runc"}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"Runtime":""}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"Runtime":"runsc"}}"#, NONE, Forbidden("HostConfig.Runtime")),
        (C, None, r#"{"HostConfig":{"Runtime":"runsc"}}"#, r#"runtimes = ["runsc"]"#, Ok),
        (C, None, r#"{"HostConfig":{"CgroupParent":"/system.slice"}}"#, NONE, Forbidden("HostConfig.CgroupParent")),
        (C, None, r#"{"HostConfig":{"CgroupParent":""}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"CgroupParent":"x"}}"#, "cgroup_parent = true", Ok),
    ]);
}

#[test]
fn devices() {
    let sda = r#"devices = ["/dev/sda*"]"#;
    run(&[
        (C, None, r#"{"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda"}]}}"#, NONE, Forbidden("HostConfig.Devices.PathOnHost")),
        (C, None, r#"{"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda1"}]}}"#, sda, Ok),
        (C, None, r#"{"HostConfig":{"Devices":[{"PathOnHost":"/dev/mem"}]}}"#, sda, Forbidden("HostConfig.Devices.PathOnHost")),
        (C, None, r#"{"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda/../mem"}]}}"#, sda, Ambiguous),
        (C, None, r#"{"HostConfig":{"Devices":[{"PathInContainer":"/dev/x"}]}}"#, sda, Ambiguous),
        (C, None, r#"{"HostConfig":{"Devices":[]}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"DeviceRequests":[{"Count":-1}]}}"#, NONE, Forbidden("HostConfig.DeviceRequests")),
        (C, None, r#"{"HostConfig":{"DeviceRequests":[{"Count":-1}]}}"#, "device_requests = true", Ok),
        (C, None, r#"{"HostConfig":{"DeviceCgroupRules":["a *:* rwm"]}}"#, NONE, Forbidden("HostConfig.DeviceCgroupRules")),
        (C, None, r#"{"HostConfig":{"DeviceCgroupRules":["a *:* rwm"]}}"#, "device_cgroup_rules = true", Ok),
        (C, None, r#"{"Devices":[{"PathOnHost":"/dev/sda"}]}"#, NONE, Forbidden("Devices")),
        // Update carries Resources at the top level.
        (Endpoint::ContainerUpdate, None, r#"{"Memory":1048576}"#, NONE, Ok),
        (Endpoint::ContainerUpdate, None, r#"{"Devices":[{"PathOnHost":"/dev/sda"}]}"#, NONE, Forbidden("Devices")),
        (Endpoint::ContainerUpdate, None, r#"{"DeviceRequests":[{}]}"#, NONE, Forbidden("DeviceRequests")),
        (Endpoint::ContainerUpdate, None, r#"{"DeviceCgroupRules":["a"]}"#, NONE, Forbidden("DeviceCgroupRules")),
        (Endpoint::ContainerUpdate, None, r#"{"cgroupparent":"x"}"#, NONE, Forbidden("CgroupParent")),
    ]);
}

#[test]
fn start_body() {
    let s = Endpoint::ContainerStart;
    run(&[
        (s, None, "", NONE, Ok),
        (s, None, "null", NONE, Ok),
        (s, None, "{}", NONE, Ok),
        // Legacy start bodies are the create wrapper: host fields at the top level...
        (s, None, r#"{"Privileged":true}"#, NONE, Forbidden("Privileged")),
        (s, None, r#"{"Binds":["/:/h"]}"#, NONE, Forbidden("Binds")),
        (s, None, r#"{"NetworkMode":"host"}"#, NONE, Forbidden("NetworkMode")),
        // ...and nested, where the Engine's wrapper prefers them.
        (s, None, r#"{"HostConfig":{"Privileged":true}}"#, NONE, Forbidden("HostConfig.Privileged")),
        (s, None, r#"{"Image":"x","HostConfig":{"Binds":["/:/h"]}}"#, NONE, Forbidden("HostConfig.Binds")),
        (s, None, r#"{"hostconfig":{"CapAdd":["ALL"]}}"#, NONE, Forbidden("HostConfig.CapAdd")),
        (s, None, r#"{"NetworkingConfig":{"EndpointsConfig":{"host":{}}}}"#, NONE, Forbidden("NetworkingConfig")),
        (s, None, r#"{"HostConfig":{"Privileged":true}}"#, "privileged = true", Ok),
        (s, None, "   ", NONE, Ambiguous),
        // Restoring from a checkpoint reads a host directory.
        (s, Some("checkpoint-dir=/etc"), "", NONE, Forbidden("query parameter checkpoint-dir")),
        (s, Some("checkpoint%2Ddir=/etc"), "", NONE, Forbidden("query parameter checkpoint-dir")),
        (s, Some("checkpoint=c1"), "", NONE, Forbidden("query parameter checkpoint")),
        (s, Some("checkpoint=c1"), "", "checkpoints = true", Ok),
        (s, Some("checkpoint=&detachKeys=ctrl-x"), "", NONE, Ok),
        (s, Some("checkpoint=%zz"), "", NONE, Ambiguous),
    ]);
}

#[test]
fn links() {
    run(&[
        (C, None, r#"{"HostConfig":{"Links":[]}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"Links":null}}"#, NONE, Ok),
        (C, None, r#"{"HostConfig":{"Links":["db:db"]}}"#, NONE, Forbidden("HostConfig.Links")),
        (C, None, r#"{"Links":["db:db"]}"#, NONE, Forbidden("Links")),
        (C, None, r#"{"HostConfig":{"Links":["db:db"]}}"#, r#"container_namespaces = ["links"]"#, Ok),
        (C, None, r#"{"HostConfig":{"Links":"db"}}"#, NONE, Ambiguous),
    ]);
}

#[test]
fn grant_only_routes() {
    run(&[
        (Endpoint::SwarmMembership, None, "", NONE, Forbidden("swarm membership")),
        (Endpoint::SwarmMembership, None, "", "swarm = true", Ok),
        (Endpoint::Checkpoint, None, "", NONE, Forbidden("container checkpoint")),
        (Endpoint::Checkpoint, None, "", "checkpoints = true", Ok),
    ]);
}

#[test]
fn volume_create() {
    let v = Endpoint::VolumeCreate;
    let ci = r#"bind_mounts = ["/srv/ci/**"]"#;
    run(&[
        (v, None, r#"{"Name":"v"}"#, NONE, Ok),
        (v, None, r#"{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/"}}"#, NONE, Forbidden("DriverOpts.device")),
        (v, None, r#"{"Name":"v","Driver":"local","DriverOpts":{"type":"none","o":"bind","device":"/"}}"#, NONE, Forbidden("DriverOpts.device")),
        (v, None, r#"{"Name":"v","DriverOpts":{"type":"none","o":"rw,rbind","device":"/srv/ci/v"}}"#, ci, Ok),
        (v, None, r#"{"Name":"v","DriverOpts":{"o":"rw,rbind","device":"/srv/ci/v"}}"#, ci, Ambiguous),
        (v, None, r#"{"Name":"v","DriverOpts":{"o":"bind","device":"/srv/ci/../../etc"}}"#, ci, Ambiguous),
        (v, None, r#"{"Name":"v","DriverOpts":{"o":"bind","o":"ro","device":"/"}}"#, NONE, Ambiguous),
        (v, None, r#"{"Name":"v","driveropts":{"type":"none","o":"bind","device":"/"}}"#, NONE, Forbidden("DriverOpts.device")),
        (v, None, r#"{"Name":"v","DriverOpts":{"type":"ext4","device":"/dev/sda1"}}"#, r#"volume_types = ["ext4"]"#, Forbidden("DriverOpts.device")),
        (v, None, r#"{"Name":"v","DriverOpts":{"type":"ext4","device":"/dev/sda1"}}"#, r#"devices = ["/dev/sda1"]"#, Forbidden("DriverOpts.type")),
        (v, None, r#"{"Name":"v","DriverOpts":{"type":"ext4","device":"/dev/sda1"}}"#, "devices = [\"/dev/sda1\"]\nvolume_types = [\"ext4\"]", Ok),
        (v, None, r#"{"Name":"v","DriverOpts":{"type":"nfs","o":"addr=10.0.0.1","device":":/export"}}"#, NONE, Forbidden("DriverOpts")),
        (v, None, r#"{"Name":"v","DriverOpts":{"type":"overlay","o":"lowerdir=/etc,upperdir=/u,workdir=/w","device":"overlay"}}"#, NONE, Forbidden("DriverOpts")),
        (v, None, r#"{"Name":"v","DriverOpts":{"type":"nfs","o":"addr=10.0.0.1","device":":/export"}}"#, "volume_mount_options = true", Ok),
        (v, None, r#"{"Name":"v","DriverOpts":{"type":"tmpfs","o":"size=100m","device":"tmpfs"}}"#, NONE, Ok),
        (v, None, r#"{"Name":"v","Driver":"sshfs","DriverOpts":{"o":"bind","device":"/"}}"#, NONE, Ok),
        (v, None, r#"{"Name":"v","DriverOpts":{"device":7}}"#, NONE, Ambiguous),
        (v, None, r#"{"Driver":"local","driver":"sshfs"}"#, NONE, Ambiguous),
    ]);
}

#[test]
fn volume_options_grammar() {
    let v = Endpoint::VolumeCreate;
    let ro = r#"read_only_bind_mounts = ["/srv/x/**"]"#;
    let rw = r#"bind_mounts = ["/srv/x/**"]"#;
    let nfs = r#"volume_types = ["nfs"]"#;
    let any = "volume_mount_options = true";
    let rw_overlay = "bind_mounts = [\"/srv/x/**\"]\nvolume_types = [\"overlay\"]";
    let ro_overlay = "read_only_bind_mounts = [\"/srv/x/**\"]\nvolume_types = [\"overlay\"]";
    let body = |opts: &str| format!(r#"{{"Name":"v","DriverOpts":{opts}}}"#);
    let rows: Vec<(String, &str, Want)> = vec![
        // Read-only only when `ro` is the last word on MS_RDONLY.
        (body(r#"{"type":"none","o":"bind,ro","device":"/srv/x/a"}"#), ro, Ok),
        (body(r#"{"type":"none","o":"ro,bind","device":"/srv/x/a"}"#), ro, Ok),
        (body(r#"{"type":"none","o":"rbind,ro","device":"/srv/x/a"}"#), ro, Forbidden("DriverOpts.device")),
        (body(r#"{"type":"none","o":"bind,ro","device":"/srv/x/a"}"#), ro, Ok),
        (body(r#"{"type":"none","o":"bind,,ro","device":"/srv/x/a"}"#), ro, Ok),
        (body(r#"{"type":"none","o":"bind,rw,ro","device":"/srv/x/a"}"#), ro, Ok),
        (body(r#"{"type":"none","o":"bind,ro,rw","device":"/srv/x/a"}"#), ro, Forbidden("DriverOpts.device")),
        (body(r#"{"type":"none","o":"bind,ro,rw","device":"/srv/x/a"}"#), rw, Ok),
        (body(r#"{"type":"none","o":"bind","device":"/srv/x/a"}"#), ro, Forbidden("DriverOpts.device")),
        (body(r#"{"type":"none","o":"rbind","device":"/srv/x/a"}"#), ro, Forbidden("DriverOpts.device")),
        (body(r#"{"type":"none","o":"rbind","device":"/"}"#), rw, Forbidden("DriverOpts.device")),
        // Case and spacing: not flags, so data for a new mount of type "none", never granted.
        (body(r#"{"type":"none","o":"BIND,ro","device":"/srv/x/a"}"#), ro, Forbidden("DriverOpts.type")),
        (body(r#"{"type":"none","o":" bind,ro","device":"/srv/x/a"}"#), ro, Forbidden("DriverOpts.type")),
        (body(r#"{"type":"none","o":"bind ,ro","device":"/srv/x/a"}"#), rw, Forbidden("DriverOpts.type")),
        // A remount never takes the bind path.
        (body(r#"{"type":"none","o":"bind,remount","device":"/srv/x/a"}"#), rw, Forbidden("DriverOpts.o")),
        (body(r#"{"type":"none","o":"bind,remount","device":"/srv/x/a"}"#), any, Ok),
        // Keys: exactly the local driver's four, each with what it needs.
        (body(r#"{"Type":"none","o":"bind","device":"/srv/x/a"}"#), rw, Ambiguous),
        (body(r#"{"type":"none","O":"bind","device":"/srv/x/a"}"#), rw, Ambiguous),
        (body(r#"{"type":"none","o":"bind","device":"/srv/x/a","uid":"0"}"#), rw, Ambiguous),
        (body(r#"{"type":"tmpfs","o":"size=1m"}"#), NONE, Ambiguous),
        (body(r#"{"size":"10m"}"#), NONE, Ok),
        (body(r#"{"type":"none","device":"/srv/x/a","size":"1g"}"#), NONE, Forbidden("DriverOpts.type")),
        (body(r#"{"type":"none","o":"bind","device":"/srv/x/a","type":"none"}"#), rw, Ambiguous),
        (body(r#"{"type":"none","o":"bind","device":null}"#), NONE, Ok),
        // Filesystem types, matched exactly.
        (body(r#"{"type":"tmpfs","o":"size=10m,uid=1000","device":"tmpfs"}"#), NONE, Ok),
        (body(r#"{"type":"tmpfs","o":"mode=1777,mpol=x/y","device":"tmpfs"}"#), NONE, Forbidden("DriverOpts.o")),
        (body(r#"{"type":"nfs","o":"addr=10.0.0.1,rw","device":":/export"}"#), NONE, Forbidden("DriverOpts.type")),
        (body(r#"{"type":"nfs","o":"addr=10.0.0.1,rw","device":":/export"}"#), nfs, Ok),
        (body(r#"{"type":"NFS","o":"addr=10.0.0.1","device":":/export"}"#), nfs, Forbidden("DriverOpts.type")),
        (body(r#"{"type":"nfs4","o":"addr=10.0.0.1","device":":/export"}"#), nfs, Forbidden("DriverOpts.type")),
        (body(r#"{"type":"nfs","o":"addr=10.0.0.1","device":":/export"}"#), any, Ok),
        (body(r#"{"type":"proc","device":"proc"}"#), NONE, Forbidden("DriverOpts.type")),
        (body(r#"{"type":"proc","device":"/dev/sda1"}"#), r#"devices = ["/dev/sda1"]"#, Forbidden("DriverOpts.type")),
        (body(r#"{"type":"sysfs","device":"sysfs"}"#), NONE, Forbidden("DriverOpts.type")),
        (body(r#"{"type":"cgroup","o":"release_agent=/tmp/x","device":"cgroup"}"#), r#"volume_types = ["cgroup"]"#, Forbidden("DriverOpts.o")),
        // Block devices need the type and the device.
        (body(r#"{"type":"ext4","device":"/dev/sda1"}"#), r#"devices = ["/dev/sda1"]"#, Forbidden("DriverOpts.type")),
        (body(r#"{"type":"ext4","device":"/dev/sda1"}"#), r#"devices = ["/dev/sda1"]
volume_types = ["ext4"]"#, Ok),
        (body(r#"{"type":"ext4","device":"/dev/sda2"}"#), r#"devices = ["/dev/sda1"]
volume_types = ["ext4"]"#, Forbidden("DriverOpts.device")),
        (body(r#"{"type":"ext4","device":"dev/sda1"}"#), r#"devices = ["/dev/sda1"]
volume_types = ["ext4"]"#, Ambiguous),
        (body(r#"{"type":"ext4","o":"journal_path=/dev/sdb","device":"/dev/sda1"}"#), r#"devices = ["/dev/sda1"]
volume_types = ["ext4"]"#, Forbidden("DriverOpts.o (journal_path)")),
        // Host paths in overlay data.
        (body(r#"{"type":"overlay","o":"lowerdir=/srv/x/l1:/srv/x/l2,upperdir=/srv/x/u,workdir=/srv/x/w","device":"overlay"}"#), rw_overlay, Ok),
        (body(r#"{"type":"overlay","o":"lowerdir=/srv/x/l1:/etc","device":"overlay"}"#), rw_overlay, Forbidden("DriverOpts.o (lowerdir)")),
        (body(r#"{"type":"overlay","o":"lowerdir=/srv/x/l,upperdir=/srv/x/u,workdir=/srv/x/w","device":"overlay"}"#), ro_overlay, Forbidden("DriverOpts.o (upperdir)")),
        (body(r#"{"type":"overlay","o":"lowerdir=/srv/x/l","device":"overlay"}"#), ro_overlay, Ok),
        (body(r#"{"type":"overlay","o":"lowerdir=/etc,upperdir=/u,workdir=/w","device":"overlay"}"#), any, Forbidden("DriverOpts.o (lowerdir)")),
        (body(r#"{"type":"overlay","o":"lowerdir=/srv/x/a\\:b","device":"overlay"}"#), rw_overlay, Ambiguous),
        (body(r#"{"type":"overlay","o":"lowerdir=relative","device":"overlay"}"#), rw_overlay, Ambiguous),
        (body(r#"{"type":"overlay","o":"lowerdir=/srv/x/../../etc","device":"overlay"}"#), rw_overlay, Ambiguous),
    ];
    run_bodies(v, &rows);
    // The same options on a volume `Mounts` entry of a container.
    run(&[
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"bind,ro,rw","device":"/srv/x/a"}}}}]}}"#, ro, Forbidden("HostConfig.Mounts.VolumeOptions.DriverConfig.Options.device")),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"bind,ro","device":"/srv/x/a"}}}}]}}"#, ro, Ok),
        (C, None, r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"NFS","o":"addr=1.2.3.4","device":":/e"}}}}]}}"#, nfs, Forbidden("HostConfig.Mounts.VolumeOptions.DriverConfig.Options.type")),
    ]);
}

#[test]
fn binds_grammar() {
    let rw = r#"bind_mounts = ["/srv/x/**"]"#;
    let ro = r#"read_only_bind_mounts = ["/srv/x/**"]"#;
    let bind = |spec: &str| format!(r#"{{"HostConfig":{{"Binds":["{spec}"]}}}}"#);
    let rows: Vec<(String, &str, Want)> = vec![
        // Binds are recursive: `:ro` needs the read-write grant (see binds_and_mounts).
        (bind("/srv/x/a:/a:ro"), ro, Forbidden("HostConfig.Binds")),
        (bind("/srv/x/a:/a:ro"), rw, Ok),
        (bind("/srv/x/a:/a:ro,rslave"), rw, Ok),
        (bind("/srv/x/a:/a:nocopy,ro"), rw, Ok),
        (bind("/srv/x/a:/a:rw"), ro, Forbidden("HostConfig.Binds")),
        (bind("/srv/x/a:/a:"), ro, Forbidden("HostConfig.Binds")),
        (bind("/srv/x/a:/a:ro,rw"), rw, Ambiguous),
        (bind("/srv/x/a:/a:ro,ro"), rw, Ambiguous),
        (bind("/srv/x/a:/a:RO"), ro, Ambiguous),
        (bind("/srv/x/a:/a: ro"), ro, Ambiguous),
        (bind("/srv/x/a:/a:ro,"), ro, Ambiguous),
        (bind("/srv/x/a:/a:bind"), rw, Ambiguous),
        (bind("/srv/x/a:ro"), rw, Ambiguous),
        (bind(":/a"), NONE, Ambiguous),
        (bind("vol:/a:z"), NONE, Ok),
        (bind("vol:/a:bogus"), NONE, Ambiguous),
    ];
    run_bodies(C, &rows);
}

#[test]
fn security_opt_grammar() {
    let so = "security_opt = true";
    let opt = |o: &str| format!(r#"{{"HostConfig":{{"SecurityOpt":["{o}"]}}}}"#);
    let rows: Vec<(String, &str, Want)> = vec![
        (opt("no-new-privileges:1"), NONE, Ok),
        (opt("apparmor:docker-default"), NONE, Ok),
        (opt("no-new-privileges=false"), NONE, Forbidden("HostConfig.SecurityOpt")),
        (opt("no-new-privileges=false"), so, Ok),
        (opt("no-new-privileges=yes"), so, Ambiguous),
        (opt("no-new-privileges="), so, Ambiguous),
        (opt("disable"), NONE, Forbidden("HostConfig.SecurityOpt")),
        (opt("label:disable"), NONE, Forbidden("HostConfig.SecurityOpt")),
        (opt("seccomp:unconfined"), NONE, Forbidden("HostConfig.SecurityOpt")),
        (opt("apparmor=unconfined"), NONE, Forbidden("HostConfig.SecurityOpt")),
        (opt("writable-cgroups"), NONE, Forbidden("HostConfig.SecurityOpt")),
        (opt("systempaths=unconfined"), NONE, Forbidden("HostConfig.SecurityOpt")),
        (opt("Seccomp=unconfined"), NONE, Forbidden("HostConfig.SecurityOpt")),
        (opt("unconfined"), so, Ambiguous),
        (opt(""), NONE, Ambiguous),
    ];
    run_bodies(C, &rows);
}

#[test]
fn device_permissions() {
    let sda = r#"devices = ["/dev/sda"]"#;
    run(&[
        (C, None, r#"{"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda","CgroupPermissions":"rwm"}]}}"#, sda, Ok),
        (C, None, r#"{"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda","CgroupPermissions":"r"}]}}"#, sda, Ok),
        (C, None, r#"{"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda","CgroupPermissions":""}]}}"#, sda, Ok),
        (C, None, r#"{"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda","CgroupPermissions":"rwmx"}]}}"#, sda, Ambiguous),
        (C, None, r#"{"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda","CgroupPermissions":"rw\na *:* rwm"}]}}"#, sda, Ambiguous),
        (C, None, r#"{"HostConfig":{"Devices":[{"PathOnHost":"dev/sda"}]}}"#, sda, Ambiguous),
        (C, None, r#"{"HostConfig":{"Devices":[{"PathOnHost":"//dev/./sda"}]}}"#, sda, Ok),
        (C, None, r#"{"HostConfig":{"Devices":[{"PathOnHost":"/dev"}]}}"#, sda, Forbidden("HostConfig.Devices.PathOnHost")),
    ]);
}

#[test]
fn log_config() {
    let syslog = r#"log_drivers = ["syslog"]"#;
    let lc = |v: &str| format!(r#"{{"HostConfig":{{"LogConfig":{v}}}}}"#);
    let rows: Vec<(String, &str, Want)> = vec![
        (lc(r#"{"Type":"json-file","Config":{"max-size":"10m","max-file":"3"}}"#), NONE, Ok),
        (lc(r#"{"Type":"local"}"#), NONE, Ok),
        (lc(r#"{"Type":"journald","Config":{"tag":"x"}}"#), NONE, Ok),
        (lc(r#"{"Type":"none"}"#), NONE, Ok),
        (lc(r#"{"Type":"","Config":{"max-size":"1m"}}"#), NONE, Ok),
        (lc(r#"{"Type":"syslog"}"#), NONE, Forbidden("HostConfig.LogConfig.Type")),
        (lc(r#"{"Type":"syslog","Config":{"syslog-address":"unix:///var/run/docker.sock"}}"#), syslog, Ok),
        (lc(r#"{"Type":"Syslog"}"#), syslog, Forbidden("HostConfig.LogConfig.Type")),
        (lc(r#"{"Type":"gelf","Config":{"gelf-address":"udp://1.2.3.4:12201"}}"#), syslog, Forbidden("HostConfig.LogConfig.Type")),
        (lc(r#"{"Type":"my/plugin:1"}"#), NONE, Forbidden("HostConfig.LogConfig.Type")),
        // The daemon's default driver may be a network one: its address options need a named driver.
        (lc(r#"{"Config":{"syslog-address":"tcp://10.0.0.1:514"}}"#), syslog, Forbidden("HostConfig.LogConfig.Config")),
        (lc(r#"{"Type":"json-file","Config":{"syslog-address":"unix:///x"}}"#), NONE, Forbidden("HostConfig.LogConfig.Config")),
        (lc(r#"{"Type":"json-file","Config":{"max-size":1}}"#), NONE, Ambiguous),
        (lc(r#"{"Type":"json-file","type":"syslog"}"#), syslog, Ambiguous),
        (r#"{"LogConfig":{"Type":"syslog"}}"#.to_owned(), NONE, Forbidden("LogConfig.Type")),
        (r#"{"logconfig":{"type":"fluentd"}}"#.to_owned(), NONE, Forbidden("LogConfig.Type")),
    ];
    run_bodies(C, &rows);
    // Legacy start bodies are the create wrapper: top-level and nested host fields.
    run(&[
        (Endpoint::ContainerStart, None, r#"{"LogConfig":{"Type":"syslog"}}"#, NONE, Forbidden("LogConfig.Type")),
        (Endpoint::ContainerStart, None, r#"{"HostConfig":{"LogConfig":{"Type":"syslog"}}}"#, NONE, Forbidden("HostConfig.LogConfig.Type")),
        (Endpoint::ContainerStart, None, r#"{"LogConfig":{"Type":"syslog"}}"#, syslog, Ok),
    ]);
}

#[test]
fn build_query() {
    let b = Endpoint::Build;
    run(&[
        (b, None, "", NONE, Ok),
        (b, Some("t=app&networkmode=default"), "", NONE, Ok),
        (b, Some("networkmode=host"), "", NONE, Forbidden("networkmode")),
        (b, Some("networkmode=host"), "", r#"host_namespaces = ["network"]"#, Ok),
        (b, Some("networ%6Bmode=hos%74"), "", NONE, Forbidden("networkmode")),
        (b, Some("networkmode=container:abc"), "", NONE, Forbidden("networkmode")),
        (b, Some("NetworkMode="), "", NONE, Ok),
        (b, Some("networkmode=bridge&networkmode=host"), "", NONE, Ambiguous),
        (b, Some("t=a;networkmode=host"), "", NONE, Ambiguous),
        (b, Some("networkmode=%zz"), "", NONE, Ambiguous),
        (b, Some("cgroupparent=/x"), "", NONE, Forbidden("cgroupparent")),
        (b, Some("cgroupparent="), "", NONE, Ok),
        (b, Some("cgroupparent=/x"), "", "cgroup_parent = true", Ok),
        (b, Some("t=a&t=b"), "", NONE, Ok),
    ]);
}

#[test]
fn grant_only_endpoints() {
    use Endpoint::*;
    for (endpoint, grant) in [
        (PluginInstall, "plugins = true"),
        (PluginUpgrade, "plugins = true"),
        (PluginCreate, "plugins = true"),
        (PluginSet, "plugins = true"),
        (ServiceCreate, "swarm_services = true"),
        (ServiceUpdate, "swarm_services = true"),
        (BuildKit, "buildkit = true"),
    ] {
        let refused = judge(endpoint, None, b"", &Grants::none()).unwrap_err();
        assert!(matches!(refused, Refusal::Forbidden { .. }), "{endpoint:?}");
        assert!(refused.to_string().contains(grant), "{endpoint:?}: {refused}");
        assert!(judge(endpoint, None, b"", &grants(grant)).is_ok(), "{endpoint:?}");
    }
}

#[test]
fn refusals_name_field_and_grant() {
    let refused = judge(C, None, br#"{"HostConfig":{"Privileged":true}}"#, &Grants::none())
        .unwrap_err();
    assert_eq!(
        refused,
        Refusal::Forbidden {
            field: "HostConfig.Privileged".into(),
            needs: "privileged = true".into()
        }
    );
}

/// Spells `name` as a client trying to slip past the inspector might: any case, `ſ` for `s`,
/// the Kelvin sign for `k`, any character as a `\u` escape. Go matches every such spelling.
fn disguise(name: &str, choices: &[u8]) -> String {
    name.chars()
        .zip(choices.iter().cycle())
        .map(|(c, &choice)| {
            let c = match (c.to_ascii_lowercase(), choice % 4) {
                ('s', 0) => '\u{017F}',
                ('k', 0) => '\u{212A}',
                (_, 1) => c.to_ascii_lowercase(),
                (_, 2) => c.to_ascii_uppercase(),
                _ => c,
            };
            if choice >= 128 {
                format!("\\u{:04x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

proptest::proptest! {
    #[test]
    fn disguised_field_names_are_seen(
        choices in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..32),
        field in proptest::sample::select(vec![
            ("Privileged", "true"),
            ("Sysctls", r#"{"kernel.x":"1"}"#),
            ("CapAdd", r#"["SYS_ADMIN"]"#),
            ("NetworkMode", r#""host""#),
            ("Binds", r#"["/:/h"]"#),
            ("SecurityOpt", r#"["seccomp=unconfined"]"#),
            ("CgroupParent", r#""x""#),
            ("Devices", r#"[{"PathOnHost":"/dev/sda"}]"#),
        ]),
        nested in proptest::prelude::any::<bool>(),
    ) {
        let key = disguise(field.0, &choices);
        let body = if nested {
            format!(r#"{{"{}":{{"{key}":{}}}}}"#, disguise("HostConfig", &choices), field.1)
        } else {
            format!(r#"{{"{key}":{}}}"#, field.1)
        };
        let got = judge(C, None, body.as_bytes(), &Grants::none());
        let forbidden = matches!(&got, Err(Refusal::Forbidden { .. }));
        proptest::prop_assert!(forbidden, "{} -> {:?}", body, got);
    }

    #[test]
    fn disguised_duplicates_are_ambiguous(
        choices in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..32),
    ) {
        let body = format!(
            r#"{{"HostConfig":{{"Privileged":false,"{}":true}}}}"#,
            disguise("Privileged", &choices)
        );
        let got = judge(C, None, body.as_bytes(), &Grants::none());
        proptest::prop_assert!(matches!(got, Err(Refusal::Ambiguous(_))), "{}", body);
    }

    #[test]
    fn strings_round_trip(text in ".*") {
        let encoded = serde_json::to_string(&text).expect("encode");
        let parsed = json::parse(encoded.as_bytes());
        proptest::prop_assert_eq!(parsed, Result::Ok(json::Value::String(text)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let _ = judge(C, None, &bytes, &Grants::none());
        let _ = judge(Endpoint::VolumeCreate, None, &bytes, &Grants::none());
    }
}

#[test]
fn fields_that_reach_past_other_grants() {
    let ro = r#"read_only_bind_mounts = ["/srv/ro/**"]"#;
    let rw = r#"bind_mounts = ["/srv/ro/**"]"#;
    let mount = |options: &str| format!(r#"{{"HostConfig":{{"Mounts":[{{"Type":"bind","Source":"/srv/ro/x","Target":"/x","ReadOnly":true{options}}}]}}}}"#);
    let rows = [
        (mount(""), ro, Forbidden("HostConfig.Mounts.Source")),
        (mount(r#","BindOptions":null"#), ro, Forbidden("HostConfig.Mounts.Source")),
        (mount(r#","BindOptions":{"NonRecursive":true}"#), ro, Ok),
        (mount(r#","BindOptions":{"NonRecursive":true,"Propagation":"rprivate"}"#), ro, Ok),
        // Submounts stay writable, and a missing source is created on the host.
        (mount(r#","BindOptions":{"ReadOnlyNonRecursive":true}"#), ro, Forbidden("HostConfig.Mounts.Source")),
        (mount(r#","BindOptions":{"ReadOnlyNonRecursive":true}"#), rw, Ok),
        (mount(r#","BindOptions":{"NonRecursive":true,"CreateMountpoint":true}"#), ro, Forbidden("HostConfig.Mounts.Source")),
        (mount(r#","BindOptions":{"CreateMountpoint":true}"#), rw, Ok),
        (r#"{"HostConfig":{"InitPath":"/usr/bin/evil"}}"#.to_owned(), NONE, Forbidden("HostConfig.InitPath")),
        (r#"{"InitPath":"/usr/bin/evil"}"#.to_owned(), NONE, Forbidden("InitPath")),
        (r#"{"HostConfig":{"InitPath":""}}"#.to_owned(), NONE, Ok),
        (r#"{"HostConfig":{"InitPath":"/x"}}"#.to_owned(), "privileged = true", Ok),
        (r#"{"HostConfig":{"LxcConf":[{"Key":"lxc.aa_profile","Value":"unconfined"}]}}"#.to_owned(), NONE, Forbidden("HostConfig.LxcConf")),
        (r#"{"HostConfig":{"Annotations":{"run.oci.hooks":"x"}}}"#.to_owned(), NONE, Forbidden("HostConfig.Annotations")),
        (r#"{"HostConfig":{"Annotations":{}}}"#.to_owned(), NONE, Ok),
        (r#"{"HostConfig":{"Annotations":{"a":"b"}}}"#.to_owned(), "security_opt = true", Ok),
        (r#"{"NetworkingConfig":{"EndpointsConfig":{"n":{"DriverOpts":{"com.docker.network.endpoint.sysctls":"net.ipv4.conf.IFNAME.forwarding=1"}}}}}"#.to_owned(), NONE, Forbidden("NetworkingConfig.EndpointsConfig.n.DriverOpts.com.docker.network.endpoint.sysctls (net.ipv4.conf.IFNAME.forwarding)")),
        (r#"{"NetworkingConfig":{"EndpointsConfig":{"n":{"DriverOpts":{"com.docker.network.endpoint.sysctls":"net.ipv4.conf.IFNAME.forwarding=1"}}}}}"#.to_owned(), r#"sysctls = ["net.ipv4.conf.*.forwarding"]"#, Ok),
        (r#"{"NetworkingConfig":{"EndpointsConfig":{"n":{"DriverOpts":{"other":"x"}}}}}"#.to_owned(), NONE, Ok),
        (r#"{"NetworkingConfig":{"EndpointsConfig":{"n":null}}}"#.to_owned(), NONE, Ok),
    ];
    for (body, granted, want) in rows {
        run(&[(C, None, Box::leak(body.into_boxed_str()), granted, want)]);
    }
    let v = Endpoint::VolumeCreate;
    run(&[
        (v, None, r#"{"Name":"v","ClusterVolumeSpec":{"Group":"g"}}"#, NONE, Forbidden("ClusterVolumeSpec")),
        (v, None, r#"{"Name":"v","ClusterVolumeSpec":{"Group":"g"}}"#, "swarm = true", Ok),
        (v, None, r#"{"Name":"v","ClusterVolumeSpec":null}"#, NONE, Ok),
    ]);
}
