//! Tenants: a client configured with `tenant = "NAME"` is confined to the
//! containers, exec instances, volumes, networks and images that carry the
//! label `dockgate.tenant=NAME`; clients with the same tenant share them.
//!
//! Confinement is decided here, purely, in three steps the gateway runs in
//! order:
//!
//! 1. [`plan`], from the route and the query: what each route is to a
//!    confined client ([`Scope`]), which objects the request names
//!    ([`Lookup`]), and whether the body must be read. A route dockgate
//!    cannot confine (swarm, plugins, image load, BuildKit's control API,
//!    a route the table does not know) is refused here.
//! 2. [`Plan::add_body`], from the complete body: the objects a create or
//!    connect body names (`container:` modes, `VolumesFrom`, `Links`, named
//!    volumes, networks).
//! 3. [`decide`], from the Engine's answer for each object
//!    ([`Answer`], asked by [`crate::request::ownership`]): every object
//!    named must be the tenant's, and the request is rewritten so that the
//!    Engine acts on exactly the objects judged. References become full IDs
//!    (a rename between the question and the action cannot switch the
//!    target), lists and event streams get the tenant's label filter, and
//!    what the request creates gets the tenant's label.
//!
//! An object of another tenant, or of none, is answered as the Engine
//! answers a missing one, so a confined client cannot learn that it exists.
//! Images are the exception the Engine's use needs: every client may list,
//! inspect, pull and run any image, but only its own may be deleted, tagged
//! or written over by a build, a commit or an import.
//!
//! While any client has a tenant, [`unconfined`] marks what an unconfined
//! client creates as no tenant's, since containers and images would
//! otherwise inherit a tenant's label from their image.
//!
//! # Layout
//! - this file: the routes, the plan, the decision, narrowed answers;
//! - `body`: the objects a body names, and the rewritten body;
//! - [`filters`]: the rewritten query (label filters, build labels, commit);
//! - `exec_owners`: the tenants of exec instances confined clients made.

mod body;
mod exec_owners;
pub mod filters;

use std::fmt;
use std::sync::Arc;

use crate::request::inspect::build_query;

pub use exec_owners::ExecOwners;

/// The label that names an object's tenant.
pub const LABEL: &str = "dockgate.tenant";

/// The kinds of object a tenant owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Container,
    /// An exec instance belongs to its container's tenant.
    Exec,
    Volume,
    Network,
    Image,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Exec => "exec instance",
            Kind::Volume => "volume",
            Kind::Network => "network",
            Kind::Image => "image",
        }
    }
}

/// What a route is to a confined client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The path names one object, which must be the tenant's.
    Owned(Kind),
    /// A list, prune or event stream: the Engine filters it by the label.
    Listed,
    /// Creates a volume or network: the body gets the label.
    Creates(Kind),
    /// Creates a container: the body gets the label, and every object it
    /// names must be the tenant's.
    ContainerCreate,
    /// Starts the container the path names; a legacy body's host settings
    /// may name other objects.
    ContainerStart,
    /// Network connect and disconnect: the network in the path and the
    /// container in the body.
    NetworkMember,
    /// `POST /commit`: the container in the query, the image it writes.
    Commit,
    /// Tags an image the tenant owns, under a tag no other tenant's image has.
    ImageTag,
    /// Pull or import: the tag it writes must not be another tenant's; an
    /// import is labelled for the tenant, a pull of every tag is refused.
    ImageCreate,
    /// A build: its images get the label, its tags must be the tenant's.
    Build,
    /// `GET /system/df`: the Engine cannot filter it, so the answer is.
    DataUsage,
    /// Touches no tenant's objects: version, ping, image reads, sessions.
    Shared,
    /// dockgate cannot confine it.
    NotConfinable,
}

