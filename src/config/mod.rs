//! The gateway's configuration: read ([`raw`]), then validated and compiled
//! into [`Config`], the form the running gateway uses. Files are read only
//! once they stop changing ([`files`]).
//!
//! * [`policy`] — allow rules, their query constraints, and the glob
//!   matcher compiled from them.
//! * [`grants`] — what a policy lets its clients do to the host.
//! * [`needed`] — the grants one request needed, as audit lines carry them.
//! * [`preset`] — the policies dockgate ships, named `preset:NAME`.
//! * [`tls`] — certificates, CRL and the rustls server configuration.
//! * [`identities`] — how a peer is known as a client (a certificate's CN,
//!   SAN or key; a local socket, uid or gid).
//! * [`expiry`] — when the loaded CAs and CRLs run out, for the metrics.
//! * [`snapshot`] — everything a reload swaps at once.
//!
//! Every problem is reported as `file:line: key: message`, and all problems
//! in a file are reported at once so an admin fixes them in one pass.
//! Relative paths are resolved against the config file's folder.

pub mod expiry;
pub mod files;
pub mod grants;
pub mod identities;
pub mod needed;
pub mod policy;
pub mod preset;
pub mod raw;
pub mod snapshot;
pub mod tls;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use crate::config::grants::Grants;
use crate::config::identities::{
    Clash, Identities, KnownBy, Local, LocalSocket, San, Spki, DEFAULT_SOCKET_MODE,
};
use crate::config::policy::{Policy, Rule};
use raw::RawConfig;

/// A validated configuration. Certificates are loaded separately
/// ([`crate::config::tls`]) so that `check` can report on them one by one.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from, named by the problems found once it parsed
    /// (those against the running configuration, on reload).
    pub source: PathBuf,
    pub listen: SocketAddr,
    /// The shared local socket, where peers are known by uid or gid.
    pub local_listen: Option<LocalSocket>,
    pub upstream: PathBuf,
    pub tls: TlsFiles,
    /// Client name (the `[clients.NAME]` key) → its policies and tenant.
    pub clients: BTreeMap<String, Client>,
    /// The SANs clients are known by, for resolving certificates.
    pub identities: Identities,
    pub policies: BTreeMap<String, Arc<Policy>>,
    pub limits: Limits,
    pub log: LogSettings,
    pub metrics: Option<SocketAddr>,
    /// The config says it means to have no clients (`allow_no_clients`).
    pub allow_no_clients: bool,
    /// Some client has a tenant: then what unconfined clients create is
    /// marked as no tenant's, so it cannot inherit a tenant's label.
    pub tenants_in_use: bool,
}

/// One configured client.
#[derive(Debug, Clone)]
pub struct Client {
    /// Its policies, in the order written: the first with a matching rule decides.
    pub policies: Vec<Arc<Policy>>,
    /// The tenant it is confined to ([`crate::request::tenant`]);
    /// `None`: it sees and touches everything its policies allow.
    pub tenant: Option<Arc<str>>,
    /// How it is recognized: a certificate by its CN (the name) unless a
    /// SAN is given, and only with the pinned key if one is; or, for a
    /// local client, only on unix sockets.
    pub known_by: KnownBy,
    pub mode: Mode,
}

/// What happens to a client's requests its policies would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// They are refused.
    #[default]
    Enforce,
    /// They are forwarded, and their audit line says `would_deny` with the
    /// refusal they would have had. What dockgate cannot judge (targets,
    /// headers, bodies the Engine could read differently), identities,
    /// limits and tenant confinement are enforced all the same.
    Audit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CRL files, in the order written; empty without `crl`.
    pub crl: Vec<PathBuf>,
    /// The config says it means to have no CRL (`[tls] allow_no_crl`).
    pub allow_no_crl: bool,
}

/// Resource bounds; see `config/dockgate.toml` for what each one protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub handshake_timeout: Duration,
    /// Runs from the moment a connection waits for a request until its header
    /// is complete, so it is also how long a keep-alive connection may idle.
    pub request_header_timeout: Duration,
    pub upstream_connect_timeout: Duration,
    pub shutdown_grace: Duration,
    pub max_header_bytes: usize,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    /// Connections that have not finished their TLS handshake, a share of
    /// `max_connections`: connections that cost their sender nothing can
    /// take these, never the rest.
    pub max_handshakes: usize,
    /// Of `max_handshakes`, what one source address (IPv6: one /64) may hold.
    pub max_handshakes_per_address: usize,
    pub max_inspected_body_bytes: usize,
    /// Threads serving connections; `None`: one per core this process may use.
    pub worker_threads: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// What happens to requests while audit lines cannot be queued (the log
