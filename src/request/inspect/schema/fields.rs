//! The fields of every body the inspector reads, as the union over every Engine API version
//! from 1.12 (Engine 1.0) to the newest, taken from moby's Go types: `runconfig` (Engine 1.0 to
//! 1.9), the vendored `engine-api` (1.10 to 1.12) and `api/types` (1.13 on).
//!
//! Names are the JSON names (the struct tag, else the Go field name); embedded structs are
//! flattened as Go's `encoding/json` flattens them, by listing their fields in the embedding
//! struct's parts. A field's type is the JSON shape Go's decoder accepts for it; where versions
//! disagree (`Dns` became `[]netip.Addr`, `Cmd` a `StrSlice`), the type accepts what any of
//! them accepts. Comments name the Engine versions a field is limited to, when it is.

use super::{Struct, Ty};

use Ty::{Array, Bool, LxcConf, Map, Num, Str, StrSlice};

/// A field: its JSON name and type.
macro_rules! fields {
    ($($name:literal : $ty:expr),* $(,)?) => {
        &[$(super::Field { name: $name, ty: $ty }),*]
    };
}

/// `struct{}`: the value type of `Volumes` and `ExposedPorts`. Go ignores every member of such
/// an object, so none is known.
const EMPTY: Struct = &[&[]];

/// `container.Config`, with the fields of old Engines' `runconfig.Config`.
const CONFIG: &[super::Field] = fields! {
    "Hostname": Str,
    "Domainname": Str,
    "User": Str,
    "AttachStdin": Bool,
    "AttachStdout": Bool,
    "AttachStderr": Bool,
    "ExposedPorts": Map(&Ty::Struct(EMPTY)),
    "Tty": Bool,
    "OpenStdin": Bool,
    "StdinOnce": Bool,
    "Env": Array(&Str),
    "Cmd": StrSlice,
    "Healthcheck": Ty::Struct(HEALTH_CONFIG),
    "ArgsEscaped": Bool,
    "Image": Str,
    "Volumes": Map(&Ty::Struct(EMPTY)),
    "WorkingDir": Str,
    "Entrypoint": StrSlice,
    "NetworkDisabled": Bool,
    "MacAddress": Str,
    "OnBuild": Array(&Str),
    "Labels": Map(&Str),
    "StopSignal": Str,
    "StopTimeout": Num,
    "Shell": StrSlice,
    // Engine 1.0 to 1.6 (moved to HostConfig).
    "Memory": Num,
    "MemorySwap": Num,
    "CpuShares": Num,
    "Cpuset": Str,
    // Engine 1.0 to 1.7.
    "PortSpecs": Array(&Str),
    // Engine 1.8 to 1.11.
    "PublishService": Str,
    // Engine 1.7 and 1.8 (moved to HostConfig).
    "VolumeDriver": Str,
};

/// `container.HealthConfig` (since Engine 25, the image spec's `HealthcheckConfig`).
const HEALTH_CONFIG: Struct = &[fields! {
    "Test": Array(&Str),
    "Interval": Num,
    "Timeout": Num,
    "StartPeriod": Num,
    "StartInterval": Num,
    "Retries": Num,
}];

/// `container.Resources`, embedded in `HostConfig` and `UpdateConfig`.
const RESOURCES: &[super::Field] = fields! {
    "CpuShares": Num,
    "Memory": Num,
    "NanoCpus": Num,
    "CgroupParent": Str,
    "BlkioWeight": Num,
    "BlkioWeightDevice": Array(&Ty::Struct(WEIGHT_DEVICE)),
    "BlkioDeviceReadBps": Array(&Ty::Struct(THROTTLE_DEVICE)),
    "BlkioDeviceWriteBps": Array(&Ty::Struct(THROTTLE_DEVICE)),
    "BlkioDeviceReadIOps": Array(&Ty::Struct(THROTTLE_DEVICE)),
    "BlkioDeviceWriteIOps": Array(&Ty::Struct(THROTTLE_DEVICE)),
    "CpuPeriod": Num,
    "CpuQuota": Num,
    "CpuRealtimePeriod": Num,
    "CpuRealtimeRuntime": Num,
    "CpusetCpus": Str,
    "CpusetMems": Str,
    "Devices": Array(&Ty::Struct(DEVICE_MAPPING)),
    "DeviceCgroupRules": Array(&Str),
    "DeviceRequests": Array(&Ty::Struct(DEVICE_REQUEST)),
    "KernelMemory": Num,
    "KernelMemoryTCP": Num,
    "MemoryReservation": Num,
    "MemorySwap": Num,
    "MemorySwappiness": Num,
    "OomKillDisable": Bool,
    "PidsLimit": Num,
    "Ulimits": Array(&Ty::Struct(ULIMIT)),
    "CpuCount": Num,
    "CpuPercent": Num,
    "IOMaximumIOps": Num,
    "IOMaximumBandwidth": Num,
    // Engine 1.11 to 18.09.
    "DiskQuota": Num,
    // Engine 1.11 only.
    "BlkioBps": Num,
    "BlkioIOps": Num,
    "SandboxSize": Num,
};

