//! The tenancy test world against the real Engine: a gateway whose clients
//! `a1` and `a2` share tenant team-a, `b1` is team-b and `admin` is
//! unconfined, all allowed every route, so whatever keeps them apart is
//! confinement alone; and what a test made, removed on its socket.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::{engine_request, gateway_request, real_engine, Gateway, Pki, TEST_IMAGE};

pub const POLICY: &str = r#"
[clients.a1]
policies = ["all"]
tenant = "team-a"

[clients.a2]
policies = ["all"]
tenant = "team-a"

[clients.b1]
policies = ["all"]
tenant = "team-b"

[clients.admin]
policies = ["all"]

[policies.all]
allow = ["* /**"]

[policies.all.grants]
container_namespaces = ["network", "pid", "ipc", "cgroup", "links"]
volumes_from = true
buildkit = true
checkpoints = true
"#;

pub const STEP: Duration = Duration::from_secs(120);

pub struct World {
    pub pki: Pki,
    pub gateway: Gateway,
    pub socket: PathBuf,
    pub made: Made,
}

/// What a test made, removed through the Engine's socket when it ends.
pub struct Made {
    pub socket: PathBuf,
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
    pub images: Vec<String>,
}

impl Drop for Made {
    fn drop(&mut self) {
        for c in &self.containers {
            engine_request(
                &self.socket,
                "DELETE",
                &format!("/containers/{c}?force=1&v=1"),
                "",
            );
        }
        for n in &self.networks {
            engine_request(&self.socket, "DELETE", &format!("/networks/{n}"), "");
        }
        for v in &self.volumes {
            engine_request(&self.socket, "DELETE", &format!("/volumes/{v}?force=1"), "");
        }
        for i in &self.images {
            engine_request(&self.socket, "DELETE", &format!("/images/{i}?force=1"), "");
        }
    }
}

pub fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "dgt-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

pub fn setup() -> Option<World> {
    let socket = real_engine()?;
    let pki = Pki::new(&["a1", "a2", "b1", "admin"]);
    let gateway = Gateway::start(&pki, &socket, POLICY);
    Some(World {
        pki,
        gateway,
        made: Made {
            socket: socket.clone(),
            containers: Vec::new(),
            volumes: Vec::new(),
            networks: Vec::new(),
            images: Vec::new(),
        },
        socket,
    })
}

impl World {
    pub fn req(&self, client: &str, method: &str, target: &str, body: &str) -> (u16, String) {
        gateway_request(&self.gateway, &self.pki, client, method, target, body)
    }

    pub fn engine(&self, method: &str, target: &str, body: &str) -> (u16, String) {
        engine_request(&self.socket, method, target, body)
    }

    /// Creates and starts a container as `client` (a long `sleep`).
    pub fn container(&mut self, client: &str, what: &str) -> (String, String) {
        let name = unique(what);
        self.made.containers.push(name.clone());
        let body = format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["sleep","600"]}}"#);
        let (status, answer) = self.req(
            client,
            "POST",
            &format!("/v1.41/containers/create?name={name}"),
            &body,
        );
        assert_eq!(status, 201, "{client} creates {name}: {answer}");
        let id = json(&answer)["Id"].as_str().unwrap().to_owned();
        let (status, answer) = self.req(client, "POST", &format!("/containers/{name}/start"), "");
        assert_eq!(status, 204, "{client} starts {name}: {answer}");
        (name, id)
    }

    pub fn volume(&mut self, client: &str, what: &str) -> String {
        let name = unique(what);
        self.made.volumes.push(name.clone());
        let (status, answer) = self.req(
            client,
            "POST",
            "/volumes/create",
            &format!(r#"{{"Name":"{name}"}}"#),
        );
        assert_eq!(status, 201, "{client} creates volume {name}: {answer}");
        name
    }

    pub fn network(&mut self, client: &str, what: &str) -> (String, String) {
        let name = unique(what);
        self.made.networks.push(name.clone());
        let (status, answer) = self.req(
            client,
            "POST",
            "/networks/create",
            &format!(r#"{{"Name":"{name}"}}"#),
        );
        assert_eq!(status, 201, "{client} creates network {name}: {answer}");
        (name, json(&answer)["Id"].as_str().unwrap().to_owned())
    }

    /// The container's state on the Engine's own socket.
    pub fn state(&self, id: &str) -> Value {
        let (status, answer) = self.engine("GET", &format!("/containers/{id}/json"), "");
        assert_eq!(status, 200, "{answer}");
        let c = json(&answer);
        serde_json::json!({
            "name": c["Name"],
            "running": c["State"]["Running"],
            "paused": c["State"]["Paused"],
            "restarts": c["RestartCount"],
            "started": c["State"]["StartedAt"],
            "tenant": c["Config"]["Labels"]["dockgate.tenant"],
        })
    }

    /// What the Engine says of a missing object at `target`.
    pub fn engine_missing(&self, target: &str) -> String {
        let (status, answer) = self.engine("GET", target, "");
        assert_eq!(status, 404, "{target}: {answer}");
        json(&answer)["message"].as_str().unwrap().to_owned()
    }

    pub fn names(&self, client: &str, target: &str, field: &str) -> Vec<String> {
        let (status, answer) = self.req(client, "GET", target, "");
        assert_eq!(status, 200, "{client} {target}: {answer}");
        let value = json(&answer);
        let items = match &value {
            Value::Array(items) => items.clone(),
            other => other[field].as_array().cloned().unwrap_or_default(),
        };
        items
            .iter()
            .map(|item| match &item["Names"] {
                Value::Array(n) => n[0].as_str().unwrap().trim_start_matches('/').to_owned(),
                _ => item["Name"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }
}