/// Each route of the Engine's route table ([`crate::request::judge::route`]),
/// by its name, as a confined client may use it. A route not listed is one
/// dockgate cannot confine.
pub fn scope(route: &str) -> Scope {
    use Kind as K;
    use Scope as S;
    match route {
        "ContainerArchiveStat"
        | "ContainerExport"
        | "ContainerChanges"
        | "ContainerInspect"
        | "ContainerTop"
        | "ContainerLogs"
        | "ContainerStats"
        | "ContainerAttachWebsocket"
        | "ContainerArchive"
        | "ContainerKill"
        | "ContainerPause"
        | "ContainerUnpause"
        | "ContainerRestart"
        | "ContainerStop"
        | "ContainerWait"
        | "ContainerResize"
        | "ContainerAttach"
        | "ContainerCopy"
        | "ExecCreate"
        | "ContainerRename"
        | "ContainerUpdate"
        | "PutContainerArchive"
        | "ContainerDelete" => S::Owned(K::Container),
        "ExecInspect" | "ExecStart" | "ExecResize" => S::Owned(K::Exec),
        "VolumeInspect" | "VolumeDelete" => S::Owned(K::Volume),
        "NetworkInspect" | "NetworkDelete" => S::Owned(K::Network),
        "ImageDelete" => S::Owned(K::Image),
        "ContainerList" | "ContainerPrune" | "VolumeList" | "VolumePrune" | "NetworkList"
        | "NetworkPrune" | "ImagePrune" | "SystemEvents" => S::Listed,
        "VolumeCreate" => S::Creates(K::Volume),
        "NetworkCreate" => S::Creates(K::Network),
        "ContainerCreate" => S::ContainerCreate,
        "ContainerStart" => S::ContainerStart,
        "NetworkConnect" | "NetworkDisconnect" => S::NetworkMember,
        "ImageCommit" => S::Commit,
        "ImageTag" => S::ImageTag,
        "ImageCreate" => S::ImageCreate,
        "ImageBuild" => S::Build,
        "SystemDataUsage" => S::DataUsage,
        "SystemPing"
        | "SystemPingHead"
        | "SystemInfo"
        | "SystemVersion"
        | "SystemAuth"
        | "ImageList"
        | "ImageSearch"
        | "ImageGetAll"
        | "ImageGet"
        | "ImageHistory"
        | "ImageInspect"
        | "ImageAttestations"
        | "ImagePush"
        | "DistributionInspect"
        | "Session"
        | "BuildCancel" => S::Shared,
        _ => S::NotConfinable,
    }
}

/// What an object named by a request is to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The object the path names: the request acts on it.
    Target,
    /// An object a body or query field names (`field` says which).
    Reference { field: String },
    /// A tag the request writes (`pulled`: by a pull from a registry,
    /// which may replace an image of no tenant but not another tenant's).
    TagTarget { pulled: bool },
    /// A named volume a container mounts: created for the tenant if missing
    /// (`creatable`), unless the Engine would have made it with a driver or
    /// options of the client's choosing.
    MountedVolume { creatable: bool },
    /// The name a volume create asks for: the tenant's volume of that name
    /// is answered as the Engine answers (it returns the existing one), any
    /// other is refused.
    NewName,
}

/// One object a request names, to be looked up in the Engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub kind: Kind,
    /// The reference exactly as the Engine will read it.
    pub reference: String,
    pub role: Role,
}

/// The Engine's answer for one [`Lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The object exists: its full ID (a volume's name) and its tenant label.
    Found { id: String, tenant: Option<String> },
    /// The Engine has no such object; `message` is its own words.
    Missing { message: String },
}

/// Why a confined client's request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantRefusal {
    /// The object is another tenant's or no tenant's: answered as missing.
    #[error("{} {reference:?} is not tenant {tenant:?}'s", kind.noun())]
    Hidden {
        kind: Kind,
        reference: String,
        tenant: Arc<str>,
    },
    /// The Engine has no such object (its words).
    #[error("{message}")]
    Missing { message: String },
    #[error("{what} is not available to clients confined to a tenant (tenant {tenant:?})")]
    NotConfinable { what: String, tenant: Arc<str> },
    #[error(
        "the label {LABEL}={value:?} is the gateway's to set; this client's tenant is {tenant:?}"
    )]
    ForgedLabel { value: String, tenant: Arc<str> },
    #[error("the tag {tag:?} names an image that is not tenant {tenant:?}'s, and this request would write over it")]
    ForeignTag { tag: String, tenant: Arc<str> },
    #[error("the name {name:?} is taken by a volume that is not tenant {tenant:?}'s")]
    TakenName { name: String, tenant: Arc<str> },
    #[error("{0}")]
    Unreadable(String),
}

