//! The request inspector: decides, from exactly the bytes the Engine will receive, whether a
//! request asks for host access that the client's policy has not granted.
//!
//! An allow rule says a client may call `POST /containers/create`; the inspector makes sure
//! that call cannot mount `/`, run privileged or join a host namespace unless the policy's
//! grants say so. The judge ([`crate::request::judge`]) chooses what to inspect from the route the
//! Engine's router will run, whichever rule matched, and it is secure by default: nothing is
//! granted unless written down.
//!
//! # Reading bodies as the Engine does
//! Bodies are read by [`json`], which keeps every key and matches struct fields with Go's
//! case folding. Anything the Engine might read differently from us is refused with 400
//! ([`Refusal::Ambiguous`]): two keys folding to a field we read (`HostConfig` twice,
//! `Privileged` and `privileged`), wrong types, invalid UTF-8, lone surrogates, trailing data,
//! nesting deeper than 64. Content-Type is ignored.
//!
//! # Fields dockgate does not know
//! The rules below name the fields known to reach the host; any other field would pass them
//! unread. So every body is first checked by [`schema`] against the fields the Engine decodes
//! for it, the union over every API version from 1.12 (Engine 1.0) to the newest, embedded
//! structs flattened as Go flattens them and keys matched with Go's folding. A member that is
//! no known field is refused with 403 ([`Refusal::UnknownField`]) unless it is `null`, `false`,
//! a zero number, `""`, `[]` or `{}`; a known field of a JSON type Go would not decode is
//! refused with 400. Map-typed fields (`Labels`, `Sysctls`, `LogConfig.Config`,
//! `EndpointsConfig`...) take any key. The build query is held to the parameters the Engine's
//! build route reads; another key passes only with an empty value.
//!
//! # Grants (`[policies.NAME.grants]`, every key optional)
//! | key | default | allows |
//! |---|---|---|
//! | `privileged` | `false` | `HostConfig.Privileged`, privileged exec |
//! | `bind_mounts` | `[]` | bind mounts (`Binds` with an absolute source, `Mounts` of type `bind`, local volumes with `o=bind`/`rbind`, overlay `upperdir`/`workdir`) of host paths matching these absolute globs; `*` stays within a component, `**` crosses `/`, `/dir/**` also matches `/dir` |
//! | `read_only_bind_mounts` | `[]` | as `bind_mounts`, but only for mounts the Engine makes read-only all the way down: `ReadOnly: true` with `BindOptions.NonRecursive`, `o=bind,ro` where `ro` is the last of `ro`/`rw` (not `rbind`), overlay `lowerdir`. A `:ro` bind, a recursive `ReadOnly` mount and `o=rbind,ro` leave filesystems mounted below the source writable and need `bind_mounts` |
//! | `capabilities` | `[]` | `CapAdd` entries; case-insensitive, `CAP_` optional; `"ALL"` allows every one |
//! | `host_namespaces` | `[]` | `host` mode for `"network"`, `"pid"`, `"ipc"`, `"uts"`, `"userns"`, `"cgroupns"` (`NetworkMode`, `PidMode`, `IpcMode`, `UTSMode`, `UsernsMode`, `CgroupnsMode`/`Cgroup`; build `networkmode`; the `host` endpoint in `NetworkingConfig`) |
//! | `container_namespaces` | `[]` | joining another container's namespace, `container:<id>`, for `"network"`, `"pid"`, `"ipc"`, `"uts"`, `"cgroup"`; `"links"` for legacy `Links`, which also copy the other container's environment in |
//! | `devices` | `[]` | `Devices[].PathOnHost` (a directory brings every device below it) and the block devices of local volumes (`device`, `journal_path=`, `logdev=`...), matching these absolute globs |
//! | `device_requests` | `false` | non-empty `DeviceRequests` (GPUs) |
//! | `device_cgroup_rules` | `false` | non-empty `DeviceCgroupRules` |
//! | `security_opt` | `false` | any well-formed `SecurityOpt` except `no-new-privileges[=true]` and `apparmor=docker-default` (which always pass; `:` works as `=`, as in the Engine); any `MaskedPaths`/`ReadonlyPaths` list (it replaces the defaults) |
//! | `sysctls` | `[]` | `Sysctls` keys matching these globs (`/` in keys read as `.`) |
//! | `cgroup_parent` | `false` | non-empty `CgroupParent`; build `cgroupparent` |
//! | `runtimes` | `[]` | `Runtime` values besides `""` and `"runc"` |
//! | `volumes_from` | `false` | non-empty `VolumesFrom` |
//! | `volume_types` | `[]` | local-driver volumes of these filesystem `type`s, matched exactly (`"nfs"` does not allow `"NFS"` or `"nfs4"`); `tmpfs` needs no grant; host paths in `device` and `o` still need their own grant |
//! | `volume_mount_options` | `false` | local-driver volumes of any `type`, `remount`, and `o` data options the inspector does not know that contain a `/` (host paths it knows, such as overlay's `lowerdir`, still need their grant) |
//! | `log_drivers` | `[]` | `LogConfig.Type` values besides `json-file`, `local`, `journald`, `none` and `""`, by exact name, with any options (these drivers connect out from the host); without it, local and default drivers get only options that name no address or path |
//! | `plugins` | `false` | plugin pull, upgrade, create and set (plugins run with the host privileges they ask for) |
//! | `swarm_services` | `false` | service create and update: a task template is not inspected, so it is all or nothing |
//! | `buildkit` | `false` | `POST /grpc`, BuildKit's API, which can ask for the `network.host` entitlement uninspected (`POST /session`, with which the Engine calls into the client, needs no grant) |
//! | `swarm` | `false` | swarm init, join, leave, update and unlock, node update and removal, cluster volume updates |
//! | `checkpoints` | `false` | the checkpoint routes, and start with `checkpoint`/`checkpoint-dir` (a host directory to restore from) |
//! | `unknown_routes` | `false` | requests whose method and path no route of the Engine's route table matches ([`crate::request::judge::route`]) |
//!
//! # Known limits
//! The gateway cannot see the host's filesystem: a symlink inside a granted tree that a
//! container can write (e.g. `/srv/ci/evil -> /`) escapes the grant. Grant only trees clients
//! cannot write to, or grant them read-only.
//!
//! # Layout
//! - [`endpoint`]: which requests are inspected.
//! - [`crate::config::grants`]: raw and compiled grants, part of the configuration.
//! - [`json`]: the Go-compatible JSON reader.
//! - [`container`]: HostConfig rules (create, start, update, exec).
//! - [`volume`]: local-driver volume options.
//! - [`options`]: the Engine's option-string grammars (mount flags, `Binds`, `SecurityOpt`,
//!   devices, `LogConfig`).
//! - [`schema`]: the fields each body may hold.
//! - [`build_query`]: the build query.
//! - [`host_path`]: cleaning and matching host paths.
//! - [`refusal`]: the verdict.

