//! Table tests of `check_known`: known fields pass with plausible values, unknown fields only
//! with zero values, wrong JSON types are ambiguous.

use super::*;
use crate::request::inspect::json::parse;

/// What a row expects.
#[derive(Debug)]
enum Want {
    Ok,
    /// Refused as unknown, naming exactly this path.
    Unknown(&'static str),
    Ambiguous,
}
use Want::*;
use Shape::*;

fn run(rows: &[(Shape, &str, Want)]) {
    for (i, (shape, body, want)) in rows.iter().enumerate() {
        let value = parse(body.as_bytes()).unwrap_or_else(|e| panic!("row {i}: {body}: {e}"));
        let got = check_known(*shape, &value);
        let ok = match (want, &got) {
            (Ok, Result::Ok(())) => true,
            (Unknown(path), Err(Refusal::UnknownField { field, .. })) => field == path,
            (Ambiguous, Err(Refusal::Ambiguous(_))) => true,
            _ => false,
        };
        assert!(ok, "row {i}: {shape:?} {body}: want {want:?}, got {got:?}");
    }
}

/// A plausible non-zero value of a type, built from the table itself.
fn sample(ty: &Ty) -> String {
    match ty {
        Ty::Str => r#""x""#.into(),
        Ty::Bool => "true".into(),
        Ty::Num => "3".into(),
        Ty::StrSlice => r#"["a","b"]"#.into(),
        Ty::Array(item) => format!("[{}]", sample(item)),
        Ty::Map(item) => format!(r#"{{"k":{}}}"#, sample(item)),
        Ty::Struct(parts) => {
            let members: Vec<String> = parts
                .iter()
                .flat_map(|p| p.iter())
                .map(|f| format!("{:?}:{}", f.name, sample(&f.ty)))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Ty::LxcConf => r#"[{"Key":"lxc.x","Value":"y"}]"#.into(),
    }
}

const SHAPES: [Shape; 5] = [ContainerCreate, ContainerStart, ContainerUpdate, ExecCreate, VolumeCreate];

#[test]
fn every_known_field_passes_with_a_value() {
    for shape in SHAPES {
        let body = sample(&Ty::Struct(shape.root()));
        let value = parse(body.as_bytes()).unwrap();
        assert_eq!(check_known(shape, &value), Result::Ok(()), "{shape:?}: {body}");
        // The same, with every key lower-cased: Go matches fields case-insensitively.
        let lower = parse(body.to_ascii_lowercase().as_bytes()).unwrap();
        assert_eq!(check_known(shape, &lower), Result::Ok(()), "{shape:?} lower-cased");
    }
}

/// Go picks a field by exact name, else by folding; two fields folding alike would make the
/// table's answer depend on order. Repeats across embedded parts must agree on the type.
#[test]
fn no_two_fields_of_a_struct_fold_alike() {
    fn visit(parts: Struct, path: &str) {
        let all: Vec<&Field> = parts.iter().flat_map(|p| p.iter()).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                if fold(a.name) == fold(b.name) {
                    assert_eq!(a.name, b.name, "{path}: {} and {} fold alike", a.name, b.name);
                    assert_eq!(a.ty, b.ty, "{path}.{}: repeated with another type", a.name);
                }
            }
            visit_ty(&a.ty, &format!("{path}.{}", a.name));
        }
    }
    fn visit_ty(ty: &Ty, path: &str) {
        match ty {
            Ty::Struct(parts) => visit(parts, path),
            Ty::Array(item) | Ty::Map(item) => visit_ty(item, path),
            _ => {}
        }
    }
    for shape in SHAPES {
        visit(shape.root(), &format!("{shape:?}"));
    }
}

#[test]
fn unknown_fields_pass_only_when_zero() {
    run(&[
        (ContainerCreate, r#"{"Image":"x","Foo":null}"#, Ok),
        (ContainerCreate, r#"{"Foo":false,"Bar":0,"Baz":"","Qux":[],"Quux":{}}"#, Ok),
        (ContainerCreate, r#"{"Foo":-0,"Bar":0.0,"Baz":0e10,"Qux":-0.000E-3}"#, Ok),
        (ContainerCreate, r#"{"Foo":true}"#, Unknown("Foo")),
        (ContainerCreate, r#"{"Foo":1}"#, Unknown("Foo")),
        (ContainerCreate, r#"{"Foo":0.01}"#, Unknown("Foo")),
        (ContainerCreate, r#"{"Foo":1e-300}"#, Unknown("Foo")),
        (ContainerCreate, r#"{"Foo":" "}"#, Unknown("Foo")),
        (ContainerCreate, r#"{"Foo":[null]}"#, Unknown("Foo")),
        (ContainerCreate, r#"{"Foo":{"a":null}}"#, Unknown("Foo")),
        (ContainerCreate, r#"{"HostConfig":{"Foo":"/"}}"#, Unknown("HostConfig.Foo")),
        (ContainerCreate, r#"{"hostconfig":{"foo":"/"}}"#, Unknown("hostconfig.foo")),
        (ContainerCreate, r#"{"HostConfig":{"Privileged":false,"Foo":""}}"#, Ok),
        // A near miss is not a match: Go compares whole names.
        (ContainerCreate, r#"{"HostConfig":{"Privileged ":true}}"#, Unknown("HostConfig.Privileged ")),
        (ContainerCreate, r#"{"HostConfig":{"Privilege":true}}"#, Unknown("HostConfig.Privilege")),
        (ContainerCreate, "{\"HostConfig\":{\"Pr\u{0131}vileged\":true}}", Unknown("HostConfig.Pr\u{0131}vileged")),
        (ExecCreate, r#"{"Cmd":["sh"],"Foo":"x"}"#, Unknown("Foo")),
        (VolumeCreate, r#"{"Name":"v","Foo":{"x":1}}"#, Unknown("Foo")),
        (ContainerUpdate, r#"{"Memory":1,"Foo":1}"#, Unknown("Foo")),
        (ContainerStart, r#"{"Foo":1}"#, Unknown("Foo")),
    ]);
}

#[test]
fn case_folding_matches_go() {
    run(&[
        (ContainerCreate, r#"{"HOSTCONFIG":{"LINKS":["a:b"]}}"#, Ok),
        (ContainerCreate, r#"{"hostConfig":{"logconfig":{"TYPE":"json-file","config":{"max-size":"1m"}}}}"#, Ok),
        (ContainerCreate, "{\"HostConfig\":{\"\u{017F}ysctls\":{\"net.x\":\"1\"}}}", Ok),
        (ContainerCreate, "{\"HostConfig\":{\"\u{212A}ernelMemory\":1}}", Ok),
        (ContainerCreate, r#"{"HostConfig":{"Host\u0043onfig":{}}}"#, Ok),
        // Map keys are data, never folded against fields.
        (ContainerCreate, r#"{"Labels":{"Foo":"x","PRIVILEGED":"y"}}"#, Ok),
        // Top-level HostConfig fields (the deprecated embedded HostConfig) and Resources.
        (ContainerCreate, r#"{"links":["a:b"],"cpusetcpus":"0","cpuset":"0"}"#, Ok),
        (ContainerUpdate, r#"{"cpushares":2,"restartpolicy":{"name":"always"}}"#, Ok),
    ]);
}

#[test]
fn nested_unknowns_are_found() {
    run(&[
        (ContainerCreate, r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/a","Target":"/b","BindOptions":{"Propagation":"rshared"}}]}}"#, Ok),
        (ContainerCreate, r#"{"HostConfig":{"Mounts":[{"Type":"bind","BindOptions":{"Foo":"x"}}]}}"#, Unknown("HostConfig.Mounts[0].BindOptions.Foo")),
        (ContainerCreate, r#"{"HostConfig":{"Mounts":[{},{"Type":"volume","VolumeOptions":{"DriverConfig":{"Name":"local","Foo":1}}}]}}"#, Unknown("HostConfig.Mounts[1].VolumeOptions.DriverConfig.Foo")),
        (ContainerCreate, r#"{"HostConfig":{"Mounts":[{"Propagation":"rshared"}]}}"#, Unknown("HostConfig.Mounts[0].Propagation")),
        (ContainerCreate, r#"{"HostConfig":{"Mounts":[{"ClusterOptions":{"x":true}}]}}"#, Unknown("HostConfig.Mounts[0].ClusterOptions.x")),
        (ContainerCreate, r#"{"NetworkingConfig":{"EndpointsConfig":{"net1":{"Aliases":["a"],"IPAMConfig":{"IPv4Address":"10.0.0.2"}}}}}"#, Ok),
        (ContainerCreate, r#"{"NetworkingConfig":{"EndpointsConfig":{"net1":{"Aliases":["a"],"Foo":"x"}}}}"#, Unknown("NetworkingConfig.EndpointsConfig.net1.Foo")),
        (ContainerCreate, r#"{"NetworkingConfig":{"EndpointsConfig":{"net1":{"IPAMConfig":{"Foo":["x"]}}}}}"#, Unknown("NetworkingConfig.EndpointsConfig.net1.IPAMConfig.Foo")),
        (ContainerCreate, r#"{"NetworkingConfig":{"Foo":1}}"#, Unknown("NetworkingConfig.Foo")),
        (ContainerCreate, r#"{"HostConfig":{"LogConfig":{"Type":"json-file","Config":{"max-size":"10m","anything":"x"}}}}"#, Ok),
        (ContainerCreate, r#"{"HostConfig":{"LogConfig":{"Type":"json-file","Path":"/etc"}}}"#, Unknown("HostConfig.LogConfig.Path")),
        (ContainerCreate, r#"{"HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080","Foo":"x"}]}}}"#, Unknown("HostConfig.PortBindings.80/tcp[0].Foo")),
        (ContainerCreate, r#"{"HostConfig":{"Ulimits":[{"Name":"nofile","Soft":1,"Hard":2,"Foo":1}]}}"#, Unknown("HostConfig.Ulimits[0].Foo")),
        (ContainerCreate, r#"{"HostConfig":{"Devices":[{"PathOnHost":"/dev/null","Foo":"x"}]}}"#, Unknown("HostConfig.Devices[0].Foo")),
        (ContainerCreate, r#"{"Healthcheck":{"Test":["CMD","true"],"Foo":1}}"#, Unknown("Healthcheck.Foo")),
        (ContainerCreate, r#"{"Volumes":{"/data":{}},"ExposedPorts":{"80/tcp":{}}}"#, Ok),
        (ContainerCreate, r#"{"Volumes":{"/data":{"Foo":"x"}}}"#, Unknown("Volumes./data.Foo")),
        (ContainerCreate, r#"{"HostConfig":{"LxcConf":[{"Key":"lxc.x","Value":"y","Foo":"z"}]}}"#, Unknown("HostConfig.LxcConf[0].Foo")),
        (ContainerCreate, r#"{"HostConfig":{"LxcConf":{"lxc.x":"y"}}}"#, Ok),
        (VolumeCreate, r#"{"ClusterVolumeSpec":{"AccessMode":{"MountVolume":{"FsType":"ext4","Foo":"x"}}}}"#, Unknown("ClusterVolumeSpec.AccessMode.MountVolume.Foo")),
        (VolumeCreate, r#"{"DriverOpts":{"type":"none","o":"bind","device":"/x"}}"#, Ok),
    ]);
}

#[test]
fn embedded_resources_in_update() {
    run(&[
        (ContainerUpdate, r#"{"Memory":1048576,"MemorySwap":-1,"CpuShares":512,"CpusetCpus":"0","PidsLimit":10,"BlkioWeight":300,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}"#, Ok),
        (ContainerUpdate, r#"{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]}"#, Ok),
        (ContainerUpdate, r#"{"RestartPolicy":{"Name":"always","Foo":1}}"#, Unknown("RestartPolicy.Foo")),
        // Update is Resources and RestartPolicy only: HostConfig fields are unknown there.
        (ContainerUpdate, r#"{"Privileged":true}"#, Unknown("Privileged")),
        (ContainerUpdate, r#"{"Binds":["/:/host"]}"#, Unknown("Binds")),
        (ContainerUpdate, r#"{"HostConfig":{"Privileged":true}}"#, Unknown("HostConfig")),
    ]);
}

#[test]
fn wrong_json_types_are_ambiguous() {
    run(&[
        (ContainerCreate, r#"[]"#, Ambiguous),
        (ContainerCreate, r#""x""#, Ambiguous),
        (ContainerCreate, r#"{"Image":1}"#, Ambiguous),
        (ContainerCreate, r#"{"Tty":"true"}"#, Ambiguous),
        (ContainerCreate, r#"{"HostConfig":{"Memory":"1g"}}"#, Ambiguous),
        (ContainerCreate, r#"{"HostConfig":{"Binds":"/:/host"}}"#, Ambiguous),
        (ContainerCreate, r#"{"HostConfig":{"Binds":[1]}}"#, Ambiguous),
        (ContainerCreate, r#"{"HostConfig":{"Links":{"a":"b"}}}"#, Ambiguous),
        (ContainerCreate, r#"{"HostConfig":{"LogConfig":"json-file"}}"#, Ambiguous),
        (ContainerCreate, r#"{"HostConfig":{"LogConfig":{"Config":{"max-size":1}}}}"#, Ambiguous),
        (ContainerCreate, r#"{"HostConfig":{"Sysctls":["a"]}}"#, Ambiguous),
        (ContainerCreate, r#"{"HostConfig":{"LxcConf":"x"}}"#, Ambiguous),
        (ContainerCreate, r#"{"HostConfig":{"CapAdd":[["x"]]}}"#, Ambiguous),
        (ContainerCreate, r#"{"Volumes":{"/data":true}}"#, Ambiguous),
        (ExecCreate, r#"{"Cmd":"sh"}"#, Ambiguous),
        // Null is accepted by Go for every field, element and map value.
        (ContainerCreate, r#"{"Image":null,"HostConfig":{"Binds":[null],"Sysctls":{"a":null},"Mounts":[null]}}"#, Ok),
        // strslice: one string or an array of strings.
        (ContainerCreate, r#"{"Cmd":"true","Entrypoint":["sh","-c"],"HostConfig":{"CapAdd":"NET_ADMIN","CapDrop":["ALL"]}}"#, Ok),
        (ContainerCreate, r#"{"Cmd":true}"#, Ambiguous),
    ]);
}

#[test]
fn unknown_field_message_says_why() {
    let value = parse(br#"{"HostConfig":{"Foo":1}}"#).unwrap();
    let refusal = check_known(ContainerCreate, &value).unwrap_err();
    assert!(matches!(refusal, Refusal::UnknownField { .. }), "{refusal:?}");
    let text = refusal.to_string();
    assert!(text.starts_with("HostConfig.Foo is not a field dockgate knows"), "{text}");
    assert!(text.contains("only its zero value"), "{text}");
}