/// The tenancy work for one request of a confined client.
#[derive(Debug, Clone)]
pub struct Plan {
    pub tenant: Arc<str>,
    pub scope: Scope,
    /// The objects to ask the Engine about, in order.
    pub lookups: Vec<Lookup>,
    /// Where the path's object reference sits in the canonical route
    /// (byte range), when the path is rewritten to the resolved ID.
    capture: Option<(usize, usize)>,
    /// The request creates an exec instance in the tenant's container.
    creates_exec: bool,
    /// The client is confined to `tenant`; `false` for an unconfined
    /// client's create, which is only marked ([`unconfined`]).
    confined: bool,
}

/// How the request is rewritten once every object passed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Edits {
    /// The new canonical route (no version prefix), if it changed.
    pub route: Option<String>,
    /// The new query string, if it changed.
    pub query: Option<String>,
    /// The new body, if it changed.
    pub body: Option<Vec<u8>>,
    /// Named volumes to create for the tenant before forwarding.
    pub create_volumes: Vec<String>,
    /// Filter the answer to the tenant's objects (`/system/df`).
    pub filter_answer: bool,
    /// Remember the exec instance the answer names as the tenant's.
    pub remember_exec: bool,
}

impl Plan {
    /// Whether the client is confined (not an unconfined client's create,
    /// which is only marked).
    pub fn is_confined(&self) -> bool {
        self.confined
    }

    /// Whether the body must be read for confinement.
    pub fn reads_body(&self) -> bool {
        self.scope == Scope::ContainerCreate
            || self.confined
                && matches!(
                    self.scope,
                    Scope::ContainerCreate
                        | Scope::ContainerStart
                        | Scope::NetworkMember
                        | Scope::Creates(_)
                )
    }

    /// Adds the objects the body names.
    pub fn add_body(&mut self, bytes: &[u8]) -> Result<(), TenantRefusal> {
        self.lookups.extend(body::references(self.scope, bytes)?);
        Ok(())
    }
}

/// For an unconfined client while tenants are in use: a container create or
/// a build that names no tenant in `dockgate.tenant` gets the label with an
/// empty value, which is no tenant's. Containers and images inherit their
/// image's labels, so without it a deploy job running a tenant's image
/// would hand that tenant the container. Nothing is looked up.
pub fn unconfined(route: Option<&'static str>) -> Option<Plan> {
    let scope = match route? {
        "ContainerCreate" => Scope::ContainerCreate,
        "ImageBuild" => Scope::Build,
        _ => return None,
    };
    Some(Plan {
        tenant: Arc::from(""),
        scope,
        lookups: Vec::new(),
        capture: None,
        creates_exec: false,
        confined: false,
    })
}