/// `container.HostConfig` without its embedded `Resources`.
const HOST_CONFIG_OWN: &[super::Field] = fields! {
    "Binds": Array(&Str),
    "ContainerIDFile": Str,
    "LogConfig": Ty::Struct(LOG_CONFIG),
    "NetworkMode": Str,
    "PortBindings": Map(&Array(&Ty::Struct(PORT_BINDING))),
    "RestartPolicy": Ty::Struct(RESTART_POLICY),
    "AutoRemove": Bool,
    "VolumeDriver": Str,
    "VolumesFrom": Array(&Str),
    "ConsoleSize": Array(&Num),
    "Annotations": Map(&Str),
    "CapAdd": StrSlice,
    "CapDrop": StrSlice,
    "CgroupnsMode": Str,
    "Dns": Array(&Str),
    "DnsOptions": Array(&Str),
    "DnsSearch": Array(&Str),
    "ExtraHosts": Array(&Str),
    "GroupAdd": Array(&Str),
    "IpcMode": Str,
    "Cgroup": Str,
    "Links": Array(&Str),
    "OomScoreAdj": Num,
    "PidMode": Str,
    "Privileged": Bool,
    "PublishAllPorts": Bool,
    "ReadonlyRootfs": Bool,
    "SecurityOpt": Array(&Str),
    "StorageOpt": Map(&Str),
    "Tmpfs": Map(&Str),
    "UTSMode": Str,
    "UsernsMode": Str,
    "ShmSize": Num,
    "Sysctls": Map(&Str),
    "Runtime": Str,
    "Isolation": Str,
    "Mounts": Array(&Ty::Struct(MOUNT)),
    "MaskedPaths": Array(&Str),
    "ReadonlyPaths": Array(&Str),
    "Init": Bool,
    // Engine 1.13 and 17.03: a host path to the init binary.
    "InitPath": Str,
    // Engine 19.03 only.
    "Capabilities": Array(&Str),
    // Engine 1.0 to 1.9: raw LXC configuration, a list of {Key, Value} or a map.
    "LxcConf": LxcConf,
};

/// `container.HostConfig`: its own fields and the embedded `Resources`.
pub const HOST_CONFIG: Struct = &[HOST_CONFIG_OWN, RESOURCES];

const LOG_CONFIG: Struct = &[fields! {
    "Type": Str,
    "Config": Map(&Str),
}];

const RESTART_POLICY: Struct = &[fields! {
    "Name": Str,
    "MaximumRetryCount": Num,
}];

/// `nat.PortBinding` (since Engine 29, `network.PortBinding`).
const PORT_BINDING: Struct = &[fields! {
    "HostIp": Str,
    "HostPort": Str,
}];

const WEIGHT_DEVICE: Struct = &[fields! {
    "Path": Str,
    "Weight": Num,
}];

const THROTTLE_DEVICE: Struct = &[fields! {
    "Path": Str,
    "Rate": Num,
}];

const DEVICE_MAPPING: Struct = &[fields! {
    "PathOnHost": Str,
    "PathInContainer": Str,
    "CgroupPermissions": Str,
}];

const DEVICE_REQUEST: Struct = &[fields! {
    "Driver": Str,
    "Count": Num,
    "DeviceIDs": Array(&Str),
    "Capabilities": Array(&Array(&Str)),
    "Options": Map(&Str),
}];

/// `units.Ulimit`.
const ULIMIT: Struct = &[fields! {
    "Name": Str,
    "Hard": Num,
    "Soft": Num,
}];

/// `mount.Mount`.
const MOUNT: Struct = &[fields! {
    "Type": Str,
    "Source": Str,
    "Target": Str,
    "ReadOnly": Bool,
    "Consistency": Str,
    "BindOptions": Ty::Struct(BIND_OPTIONS),
    "VolumeOptions": Ty::Struct(VOLUME_OPTIONS),
    "ImageOptions": Ty::Struct(IMAGE_OPTIONS),
    "TmpfsOptions": Ty::Struct(TMPFS_OPTIONS),
    // Intentionally empty in moby: a swarm cluster volume.
    "ClusterOptions": Ty::Struct(EMPTY),
}];

const BIND_OPTIONS: Struct = &[fields! {
    "Propagation": Str,
    "NonRecursive": Bool,
    "CreateMountpoint": Bool,
    "ReadOnlyNonRecursive": Bool,
    "ReadOnlyForceRecursive": Bool,
}];

const VOLUME_OPTIONS: Struct = &[fields! {
    "NoCopy": Bool,
    "Labels": Map(&Str),
    "Subpath": Str,
    "DriverConfig": Ty::Struct(MOUNT_DRIVER),
}];

const MOUNT_DRIVER: Struct = &[fields! {
    "Name": Str,
    "Options": Map(&Str),
}];

const IMAGE_OPTIONS: Struct = &[fields! {
    "Subpath": Str,
}];

