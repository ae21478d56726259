//! Which Engine requests carry a body or query that can grant access to the host.
//!
//! Everything not listed here passes the inspector untouched; whether it may be called at all
//! is the policy rules' business.

use hyper::Method;

/// A request the inspector must judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /containers/create`: a container config with its HostConfig.
    ContainerCreate,
    /// `POST /containers/{id}/start`: API < 1.24 applies a HostConfig body at start.
    ContainerStart,
    /// `POST /containers/{id}/update`: resource limits, including devices and cgroup parent.
    ContainerUpdate,
    /// `POST /containers/{id}/exec`: may ask for a privileged exec.
    ExecCreate,
    /// `POST /volumes/create`: local-driver options mount host paths and devices.
    VolumeCreate,
    /// `POST /build`: query parameters choose the build containers' network and cgroup.
    Build,
    /// `POST /grpc`: BuildKit's gRPC API, which can request the `network.host` entitlement
    /// and cannot be inspected here.
    BuildKit,
    /// `POST /plugins/pull`: plugins run with the host privileges they request.
    PluginInstall,
    /// `POST /plugins/{name}/upgrade`.
    PluginUpgrade,
    /// `POST /plugins/create`: the body is a plugin rootfs tar.
    PluginCreate,
    /// `POST /plugins/{name}/set`: can change a plugin's mount sources and device paths.
    PluginSet,
    /// `POST /services/create`: a swarm task template runs containers on any node.
    ServiceCreate,
    /// `POST /services/{id}/update`.
    ServiceUpdate,
}

impl Endpoint {
    /// Every inspected endpoint.
    pub const ALL: [Endpoint; 13] = [
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

    /// Whether the gateway must buffer the whole body before calling `judge`. Build and plugin
    /// create bodies are tar streams and pass untouched; endpoints refused on their grant alone
    /// do not need their body either.
    pub fn reads_body(&self) -> bool {
        matches!(
            self,
            Endpoint::ContainerCreate
                | Endpoint::ContainerStart
                | Endpoint::ContainerUpdate
                | Endpoint::ExecCreate
                | Endpoint::VolumeCreate
        )
    }
}

/// The endpoint `path` (canonical, API version prefix stripped) belongs to, if it is inspected.
pub fn endpoint(method: &Method, path: &str) -> Option<Endpoint> {
    if method != Method::POST {
        return None;
    }
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let id = |s: &str| !s.is_empty();
    match segments.as_slice() {
        ["containers", "create"] => Some(Endpoint::ContainerCreate),
        ["containers", c, "start"] if id(c) => Some(Endpoint::ContainerStart),
        ["containers", c, "update"] if id(c) => Some(Endpoint::ContainerUpdate),
        ["containers", c, "exec"] if id(c) => Some(Endpoint::ExecCreate),
        ["volumes", "create"] => Some(Endpoint::VolumeCreate),
        ["build"] => Some(Endpoint::Build),
        ["grpc"] => Some(Endpoint::BuildKit),
        ["plugins", "pull"] => Some(Endpoint::PluginInstall),
        ["plugins", "create"] => Some(Endpoint::PluginCreate),
        // Plugin names contain '/' (`vieux/sshfs:latest`), so only the last segment is fixed.
        ["plugins", name @ .., "upgrade"] if !name.is_empty() => Some(Endpoint::PluginUpgrade),
        ["plugins", name @ .., "set"] if !name.is_empty() => Some(Endpoint::PluginSet),
        ["services", "create"] => Some(Endpoint::ServiceCreate),
        ["services", s, "update"] if id(s) => Some(Endpoint::ServiceUpdate),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let post = Method::POST;
        let cases = [
            (&post, "/containers/create", Some(Endpoint::ContainerCreate)),
            (
                &post,
                "/containers/abc/start",
                Some(Endpoint::ContainerStart),
            ),
            (
                &post,
                "/containers/abc/update",
                Some(Endpoint::ContainerUpdate),
            ),
            (&post, "/containers/abc/exec", Some(Endpoint::ExecCreate)),
            (&post, "/containers//start", None),
            (&post, "/containers/abc/stop", None),
            (&post, "/volumes/create", Some(Endpoint::VolumeCreate)),
            (&post, "/build", Some(Endpoint::Build)),
            (&post, "/grpc", Some(Endpoint::BuildKit)),
            (&post, "/plugins/pull", Some(Endpoint::PluginInstall)),
            (&post, "/plugins/create", Some(Endpoint::PluginCreate)),
            (
                &post,
                "/plugins/vieux/sshfs:latest/upgrade",
                Some(Endpoint::PluginUpgrade),
            ),
            (&post, "/plugins/sshfs/set", Some(Endpoint::PluginSet)),
            (&post, "/plugins/sshfs/enable", None),
            (&post, "/services/create", Some(Endpoint::ServiceCreate)),
            (&post, "/services/x/update", Some(Endpoint::ServiceUpdate)),
            (&Method::GET, "/containers/create", None),
            (&post, "containers/create", None),
            (&post, "/images/create", None),
        ];
        for (method, path, want) in cases {
            assert_eq!(endpoint(method, path), want, "{method} {path}");
        }
        assert!(Endpoint::ContainerCreate.reads_body());
        assert!(!Endpoint::Build.reads_body());
        assert!(!Endpoint::PluginCreate.reads_body());
    }
}