/// output has stopped taking lines and the queue is full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditMode {
    /// Requests are served; the lines that do not fit are dropped and
    /// counted.
    BestEffort,
    /// Requests are refused with 503 until the queue has room again; every
    /// request forwarded has its audit line queued.
    Required,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
    pub audit: AuditMode,
    /// Bytes of lines the log holds while its output does not take them.
    pub queue_bytes: usize,
}

/// The default `[log] queue_bytes`: a few seconds of audit lines at the
/// request rate of a busy gateway, so that a brief journald pause loses
/// nothing.
pub const DEFAULT_LOG_QUEUE_BYTES: usize = 8 * 1024 * 1024;

/// The default `[limits] max_handshakes`: far more handshakes than clients
/// start at once, and far fewer than `max_connections`, so that connections
/// that never finish one cannot keep clients that did out.
pub const DEFAULT_MAX_HANDSHAKES: usize = 256;

/// The default `[limits] max_handshakes_per_address`: one address holds at
/// most an eighth of the handshake slots.
pub const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS: usize = 32;

/// The smallest `[log] queue_bytes`: room for a few long lines.
const MIN_LOG_QUEUE_BYTES: usize = 16 * 1024;

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

/// Everything wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file.display())?;
            if let Some(line) = p.line {
                write!(f, ":{line}")?;
            }
            if p.key.is_empty() {
                write!(f, ": {}", p.message)?;
            } else {
                write!(f, ": {}: {}", p.key, p.message)?;
            }
        }
        Ok(())
    }
}

impl ConfigError {
    /// A problem with the file as a whole, or with a key at no known line.
    fn whole(file: &Path, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.to_owned(),
            problems: vec![Problem {
                line: None,
                key: key.to_owned(),
                message: message.into(),
            }],
        }
    }
}

impl Config {
    /// Reads (once it stays the same while read: [`files`]), parses and
    /// validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        files::settled(|reads| Config::read(path, reads))
            .map_err(|e| ConfigError::whole(path, "", e.to_string()))?
    }

    /// Reads a config file through `reads`, then parses and validates it.
    pub fn read(path: &Path, reads: &files::Reads) -> Result<Config, ConfigError> {
        let bytes = reads
            .read(path)
            .map_err(|e| ConfigError::whole(path, "", format!("cannot read: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| ConfigError::whole(path, "", "cannot read: not UTF-8 text"))?;
        Config::parse(path, &text)
    }

    /// What a reload from `running` to this config would drop without the
    /// config saying so: every client, or the CRL. Half a config file, or
    /// one edited in a hurry, is where these come from, and applying it
    /// would close every stream or let revoked certificates back in.
    pub fn may_replace(&self, running: &Config) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.clients.is_empty() && !running.clients.is_empty() && !self.allow_no_clients {
            problems.push(Problem {
                line: None,
                key: "clients".into(),
                message: format!(
                    "no clients, where the running configuration has {}: write `allow_no_clients = true` (at the top) if every client is meant to go",
                    running.clients.len()
                ),
            });
        }
        if self.tls.crl.is_empty() && !running.tls.crl.is_empty() && !self.tls.allow_no_crl {
            problems.push(Problem {
                line: None,
                key: "tls.crl".into(),
                message: "missing, where the running configuration checks revocation against a CRL: write `allow_no_crl = true` in [tls] if revocation checks are meant to stop".into(),
            });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                file: self.source.clone(),
                problems,
            })
        }
    }

    /// Parses and validates config text; `path` names it in errors and
    /// anchors its relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut v = Validator {
            text,
            problems: Vec::new(),
        };
        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let line = e.span().map(|s| v.line(s.start));
                let message = e.message().trim_end().to_owned();
                return Err(ConfigError {
                    file: path.to_owned(),
                    problems: vec![Problem {
                        line,
                        key: String::new(),
                        message,
                    }],
                });
            }
        };
        let base = path.parent().map(Path::to_owned).unwrap_or_default();
        let config = v.config(raw, path, &base);
        match config {
            Some(config) if v.problems.is_empty() => Ok(config),
            _ => Err(ConfigError {
                file: path.to_owned(),
                problems: v.problems,
            }),
        }
    }
}