pub mod build_query;
pub mod container;
pub mod endpoint;
pub mod host_path;
pub mod json;
pub mod options;
pub mod refusal;
pub mod schema;
pub mod top_query;
pub mod volume;

#[cfg(test)]
#[rustfmt::skip]
mod tests;

use crate::config::grants::Grants;
pub use endpoint::Endpoint;
pub use refusal::Refusal;

/// Judges one request. `query` is the raw query string (without `?`), `body` the complete body
/// exactly as it will be forwarded (empty for endpoints whose [`Endpoint::reads_body`] is false).
pub fn judge(
    endpoint: Endpoint,
    query: Option<&str>,
    body: &[u8],
    grants: &Grants,
) -> Result<(), Refusal> {
    let only_if = |granted: bool, field: &str, needs: &str| {
        if granted {
            Ok(())
        } else {
            Err(Refusal::forbidden(field, needs))
        }
    };
    match endpoint {
        Endpoint::ContainerCreate => container::judge_create(body, grants),
        Endpoint::ContainerStart => container::judge_start(query, body, grants),
        Endpoint::ContainerUpdate => container::judge_update(body, grants),
        Endpoint::ExecCreate => container::judge_exec(body, grants),
        Endpoint::VolumeCreate => volume::judge_create(body, grants),
        Endpoint::Build => build_query::judge(query, grants),
        Endpoint::ContainerTop => top_query::judge(query),
        Endpoint::BuildKit => only_if(grants.buildkit, "BuildKit session", "buildkit = true"),
        Endpoint::PluginInstall
        | Endpoint::PluginUpgrade
        | Endpoint::PluginCreate
        | Endpoint::PluginSet => only_if(grants.plugins, "plugin installation", "plugins = true"),
        Endpoint::ServiceCreate | Endpoint::ServiceUpdate => only_if(
            grants.swarm_services,
            "swarm service",
            "swarm_services = true",
        ),
        Endpoint::SwarmMembership => only_if(
            grants.swarm,
            "swarm membership or cluster change",
            "swarm = true",
        ),
        Endpoint::Checkpoint => only_if(
            grants.checkpoints,
            "container checkpoint",
            "checkpoints = true",
        ),
    }
}