/// Plans the confinement of a request to `route` (the canonical route,
/// `query` the raw query string). `found` is the route table's name for the
/// route and what its first variable captured (a slice of `route`), `None`
/// for a route the table does not know.
pub fn plan(
    tenant: &Arc<str>,
    found: Option<(&'static str, &str)>,
    route: &str,
    query: Option<&str>,
) -> Result<Plan, TenantRefusal> {
    let not_confinable = |what: String| TenantRefusal::NotConfinable {
        what,
        tenant: Arc::clone(tenant),
    };
    let Some((name, captured)) = found else {
        return Err(not_confinable(format!(
            "{route}, a route dockgate does not know,"
        )));
    };
    let scope = scope(name);
    let mut plan = Plan {
        tenant: Arc::clone(tenant),
        scope,
        lookups: Vec::new(),
        capture: None,
        creates_exec: name == "ExecCreate",
        confined: true,
    };
    let pairs = || {
        build_query::parse(query.unwrap_or(""))
            .map_err(|e| TenantRefusal::Unreadable(e.to_string()))
    };
    // The first value of a key, as Go's FormValue reads it.
    let first = |pairs: &[(String, String)], key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    match scope {
        Scope::NotConfinable => return Err(not_confinable(format!("{name} ({route})"))),
        // The Engine looks up the containers a list's `since` and `before`
        // name: a missing one fails the list.
        Scope::Listed if name == "ContainerList" => {
            for reference in filters::containers_named(query)? {
                plan.lookups.push(Lookup {
                    kind: Kind::Container,
                    reference,
                    role: Role::Reference {
                        field: "the filters parameter".into(),
                    },
                });
            }
        }
        Scope::Owned(kind) => plan.target(captured, route, kind),
        Scope::ContainerStart => plan.target(captured, route, Kind::Container),
        Scope::NetworkMember => plan.target(captured, route, Kind::Network),
        Scope::ImageTag => {
            plan.target(captured, route, Kind::Image);
            let pairs = pairs()?;
            let tag = image_tag(&first(&pairs, "repo"), &first(&pairs, "tag"));
            plan.tag_target(tag, false);
        }
        Scope::ImageCreate => {
            let pairs = pairs()?;
            let tag = first(&pairs, "tag");
            // The Engine pulls whenever fromImage is set, whatever fromSrc
            // says, and imports otherwise.
            match pull_of(&pairs) {
                Some(image) => {
                    if tag.is_empty() && !names_tag_or_digest(&image) {
                        return Err(not_confinable(format!("a pull of every tag of {image:?}")));
                    }
                    plan.tag_target(image_tag(&image, &tag), true);
                }
                None => plan.tag_target(image_tag(&first(&pairs, "repo"), &tag), false),
            }
        }
        Scope::Commit => {
            let pairs = pairs()?;
            plan.lookups.push(Lookup {
                kind: Kind::Container,
                reference: first(&pairs, "container"),
                role: Role::Reference {
                    field: "query parameter container".into(),
                },
            });
            let tag = image_tag(&first(&pairs, "repo"), &first(&pairs, "tag"));
            plan.tag_target(tag, false);
        }
        Scope::Build => {
            let pairs = pairs()?;
            for (key, value) in &pairs {
                match key.as_str() {
                    "t" => plan.tag_target(image_tag(value, ""), false),
                    // BuildKit exporters other than to the client write
                    // images under names of their own, past the tag checks.
                    "outputs" if !value.is_empty() => {
                        if let Some(kind) = filters::image_output(value) {
                            return Err(not_confinable(format!("a build output of type {kind:?}")));
                        }
                    }
                    _ => {}
                }
            }
            // The build's containers join this network or container.
            let mode = first(&pairs, "networkmode");
            if let Some(reference) = mode.strip_prefix("container:") {
                plan.lookups.push(Lookup {
                    kind: Kind::Container,
                    reference: reference.to_owned(),
                    role: Role::Reference {
                        field: "query parameter networkmode".into(),
                    },
                });
            } else if !body::is_builtin_network(&mode) {
                plan.lookups.push(Lookup {
                    kind: Kind::Network,
                    reference: mode,
                    role: Role::Reference {
                        field: "query parameter networkmode".into(),
                    },
                });
            }
        }
        _ => {}
    }
    Ok(plan)
}

impl Plan {
    /// `reference` is the slice of `route` the route's variable captured.
    fn target(&mut self, reference: &str, route: &str, kind: Kind) {
        let start = (reference.as_ptr() as usize).wrapping_sub(route.as_ptr() as usize);
        assert!(
            route.get(start..start + reference.len()) == Some(reference),
            "the captured reference is a slice of the route"
        );
        self.capture = Some((start, start + reference.len()));
        self.lookups.push(Lookup {
            kind,
            reference: reference.to_owned(),
            role: Role::Target,
        });
    }

    fn tag_target(&mut self, tag: Option<String>, pulled: bool) {
        if let Some(tag) = tag {
            self.lookups.push(Lookup {
                kind: Kind::Image,
                reference: tag,
                role: Role::TagTarget { pulled },
            });
        }
    }
}

/// The image a `POST /images/create` pulls, as the Engine reads it
/// (`fromImage`, less one trailing `:`); `None` for an import.
fn pull_of(pairs: &[(String, String)]) -> Option<String> {
    let image = pairs.iter().find(|(k, _)| k == "fromImage")?.1.as_str();
    (!image.is_empty()).then(|| image.strip_suffix(':').unwrap_or(image).to_owned())
}

/// Whether an image reference names a tag or a digest, not only a
/// repository (whose pull without a tag fetches every tag).
fn names_tag_or_digest(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    image.contains('@') || last.contains(':')
}

/// The tag a `repo` and `tag` pair writes, as the Engine's image lookup
/// reads it; `None` when it writes no tag (no repository, or a digest).
/// A `tag` replaces a tag written in `repo` (the Engine tags the repository
/// of the parsed reference), so `repo=app:1&tag=2` writes `app:2`.
fn image_tag(repo: &str, tag: &str) -> Option<String> {
    if repo.is_empty() || repo.contains('@') || tag.contains(':') {
        return None;
    }
    if tag.is_empty() {
        return Some(repo.to_owned());
    }
    // A `:` in the last path component starts a tag; one before a `/` is a
    // registry's port.
    let name_start = repo.rfind('/').map_or(0, |i| i + 1);
    let repository = match repo[name_start..].find(':') {
        Some(i) => &repo[..name_start + i],
        None => repo,
    };
    Some(format!("{repository}:{tag}"))
}

/// Decides a planned request with the Engine's answers (one per lookup, in
/// order): every object must be the tenant's, and the request is rewritten
/// to act on exactly those.
pub fn decide(
    plan: &Plan,
    route: &str,
    query: Option<&str>,
    body: &[u8],
    answers: &[Answer],
) -> Result<Edits, TenantRefusal> {
    assert_eq!(plan.lookups.len(), answers.len(), "one answer per lookup");
    if !plan.confined {
        return Ok(Edits {
            query: match plan.scope {
                Scope::Build => filters::mark_build(query)?,
                _ => None,
            },
            body: match plan.scope {
                Scope::ContainerCreate => body::mark(body)?,
                _ => None,
            },
            ..Edits::default()
        });
    }
    let tenant = &plan.tenant;
    let mut edits = Edits::default();
    let mut resolved = Vec::new();
    for (lookup, answer) in plan.lookups.iter().zip(answers) {
        let hidden = || TenantRefusal::Hidden {
            kind: lookup.kind,
            reference: lookup.reference.clone(),
            tenant: Arc::clone(tenant),
        };
        let owned = |t: &Option<String>| t.as_deref() == Some(&**tenant);
        match (&lookup.role, answer) {
            (Role::TagTarget { .. }, Answer::Missing { .. }) => {}
            (Role::TagTarget { pulled }, Answer::Found { tenant: owner, .. }) => {
                let mine = owned(owner) || (*pulled && owner.is_none());
                if !mine {
                    return Err(TenantRefusal::ForeignTag {
                        tag: lookup.reference.clone(),
                        tenant: Arc::clone(tenant),
                    });
                }
            }
            (Role::MountedVolume { creatable: true }, Answer::Missing { .. }) => {
                edits.create_volumes.push(lookup.reference.clone());
            }
            (Role::MountedVolume { creatable: false }, Answer::Missing { .. }) => {
                return Err(TenantRefusal::NotConfinable {
                    what: format!(
                        "creating the volume {:?} with a driver or options while mounting it (create it first: docker volume create)",
                        lookup.reference
                    ),
                    tenant: Arc::clone(tenant),
                });
            }
            (Role::NewName, Answer::Missing { .. }) => {}
            (Role::NewName, Answer::Found { tenant: owner, .. }) => {
                if !owned(owner) {
                    return Err(TenantRefusal::TakenName {
                        name: lookup.reference.clone(),
                        tenant: Arc::clone(tenant),
                    });
                }
            }
            (_, Answer::Missing { message }) => {
                return Err(TenantRefusal::Missing {
                    message: message.clone(),
                })
            }
            (_, Answer::Found { id, tenant: owner }) => {
                if !owned(owner) {
                    return Err(hidden());
                }
                resolved.push((lookup, id.as_str()));
            }
        }
    }
    let id_of = |kind: Kind, reference: &str| {
        resolved
            .iter()
            .find(|(l, _)| l.kind == kind && l.reference == reference)
            .map(|(_, id)| (*id).to_owned())
    };
    if let Some((start, end)) = plan.capture {
        let target = &plan.lookups[0];
        // Volumes are named by their ID, exec instances and images keep the
        // client's reference (an image deleted by tag is untagged, by ID
        // removed).
        if matches!(target.kind, Kind::Container | Kind::Network) {
            if let Some(id) = id_of(target.kind, &target.reference) {
                edits.route = Some(format!("{}{id}{}", &route[..start], &route[end..]));
            }
        }
    }
    match plan.scope {
        Scope::Listed => {
            let id_of = |reference: &str| id_of(Kind::Container, reference);
            edits.query = Some(filters::with_tenant(query, tenant, &id_of)?);
        }
        Scope::Build => {
            let network = plan
                .lookups
                .iter()
                .find(|l| matches!(&l.role, Role::Reference { .. }))
                .and_then(|l| {
                    let id = id_of(l.kind, &l.reference)?;
                    Some(match l.kind {
                        Kind::Container => format!("container:{id}"),
                        _ => id,
                    })
                });
            edits.query = Some(filters::build(query, tenant, network.as_deref())?);
        }
        Scope::Commit => {
            let container = id_of(Kind::Container, &plan.lookups[0].reference)
                .expect("a commit's container passed");
            edits.query = Some(filters::commit(query, &container, tenant)?);
        }
        Scope::ImageCreate => {
            let pairs = build_query::parse(query.unwrap_or(""))
                .map_err(|e| TenantRefusal::Unreadable(e.to_string()))?;
            if pull_of(&pairs).is_none() {
                edits.query = Some(filters::import(query, tenant)?);
            }
        }
        Scope::DataUsage => edits.filter_answer = true,
        Scope::Owned(Kind::Container) if plan.creates_exec => edits.remember_exec = true,
        _ => {}
    }
    if plan.reads_body() {
        let edit = body::rewrite(plan.scope, body, tenant, &id_of)?;
        if let Some(bytes) = edit {
            edits.body = Some(bytes);
        }
    }
    Ok(edits)
}

/// A `GET /system/df` answer narrowed to the tenant's containers and
/// volumes; images stay (every client may see them), the build cache goes
/// (it belongs to no one). `None` when the answer is not a JSON object.
pub fn filter_data_usage(answer: &[u8], tenant: &str) -> Option<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(answer).ok()?;
    let object = value.as_object_mut()?;
    let owned = |item: &serde_json::Value| {
        item.get("Labels")
            .and_then(|l| l.get(LABEL))
            .and_then(serde_json::Value::as_str)
            == Some(tenant)
    };
    for key in ["Containers", "Volumes"] {
        if let Some(serde_json::Value::Array(items)) = object.get_mut(key) {
            items.retain(owned);
        }
    }
    if let Some(serde_json::Value::Array(items)) = object.get_mut("BuildCache") {
        items.clear();
    }
    serde_json::to_vec(&value).ok()
}

