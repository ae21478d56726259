//! What the inspector judges on a request: the body, query or grant an Engine
//! route needs beyond its allow rule. The route table ([`crate::request::judge::route`])
//! says which routes need which; everything else is the allow rules' business.

/// A request the inspector must judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /containers/create`: a container config with its HostConfig.
    ContainerCreate,
    /// `POST /containers/{id}/start`: API < 1.24 applies a container config body at start,
    /// and `checkpoint-dir` restores from a host path.
    ContainerStart,
    /// `POST /containers/{id}/update`: resource limits, including devices and cgroup parent.
    ContainerUpdate,
    /// `POST /containers/{id}/exec`: may ask for a privileged exec.
    ExecCreate,
    /// `POST /volumes/create`: local-driver options mount host paths and devices.
    VolumeCreate,
    /// `POST /build`: query parameters choose the build containers' network and cgroup.
    Build,
    /// `GET /containers/{id}/top`: `ps_args` run `ps` on the host, whose rows the Engine
    /// filters by a column the arguments can rename.
    ContainerTop,
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
    /// Swarm membership and cluster changes (init, join, leave, update, unlock, node update
    /// and removal, cluster volumes), and reading the join tokens (`GET /swarm`) or the unlock
    /// key: whoever manages the cluster runs tasks on this host.
    SwarmMembership,
    /// Container checkpoints (experimental): they name host directories to write and restore.
    Checkpoint,
}

impl Endpoint {
    /// Every inspected endpoint.
    pub const ALL: [Endpoint; 16] = [
        Endpoint::ContainerCreate,
        Endpoint::ContainerStart,
        Endpoint::ContainerUpdate,
        Endpoint::ExecCreate,
        Endpoint::VolumeCreate,
        Endpoint::Build,
        Endpoint::ContainerTop,
        Endpoint::BuildKit,
        Endpoint::PluginInstall,
        Endpoint::PluginUpgrade,
        Endpoint::PluginCreate,
        Endpoint::PluginSet,
        Endpoint::ServiceCreate,
        Endpoint::ServiceUpdate,
        Endpoint::SwarmMembership,
        Endpoint::Checkpoint,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_bodies_are_buffered() {
        assert!(Endpoint::ContainerCreate.reads_body());
        assert!(Endpoint::ContainerStart.reads_body());
        assert!(!Endpoint::Build.reads_body());
        assert!(!Endpoint::PluginCreate.reads_body());
    }
}