/// Collects problems while turning raw values into checked ones.
struct Validator<'t> {
    text: &'t str,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn problem<T>(&mut self, key: &str, value: &Spanned<T>, message: impl Into<String>) {
        let span = value.span();
        let line = (span.end > 0).then(|| self.line(span.start));
        self.problems.push(Problem {
            line,
            key: key.to_owned(),
            message: message.into(),
        });
    }

    fn config(&mut self, raw: RawConfig, source: &Path, base: &Path) -> Option<Config> {
        let listen = raw.listen.get_ref().parse::<SocketAddr>();
        if let Err(e) = &listen {
            self.problem(
                "listen",
                &raw.listen,
                format!("{e}: expected host:port such as \"0.0.0.0:2376\""),
            );
        }
        let upstream = self.path("upstream", &raw.upstream, base);
        let tls = TlsFiles {
            ca: self.path("tls.ca", &raw.tls.ca, base),
            cert: self.path("tls.cert", &raw.tls.cert, base),
            key: self.path("tls.key", &raw.tls.key, base),
            crl: self.paths("tls.crl", raw.tls.crl.as_ref(), base),
            allow_no_crl: self.allowed_absence(
                "tls.allow_no_crl",
                raw.tls.allow_no_crl.as_ref(),
                raw.tls.crl.is_some().then_some("a crl is configured"),
            ),
        };
        let local_listen = raw.local_listen.as_ref().map(|path| LocalSocket {
            path: self.socket_path("local_listen", path, base),
            mode: self.mode("local_listen_mode", raw.local_listen_mode.as_ref()),
        });
        if let (None, Some(mode)) = (&raw.local_listen, &raw.local_listen_mode) {
            self.problem(
                "local_listen_mode",
                mode,
                "set without local_listen: there is no shared socket to give it",
            );
        }
        let policies = self.policies(&raw.policies);
        let clients = self.clients(&raw.clients, &policies, base);
        let identities = self.identities(&raw.clients, &clients, source);
        self.local_listen_is_shared(&raw, &clients, local_listen.as_ref());
        let allow_no_clients = self.allowed_absence(
            "allow_no_clients",
            raw.allow_no_clients.as_ref(),
            (!clients.is_empty()).then_some("clients are configured"),
        );
        let limits = self.limits(&raw.limits);
        let log = self.log(&raw.log);
        let metrics = raw
            .metrics
            .as_ref()
            .and_then(|m| match m.listen.get_ref().parse() {
                Ok(addr) => Some(addr),
                Err(e) => {
                    self.problem(
                        "metrics.listen",
                        &m.listen,
                        format!("{e}: expected host:port"),
                    );
                    None
                }
            });
        let tenants_in_use = clients.values().any(|c| c.tenant.is_some());
        Some(Config {
            source: source.to_owned(),
            listen: listen.ok()?,
            local_listen,
            upstream,
            tls,
            tenants_in_use,
            clients,
            identities,
            policies,
            limits: limits?,
            log,
            metrics,
            allow_no_clients,
        })
    }

    /// An `allow_no_*` setting: `true` only makes sense while the thing it
    /// allows to be absent is absent (`present` says why it is not).
    fn allowed_absence(
        &mut self,
        key: &str,
        value: Option<&Spanned<bool>>,
        present: Option<&str>,
    ) -> bool {
        let Some(value) = value else {
            return false;
        };
        if let (true, Some(why)) = (*value.get_ref(), present) {
            self.problem(
                key,
                value,
                format!("is true, but {why}: remove one or the other"),
            );
        }
        *value.get_ref()
    }

    fn path(&mut self, key: &str, value: &Spanned<String>, base: &Path) -> PathBuf {
        if value.get_ref().is_empty() {
            self.problem(key, value, "must not be empty");
        }
        base.join(value.get_ref())
    }

    /// The paths of a key that takes one or several; an empty array is
    /// refused, as it would read as "no CRL" without saying so.
    fn paths(
        &mut self,
        key: &str,
        value: Option<&Spanned<raw::RawPaths>>,
        base: &Path,
    ) -> Vec<PathBuf> {
        let Some(value) = value else {
            return Vec::new();
        };
        let paths = &value.get_ref().0;
        if paths.is_empty() {
            self.problem(
                key,
                value,
                "an empty array: name at least one file, or leave the key out",
            );
        }
        for path in paths {
            if path.is_empty() {
                self.problem(key, value, "must not name an empty path");
            }
        }
        paths.iter().map(|p| base.join(p)).collect()
    }

    /// A socket path: resolved like every path, and short enough for a
    /// unix socket address (108 bytes with its terminating NUL).
    fn socket_path(&mut self, key: &str, value: &Spanned<String>, base: &Path) -> PathBuf {
        let path = self.path(key, value, base);
        if path.as_os_str().len() > 107 {
            self.problem(
                key,
                value,
                format!(
                    "{} is longer than a unix socket path may be (107 bytes)",
                    path.display()
                ),
            );
        }
        path
    }

    /// A file mode written in octal, `"0660"`; [`DEFAULT_SOCKET_MODE`]
    /// when absent.
    fn mode(&mut self, key: &str, value: Option<&Spanned<String>>) -> u32 {
        let Some(value) = value else {
            return DEFAULT_SOCKET_MODE;
        };
        match u32::from_str_radix(value.get_ref(), 8) {
            Ok(mode) if mode <= 0o777 => mode,
            _ => {
                self.problem(
                    key,
                    value,
                    format!(
                        "{:?} is not a file mode: octal permission bits such as \"0660\"",
                        value.get_ref()
                    ),
                );
                DEFAULT_SOCKET_MODE
            }
        }
    }

    /// A local client's keys, checked; `None` for a certificate client.
    fn local(&mut self, name: &str, client: &raw::RawClient, base: &Path) -> Option<Local> {
        let local = client.socket.is_some() || client.uids.is_some() || client.gids.is_some();
        if !local {
            if let Some(mode) = &client.socket_mode {
                self.problem(
                    &format!("clients.{name}.socket_mode"),
                    mode,
                    "set without socket: there is no socket to give it",
                );
            }
            return None;
        }
        for (key, value) in [
            ("san", client.san.as_ref()),
            ("spki_sha256", client.spki_sha256.as_ref()),
        ] {
            if let Some(value) = value {
                self.problem(
                    &format!("clients.{name}.{key}"),
                    value,
                    "a local client (socket, uids or gids) is known only on unix sockets, never by a certificate: remove one or the other",
                );
            }
        }
        let mut list = |key: &str, value: Option<&Spanned<Vec<u32>>>| match value {
            Some(ids) if ids.get_ref().is_empty() => {
                self.problem(
                    &format!("clients.{name}.{key}"),
                    ids,
                    "an empty array: list at least one, or leave the key out",
                );
                Vec::new()
            }
            Some(ids) => ids.get_ref().clone(),
            None => Vec::new(),
        };
        let uids = list("uids", client.uids.as_ref());
        let gids = list("gids", client.gids.as_ref());
        let socket = client.socket.as_ref().map(|path| LocalSocket {
            path: self.socket_path(&format!("clients.{name}.socket"), path, base),
            mode: self.mode(
                &format!("clients.{name}.socket_mode"),
                client.socket_mode.as_ref(),
            ),
        });
        if socket.is_none() {
            if let Some(mode) = &client.socket_mode {
                self.problem(
                    &format!("clients.{name}.socket_mode"),
                    mode,
                    "set without socket: there is no socket to give it",
                );
            }
        }
        Some(Local { socket, uids, gids })
    }

    /// Clients known by uid or gid need the shared socket, and no client's
    /// own socket may be the shared one.
    fn local_listen_is_shared(
        &mut self,
        raw: &RawConfig,
        clients: &BTreeMap<String, Client>,
        shared: Option<&LocalSocket>,
    ) {
        for (name, client) in clients {
            let Some(local) = &client.known_by.local else {
                continue;
            };
            let Some(rc) = raw.clients.get(name) else {
                continue;
            };
            if shared.is_none() && (!local.uids.is_empty() || !local.gids.is_empty()) {
                let value = rc.uids.as_ref().or(rc.gids.as_ref());
                if let Some(value) = value {
                    self.problem(
                        &format!("clients.{name}"),
                        value,
                        "uids and gids name peers of the shared socket, and there is none: set local_listen",
                    );
                }
            }
            if let (Some(own), Some(shared), Some(at)) = (&local.socket, shared, &rc.socket) {
                if own.path == shared.path {
                    self.problem(
                        &format!("clients.{name}.socket"),
                        at,
                        format!(
                            "{} is also local_listen: a client's own socket is its alone, the shared one is everyone's",
                            own.path.display()
                        ),
                    );
                }
            }
        }
    }

    fn policies(
        &mut self,
        raw: &BTreeMap<String, raw::RawPolicy>,
    ) -> BTreeMap<String, Arc<Policy>> {
        let mut out = BTreeMap::new();
        for (name, policy) in raw {
            if name.starts_with(preset::PREFIX) {
                // The table's own key has no span; its first rule is next to it.
                let line = policy
                    .allow
                    .first()
                    .filter(|rule| rule.span().end > 0)
                    .map(|rule| self.line(rule.span().start));
                self.problems.push(Problem {
                    line,
                    key: format!("policies.{name}"),
                    message: format!(
                        "names starting with {:?} are dockgate's presets: name your policy differently",
                        preset::PREFIX
                    ),
                });
                continue;
            }
            if let Some(p) = self.policy(name, policy) {
                out.insert(name.clone(), Arc::new(p));
            }
        }
        out
    }

    /// Compiles one `[policies.NAME]` table; presets are compiled by the
    /// same function, so a preset is exactly what the same table in a
    /// config would be.
    fn policy(&mut self, name: &str, policy: &raw::RawPolicy) -> Option<Policy> {
        let mut rules = Vec::new();
        for (i, text) in policy.allow.iter().enumerate() {
            match Rule::parse(text.get_ref()) {
                Ok(rule) => rules.push(rule),
                Err(e) => self.problem(
                    &format!("policies.{name}.allow[{i}]"),
                    text,
                    format!("{:?}: {e}", text.get_ref()),
                ),
            }
        }
        let grants = match &policy.grants {
            None => Grants::none(),
            Some(raw) => Grants::compile(raw.get_ref()).unwrap_or_else(|e| {
                self.problem(&format!("policies.{name}.grants"), raw, e.to_string());
                Grants::none()
            }),
        };
        match Policy::compile(name, rules, grants) {
            Ok(p) => Some(p),
            Err(e) => {
                self.problems.push(Problem {
                    line: None,
                    key: format!("policies.{name}.allow"),
                    message: e.to_string(),
                });
                None
            }
        }
    }

    fn clients(
        &mut self,
        raw: &BTreeMap<String, raw::RawClient>,
        policies: &BTreeMap<String, Arc<Policy>>,
        base: &Path,
    ) -> BTreeMap<String, Client> {
        let mut out = BTreeMap::new();
        for (name, client) in raw {
            let key = format!("clients.{name}.policies");
            if client.policies.get_ref().is_empty() {
                self.problem(&key, &client.policies, "a client needs at least one policy");
            }
            let mut list = Vec::new();
            for p in client.policies.get_ref() {
                if let Some(wanted) = p.get_ref().strip_prefix(preset::PREFIX) {
                    match preset::find(wanted) {
                        Some(policy) => list.push(policy),
                        None => self.problem(
                            &key,
                            p,
                            format!(
                                "no preset named {wanted:?} (presets: {})",
                                preset::names().collect::<Vec<_>>().join(", ")
                            ),
                        ),
                    }
                    continue;
                }
                match policies.get(p.get_ref()) {
                    Some(policy) => list.push(Arc::clone(policy)),
                    None => self.problem(
                        &key,
                        p,
                        format!(
                            "no policy named {:?} (define [policies.{}])",
                            p.get_ref(),
                            p.get_ref()
                        ),
                    ),
                }
            }
            let tenant = client.tenant.as_ref().and_then(|t| {
                let valid = !t.get_ref().is_empty()
                    && t.get_ref().len() <= 64
                    && t.get_ref()
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
                if !valid {
                    self.problem(
                        &format!("clients.{name}.tenant"),
                        t,
                        format!(
                            "{:?} is not a tenant name: 1 to 64 letters, digits, '-', '_' or '.'",
                            t.get_ref()
                        ),
                    );
                }
                valid.then(|| Arc::from(t.get_ref().as_str()))
            });
            let known_by = KnownBy {
                san: client.san.as_ref().and_then(|san| {
                    San::parse(san.get_ref())
                        .map_err(|e| self.problem(&format!("clients.{name}.san"), san, e))
                        .ok()
                }),
                spki: client.spki_sha256.as_ref().and_then(|spki| {
                    Spki::parse(spki.get_ref())
                        .map_err(|e| self.problem(&format!("clients.{name}.spki_sha256"), spki, e))
                        .ok()
                }),
                local: self.local(name, client, base),
            };
            let mode = match &client.mode {
                None => Mode::Enforce,
                Some(m) => match m.get_ref().as_str() {
                    "enforce" => Mode::Enforce,
                    "audit" => Mode::Audit,
                    other => {
                        self.problem(
                            &format!("clients.{name}.mode"),
                            m,
                            format!("{other:?} is not a mode: \"enforce\" or \"audit\""),
                        );
                        Mode::Enforce
                    }
                },
            };
            out.insert(
                name.clone(),
                Client {
                    policies: list,
                    tenant,
                    known_by,
                    mode,
                },
            );
        }
        out
    }

    /// Indexes the SANs, uids, gids and sockets clients are known by,
    /// refusing one claimed by two clients: a peer presenting it would be
    /// either.
    fn identities(
        &mut self,
        raw: &BTreeMap<String, raw::RawClient>,
        clients: &BTreeMap<String, Client>,
        source: &Path,
    ) -> Identities {
        let (identities, clashes) =
            Identities::index(clients.iter().map(|(n, c)| (n.as_str(), &c.known_by)));
        for clash in clashes {
            let (Some(first), Some(second)) = (raw.get(&clash.first), raw.get(&clash.second))
            else {
                continue;
            };
            let (first_at, second_at) = match clash.key {
                "san" => (first.san.as_ref(), second.san.as_ref()),
                "socket" => (first.socket.as_ref(), second.socket.as_ref()),
                _ => {
                    let ids = |c: &raw::RawClient| match clash.key {
                        "uids" => c.uids.as_ref().map(Spanned::span),
                        _ => c.gids.as_ref().map(Spanned::span),
                    };
                    let (Some(first_span), Some(second_span)) = (ids(first), ids(second)) else {
                        continue;
                    };
                    let at = self.line(first_span.start);
                    let line = (second_span.end > 0).then(|| self.line(second_span.start));
                    let (key, Clash { value, first, .. }) = (clash.key, &clash);
                    self.problems.push(Problem {
                        line,
                        key: format!("clients.{}.{key}", clash.second),
                        message: format!(
                            "{value} is also in the {key} of client {first:?} ({}:{at}): two clients cannot both match one peer",
                            source.display()
                        ),
                    });
                    continue;
                }
            };
            let (Some(first_at), Some(second_at)) = (first_at, second_at) else {
                continue;
            };
            let at = self.line(first_at.span().start);
            let (what, key, noun) = match clash.key {
                "san" => ("a certificate carrying it", "san", "SAN"),
                _ => ("a peer connecting to it", "socket", "socket"),
            };
            self.problem(
                &format!("clients.{}.{key}", clash.second),
                second_at,
                format!(
                    "{:?} is also the {key} of client {:?} ({}:{at}): two clients cannot be known by the same {noun}, or {what} would be either",
                    second_at.get_ref(),
                    clash.first,
                    source.display(),
                ),
            );
        }
        identities
    }

    fn limits(&mut self, raw: &raw::RawLimits) -> Option<Limits> {
        let mut duration =
            |key: &str, value: &Spanned<String>| match parse_duration(value.get_ref()) {
                Some(d) if !d.is_zero() => Some(d),
                _ => {
                    self.problem(
                        &format!("limits.{key}"),
                        value,
                        format!(
                            "{:?} is not a duration such as \"10s\", \"500ms\" or \"2m\"",
                            value.get_ref()
                        ),
                    );
                    None
                }
            };
        let handshake_timeout = duration("handshake_timeout", &raw.handshake_timeout);
        let request_header_timeout =
            duration("request_header_timeout", &raw.request_header_timeout);
        let upstream_connect_timeout =
            duration("upstream_connect_timeout", &raw.upstream_connect_timeout);
        let shutdown_grace = duration("shutdown_grace", &raw.shutdown_grace);
        for (key, value) in [
            ("max_header_bytes", raw.max_header_bytes),
            ("max_connections", raw.max_connections),
            ("max_connections_per_client", raw.max_connections_per_client),
            ("max_inspected_body_bytes", raw.max_inspected_body_bytes),
            ("worker_threads", raw.worker_threads.unwrap_or(1)),
        ] {
            if value == 0 {
                self.problems.push(Problem {
                    line: None,
                    key: format!("limits.{key}"),
                    message: "must be at least 1".into(),
                });
            }
        }
        let max_handshakes = self.share(
            "max_handshakes",
            raw.max_handshakes.as_ref(),
            DEFAULT_MAX_HANDSHAKES,
            ("max_connections", raw.max_connections),
        );
        let max_handshakes_per_address = self.share(
            "max_handshakes_per_address",
            raw.max_handshakes_per_address.as_ref(),
            DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
            ("max_handshakes", max_handshakes),
        );
        Some(Limits {
            handshake_timeout: handshake_timeout?,
            request_header_timeout: request_header_timeout?,
            upstream_connect_timeout: upstream_connect_timeout?,
            shutdown_grace: shutdown_grace?,
            max_header_bytes: raw.max_header_bytes,
            max_connections: raw.max_connections,
            max_connections_per_client: raw.max_connections_per_client,
            max_handshakes,
            max_handshakes_per_address,
            max_inspected_body_bytes: raw.max_inspected_body_bytes,
            worker_threads: raw.worker_threads,
        })
    }

    /// A limit that is a share of a larger one (`within`): as written, at
    /// least 1 and at most the larger one; when absent, `default` cut down
    /// to the larger one.
    fn share(
        &mut self,
        key: &str,
        value: Option<&Spanned<usize>>,
        default: usize,
        within: (&str, usize),
    ) -> usize {
        let (outer, max) = within;
        let Some(value) = value else {
            return default.min(max).max(1);
        };
        let n = *value.get_ref();
        if n == 0 {
            self.problem(&format!("limits.{key}"), value, "must be at least 1");
        } else if n > max {
            self.problem(
                &format!("limits.{key}"),
                value,
                format!("{n} is more than {outer} ({max}): it is a share of it"),
            );
        }
        n.clamp(1, max.max(1))
    }

    fn log(&mut self, raw: &raw::RawLog) -> LogSettings {
        let format = match raw.format.as_ref() {
            None => LogFormat::Text,
            Some(f) => match f.get_ref().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    self.problem(
                        "log.format",
                        f,
                        format!("{other:?}: expected \"text\" or \"json\""),
                    );
                    LogFormat::Text
                }
            },
        };
        let level = raw.log_level();
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&level) {
            if let Some(l) = raw.level.as_ref() {
                self.problem("log.level", l, e.to_string());
            }
        }
        let audit = match raw.audit.as_ref() {
            None => AuditMode::BestEffort,
            Some(a) => match a.get_ref().as_str() {
                "best-effort" => AuditMode::BestEffort,
                "required" => AuditMode::Required,
                other => {
                    self.problem(
                        "log.audit",
                        a,
                        format!("{other:?}: expected \"best-effort\" or \"required\""),
                    );
                    AuditMode::BestEffort
                }
            },
        };
        let queue_bytes = match raw.queue_bytes.as_ref() {
            None => DEFAULT_LOG_QUEUE_BYTES,
            Some(q) if *q.get_ref() < MIN_LOG_QUEUE_BYTES => {
                self.problem(
                    "log.queue_bytes",
                    q,
                    format!("must be at least {MIN_LOG_QUEUE_BYTES}"),
                );
                DEFAULT_LOG_QUEUE_BYTES
            }
            Some(q) => *q.get_ref(),
        };
        LogSettings {
            format,
            level,
            audit,
            queue_bytes,
        }
    }
}

impl raw::RawLog {
    fn log_level(&self) -> String {
        self.level
            .as_ref()
            .map_or_else(|| "info".to_owned(), |l| l.get_ref().clone())
    }
}

/// Parses `"250ms"`, `"10s"`, `"2m"`, `"1h"`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}