/// An Engine conflict message (409) for a confined client, with object IDs
/// left out: the Engine names the holder of a name or the user of an image
/// or volume, which may be another tenant's container.
pub fn conflict_message(answer: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(answer);
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 12 {
            out.push_str("(hidden)");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out.into_bytes()
}

impl fmt::Display for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.role {
            Role::Target => write!(f, "the {} {:?}", self.kind.noun(), self.reference),
            Role::Reference { field } => {
                write!(f, "the {} {:?} ({field})", self.kind.noun(), self.reference)
            }
            Role::TagTarget { .. } => write!(f, "the tag {:?} it writes", self.reference),
            Role::MountedVolume { .. } => {
                write!(f, "the volume {:?} it mounts", self.reference)
            }
            Role::NewName => write!(f, "the volume name {:?} it takes", self.reference),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_written_is_the_repository_with_the_tag_parameter() {
        assert_eq!(image_tag("app", "").as_deref(), Some("app"));
        assert_eq!(image_tag("app:1", "").as_deref(), Some("app:1"));
        assert_eq!(image_tag("app", "2").as_deref(), Some("app:2"));
        assert_eq!(image_tag("app:1", "2").as_deref(), Some("app:2"));
        assert_eq!(
            image_tag("registry:5000/team/app:1", "2").as_deref(),
            Some("registry:5000/team/app:2")
        );
        assert_eq!(
            image_tag("registry:5000/app", "2").as_deref(),
            Some("registry:5000/app:2")
        );
        assert_eq!(image_tag("app", "sha256:00"), None);
        assert_eq!(image_tag("app@sha256:00", ""), None);
        assert_eq!(image_tag("", "2"), None);
    }
}