const TMPFS_OPTIONS: Struct = &[fields! {
    "SizeBytes": Num,
    "Mode": Num,
    "Options": Array(&Array(&Str)),
}];

/// `network.NetworkingConfig`.
const NETWORKING_CONFIG: Struct = &[fields! {
    "EndpointsConfig": Map(&Ty::Struct(ENDPOINT_SETTINGS)),
}];

/// `network.EndpointSettings`.
const ENDPOINT_SETTINGS: Struct = &[fields! {
    "IPAMConfig": Ty::Struct(ENDPOINT_IPAM_CONFIG),
    "Links": Array(&Str),
    "Aliases": Array(&Str),
    "DriverOpts": Map(&Str),
    "GwPriority": Num,
    "NetworkID": Str,
    "EndpointID": Str,
    "Gateway": Str,
    "IPAddress": Str,
    "IPPrefixLen": Num,
    "IPv6Gateway": Str,
    "GlobalIPv6Address": Str,
    "GlobalIPv6PrefixLen": Num,
    "MacAddress": Str,
    "DNSNames": Array(&Str),
}];

const ENDPOINT_IPAM_CONFIG: Struct = &[fields! {
    "IPv4Address": Str,
    "IPv6Address": Str,
    "LinkLocalIPs": Array(&Str),
}];

/// The create wrapper's own fields (`runconfig.ContainerConfigWrapper`, since Engine 29
/// `container.CreateRequest`).
const WRAPPER_OWN: &[super::Field] = fields! {
    "HostConfig": Ty::Struct(HOST_CONFIG),
    "NetworkingConfig": Ty::Struct(NETWORKING_CONFIG),
    // Engine 1.8 to 26: the old name of `CpusetCpus`, at the top level.
    "Cpuset": Str,
};

/// The create body, and the legacy start body: the wrapper embeds `Config` and (deprecated,
/// until Engine 26) a second `HostConfig`, whose fields are read at the top level.
pub const CREATE: Struct = &[WRAPPER_OWN, CONFIG, HOST_CONFIG_OWN, RESOURCES];

/// `container.UpdateConfig`: `Resources` and the restart policy.
pub const UPDATE: Struct = &[
    RESOURCES,
    fields! {
        "RestartPolicy": Ty::Struct(RESTART_POLICY),
    },
];

/// The exec create body (`types.ExecConfig`, `container.ExecOptions`,
/// `container.ExecCreateRequest`).
pub const EXEC: Struct = &[fields! {
    "User": Str,
    "Privileged": Bool,
    "Tty": Bool,
    "ConsoleSize": Array(&Num),
    "AttachStdin": Bool,
    "AttachStderr": Bool,
    "AttachStdout": Bool,
    "Detach": Bool,
    "DetachKeys": Str,
    "Env": Array(&Str),
    "WorkingDir": Str,
    "Cmd": Array(&Str),
    // Engine 1.3 to 1.11.
    "Container": Str,
}];

/// The volume create body (`VolumeCreateRequest`, `VolumesCreateBody`, `VolumeCreateBody`,
/// `volume.CreateOptions`, `volume.CreateRequest`).
pub const VOLUME_CREATE: Struct = &[fields! {
    "Name": Str,
    "Driver": Str,
    "DriverOpts": Map(&Str),
    "Labels": Map(&Str),
    "ClusterVolumeSpec": Ty::Struct(CLUSTER_VOLUME_SPEC),
}];

/// `volume.ClusterVolumeSpec` (Engine 23 on): a swarm CSI volume.
const CLUSTER_VOLUME_SPEC: Struct = &[fields! {
    "Group": Str,
    "AccessMode": Ty::Struct(ACCESS_MODE),
    "AccessibilityRequirements": Ty::Struct(TOPOLOGY_REQUIREMENT),
    "CapacityRange": Ty::Struct(CAPACITY_RANGE),
    "Secrets": Array(&Ty::Struct(SECRET)),
    "Availability": Str,
}];

const ACCESS_MODE: Struct = &[fields! {
    "Scope": Str,
    "Sharing": Str,
    "MountVolume": Ty::Struct(TYPE_MOUNT),
    "BlockVolume": Ty::Struct(EMPTY),
}];

const TYPE_MOUNT: Struct = &[fields! {
    "FsType": Str,
    "MountFlags": Array(&Str),
}];

const TOPOLOGY_REQUIREMENT: Struct = &[fields! {
    "Requisite": Array(&Ty::Struct(TOPOLOGY)),
    "Preferred": Array(&Ty::Struct(TOPOLOGY)),
}];

const TOPOLOGY: Struct = &[fields! {
    "Segments": Map(&Str),
}];

const CAPACITY_RANGE: Struct = &[fields! {
    "RequiredBytes": Num,
    "LimitBytes": Num,
}];

const SECRET: Struct = &[fields! {
    "Key": Str,
    "Secret": Str,
}];

/// One entry of `LxcConf` in its list form (`runconfig.KeyValuePair`).
pub const KEY_VALUE: Struct = &[fields! {
    "Key": Str,
    "Value": Str,
}];
