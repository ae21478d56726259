//! `pki bundle`: a client's key, certificate and CA with the gateway's
//! address in one file that `docker context import CONTEXT FILE` takes as it
//! is, after which `docker --context CONTEXT ps` goes through the gateway.
//!
//! The file is the docker CLI's context export format (its
//! `cli/context/store` `Export` and `Import`): a tar archive holding
//! - `meta.json`: `{"Name", "Metadata": {"Description"}, "Endpoints":
//!   {"docker": {"Host", "SkipTLSVerify": false}}}`;
//! - `tls/docker/{ca,cert,key}.pem`, the names the CLI loads TLS files by.
//!
//! Import reads only regular files named `meta.json` or
//! `tls/ENDPOINT/FILE`, replaces `Name` with the name given on its command
//! line (checked against `^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$`, `default`
//! reserved), and stores every TLS file 0600. The archive carries the key,
//! so its entries are 0600 as `docker context export` writes them, and the
//! file itself is written 0600, whole or not at all.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use super::files::{self, Layout, Staged, KEY_MODE, PUBLIC_MODE};
use super::index::{Index, Status};
use super::lock::PkiLock;
use super::names::{check_client_name, check_dns_name, San};
use super::ustar::Ustar;
use super::{cert, PkiError};

/// The docker CLI's context name pattern, quoted in errors.
const CONTEXT_PATTERN: &str = "^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$";
/// The name `docker context export` gives its file, after the context.
const EXTENSION: &str = "dockercontext";
/// Mode of the folder entries, as `docker context export` writes them.
const TLS_DIR_MODE: u32 = 0o700;

/// What `pki bundle` wrote.
#[derive(Debug, Clone)]
pub struct BundleReport {
    /// The bundle file (mode 0600).
    pub path: PathBuf,
    /// The context name inside, the one to import it as.
    pub context: String,
    /// The client whose certificate it holds.
    pub client: String,
    /// The gateway address, `tcp://HOST:PORT`.
    pub host: String,
    /// The SAN a server certificate needs to be valid for `host`.
    pub host_san: String,
    /// The client certificate's serial, hex.
    pub serial: String,
    /// The client certificate's end of validity.
    pub not_after: OffsetDateTime,
    /// The SANs of the folder's server certificate when none of them names
    /// the host: the docker CLI will then refuse the gateway's certificate.
    pub unmatched_sans: Option<Vec<String>>,
}

/// Writes the bundle for `client` from the PKI in `dir`: context `context`
/// (default: the client's name) pointing at `host`, into `out` (default:
/// `CONTEXT.dockercontext`), refusing to replace a file unless `force`.
/// Every argument is checked before anything is read or written.
pub fn bundle(
    dir: &Path,
    client: &str,
    context: Option<&str>,
    host: &str,
    out: Option<&Path>,
    force: bool,
) -> Result<BundleReport, PkiError> {
    check_client_name(client)?;
    let context = context.unwrap_or(client);
    check_context_name(context)?;
    let host = GatewayHost::parse(host)?;
    let out = match out {
        Some(out) => out.to_path_buf(),
        None => PathBuf::from(format!("{context}.{EXTENSION}")),
    };
    files::refuse_overwrite(&out, force)?;
    let folder = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        let missing = io::Error::new(io::ErrorKind::NotFound, "no such folder for --out");
        return Err(PkiError::io(folder, missing));
    }

    let layout = Layout::new(dir);
    if !layout.ca_cert().exists() {
        return Err(PkiError::NoCa {
            dir: dir.to_path_buf(),
        });
    }
    let client_files = {
        let _lock = PkiLock::shared(dir)?;
        ClientFiles::read(&layout, client)?
    };
    let unmatched_sans = client_files
        .server_sans
        .as_ref()
        .filter(|sans| !host.is_named_by(sans))
        .map(|sans| sans.iter().map(San::to_string).collect());

    let archive = archive(context, client, &host, &client_files);
    let mut staged = Staged::new();
    staged.write(&out, &archive, KEY_MODE)?;
    staged.commit()?;
    Ok(BundleReport {
        path: out,
        context: context.to_owned(),
        client: client.to_owned(),
        host: host.to_string(),
        host_san: host.name.to_string(),
        serial: client_files.serial,
        not_after: client_files.not_after,
        unmatched_sans,
    })
}

/// Checks `name` as the docker CLI checks a context name on import.
pub fn check_context_name(name: &str) -> Result<(), PkiError> {
    let bad = |reason: String| PkiError::BadContext {
        name: name.to_owned(),
        reason,
    };
    if name == "default" {
        return Err(bad(
            "the docker CLI reserves it for its own context; pass --context".into(),
        ));
    }
    if name.len() < 2 {
        return Err(bad(format!(
            "docker context names have at least 2 characters ({CONTEXT_PATTERN}); pass --context"
        )));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(bad(format!(
            "must start with A-Z, a-z or 0-9 ({CONTEXT_PATTERN})"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-')))
    {
        return Err(bad(format!("{c:?} is not allowed ({CONTEXT_PATTERN})")));
    }
    Ok(())
}

/// The gateway's address as the docker CLI dials it: `tcp://HOST:PORT`,
/// HOST a DNS name, an IPv4 address or a bracketed IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayHost {
    /// The name or address, to compare with the server certificate's SANs.
    name: San,
    /// The TCP port.
    port: u16,
}

impl GatewayHost {
    /// Parses `tcp://HOST:PORT`; DNS names are lowercased.
    pub fn parse(text: &str) -> Result<GatewayHost, PkiError> {
        let bad = |reason: &str| PkiError::BadHost {
            host: text.to_owned(),
            reason: reason.to_owned(),
        };
        let needs_port = || bad("needs a port, e.g. tcp://docker.example.com:2376");
        let Some(rest) = text.strip_prefix("tcp://") else {
            return Err(bad(
                "expected tcp://HOST:PORT, e.g. tcp://docker.example.com:2376",
            ));
        };
        if let Some(c) = rest.chars().find(|c| matches!(c, '/' | '?' | '#' | '@')) {
            return Err(bad(&format!(
                "{c:?} is not allowed: give only tcp://HOST:PORT"
            )));
        }
        let (name, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (addr, after) = bracketed
                .split_once(']')
                .ok_or_else(|| bad("no ']' after the IPv6 address"))?;
            let ip: Ipv6Addr = addr
                .parse()
                .map_err(|_| bad("not an IPv6 address between '[' and ']'"))?;
            let port = after.strip_prefix(':').ok_or_else(needs_port)?;
            (San::Ip(IpAddr::V6(ip)), port)
        } else {
            let (host, port) = rest.rsplit_once(':').ok_or_else(needs_port)?;
            if host.contains(':') {
                return Err(bad("write an IPv6 address in brackets: tcp://[ADDR]:PORT"));
            }
            let name = match host.parse::<Ipv4Addr>() {
                Ok(ip) => San::Ip(IpAddr::V4(ip)),
                Err(_) if host.starts_with('*') => {
                    return Err(bad("a wildcard is not an address to connect to"))
                }
                Err(_) => {
                    check_dns_name(host).map_err(|reason| bad(&reason))?;
                    San::Dns(host.to_ascii_lowercase())
                }
            };
            (name, port)
        };
        let port = Some(port)
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?;
        Ok(GatewayHost { name, port })
    }

    /// Whether a certificate with `sans` is valid for this host, as a TLS
    /// client checks it: an equal address, an equal DNS name, or a
    /// wildcard standing for exactly the first label.
    fn is_named_by(&self, sans: &[San]) -> bool {
        sans.iter().any(|san| match (san, &self.name) {
            (San::Ip(a), San::Ip(b)) => a == b,
            (San::Dns(pattern), San::Dns(name)) => match pattern.strip_prefix("*.") {
                Some(parent) => name.split_once('.').is_some_and(|(_, rest)| rest == parent),
                None => pattern == name,
            },
            _ => false,
        })
    }
}

impl fmt::Display for GatewayHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            San::Ip(IpAddr::V6(ip)) => write!(f, "tcp://[{ip}]:{}", self.port),
            other => write!(f, "tcp://{}:{}", other.value(), self.port),
        }
    }
}

/// A client's files and what the bundle checks about them, read under the
/// folder's shared lock.
struct ClientFiles {
    /// `clients/NAME/ca.pem`.
    ca: Vec<u8>,
    /// `clients/NAME/cert.pem`.
    cert: Vec<u8>,
    /// `clients/NAME/key.pem`.
    key: Vec<u8>,
    /// The certificate's serial, hex.
    serial: String,
    /// The certificate's end of validity.
    not_after: OffsetDateTime,
    /// The SANs of the current server certificate, if the index has one.
    server_sans: Option<Vec<San>>,
}

impl ClientFiles {
    /// Reads `name`'s files from `layout`, refusing a certificate that is
    /// expired or revoked: a bundle of it could only be turned away.
    fn read(layout: &Layout, name: &str) -> Result<ClientFiles, PkiError> {
        let cert_path = layout.client_cert(name);
        if !cert_path.exists() {
            return Err(PkiError::NoClient {
                name: name.to_owned(),
                dir: layout.dir.clone(),
            });
        }
        let der = cert::read_cert_der(&cert_path)?;
        let (_, parsed) =
            x509_parser::parse_x509_certificate(&der).map_err(|e| PkiError::Parse {
                path: cert_path.clone(),
                reason: e.to_string(),
            })?;
        let serial = cert::serial_hex(parsed.raw_serial());
        let not_after = parsed.validity().not_after.to_datetime();
        let unusable = |reason: String| PkiError::ClientUnusable {
            name: name.to_owned(),
            dir: layout.dir.clone(),
            serial: serial.clone(),
            reason,
        };
        if not_after < OffsetDateTime::now_utc() {
            return Err(unusable(format!("expired on {}", cert::day(not_after))));
        }
        let index = Index::load(layout)?;
        if index
            .certs
            .iter()
            .any(|e| e.serial == serial && e.status == Status::Revoked)
        {
            return Err(unusable("is revoked".into()));
        }
        let server_sans = index.current_server().map(|server| {
            server
                .sans
                .iter()
                .filter_map(|s| San::parse(s).ok())
                .collect()
        });
        Ok(ClientFiles {
            ca: files::read(&layout.client_ca(name))?,
            cert: files::read(&cert_path)?,
            key: files::read(&layout.client_key(name))?,
            serial,
            not_after,
            server_sans,
        })
    }
}

/// `meta.json`, field for field as the docker CLI stores a context.
#[derive(Serialize)]
struct Meta<'a> {
    #[serde(rename = "Name")]
    name: &'a str,
    #[serde(rename = "Metadata")]
    metadata: ContextMeta,
    #[serde(rename = "Endpoints")]
    endpoints: Endpoints,
}

/// What `docker context ls` shows about a context.
#[derive(Serialize)]
struct ContextMeta {
    #[serde(rename = "Description")]
    description: String,
}

/// The one endpoint a Docker context needs.
#[derive(Serialize)]
struct Endpoints {
    #[serde(rename = "docker")]
    docker: Endpoint,
}

/// The Engine endpoint: the gateway, with the server certificate checked.
#[derive(Serialize)]
struct Endpoint {
    #[serde(rename = "Host")]
    host: String,
    #[serde(rename = "SkipTLSVerify")]
    skip_tls_verify: bool,
}

/// The archive's bytes, entries in the order `docker context export`
/// writes them.
fn archive(context: &str, client: &str, host: &GatewayHost, files: &ClientFiles) -> Vec<u8> {
    let meta = Meta {
        name: context,
        metadata: ContextMeta {
            description: format!("dockgate client {client}"),
        },
        endpoints: Endpoints {
            docker: Endpoint {
                host: host.to_string(),
                skip_tls_verify: false,
            },
        },
    };
    // Strings and a bool into memory: serde_json has nothing to refuse.
    let meta = serde_json::to_vec(&meta).expect("meta.json serializes");
    let mut tar = Ustar::new();
    tar.file("meta.json", PUBLIC_MODE, &meta);
    tar.dir("tls", TLS_DIR_MODE);
    tar.dir("tls/docker", TLS_DIR_MODE);
    tar.file("tls/docker/ca.pem", KEY_MODE, &files.ca);
    tar.file("tls/docker/cert.pem", KEY_MODE, &files.cert);
    tar.file("tls/docker/key.pem", KEY_MODE, &files.key);
    tar.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_names_follow_the_docker_cli() {
        for good in ["ab", "alice", "ci-runner.01", "A_b+c", "0x"] {
            assert!(check_context_name(good).is_ok(), "{good}");
        }
        let reasons = [
            ("a", "at least 2 characters"),
            ("", "at least 2 characters"),
            ("default", "reserves it"),
            ("_ab", "must start with"),
            (".ab", "must start with"),
            ("a/b", "'/' is not allowed"),
            ("a b", "' ' is not allowed"),
            ("café", "'é' is not allowed"),
        ];
        for (name, reason) in reasons {
            let err = check_context_name(name).unwrap_err().to_string();
            assert!(err.contains(reason), "{name}: {err}");
        }
    }

    #[test]
    fn hosts_are_tcp_host_port() {
        let cases = [
            (
                "tcp://Docker.Example.com:2376",
                "tcp://docker.example.com:2376",
            ),
            ("tcp://192.0.2.10:1", "tcp://192.0.2.10:1"),
            ("tcp://[::1]:65535", "tcp://[::1]:65535"),
        ];
        for (text, canonical) in cases {
            assert_eq!(GatewayHost::parse(text).unwrap().to_string(), canonical);
        }
        let reasons = [
            ("docker.example.com:2376", "expected tcp://HOST:PORT"),
            (
                "https://docker.example.com:2376",
                "expected tcp://HOST:PORT",
            ),
            ("unix:///var/run/docker.sock", "expected tcp://HOST:PORT"),
            ("tcp://docker.example.com", "needs a port"),
            ("tcp://docker.example.com:", "the port must be"),
            ("tcp://docker.example.com:0", "the port must be"),
            ("tcp://docker.example.com:65536", "the port must be"),
            ("tcp://docker.example.com:+1", "the port must be"),
            ("tcp://docker.example.com:2376/", "'/' is not allowed"),
            ("tcp://user@docker.example.com:2376", "'@' is not allowed"),
            ("tcp://:2376", "empty DNS name"),
            ("tcp://a_b:2376", "is not allowed in a DNS label"),
            ("tcp://*.example.com:2376", "wildcard"),
            ("tcp://::1:2376", "in brackets"),
            ("tcp://[::1:2376", "no ']'"),
            ("tcp://[nope]:2376", "not an IPv6 address"),
            ("tcp://[::1]", "needs a port"),
        ];
        for (text, reason) in reasons {
            let err = GatewayHost::parse(text).unwrap_err().to_string();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn server_sans_name_the_host_as_tls_clients_check_them() {
        let sans: Vec<San> = ["DNS:docker.example.com", "DNS:*.gw.example.com", "IP:::1"]
            .iter()
            .map(|s| San::parse(s).unwrap())
            .collect();
        let named = |host: &str| GatewayHost::parse(host).unwrap().is_named_by(&sans);
        assert!(named("tcp://DOCKER.example.com:2376"));
        assert!(named("tcp://a.gw.example.com:2376"));
        assert!(named("tcp://[::1]:2376"));
        assert!(!named("tcp://gw.example.com:2376"));
        assert!(!named("tcp://a.b.gw.example.com:2376"));
        assert!(!named("tcp://example.com:2376"));
        assert!(!named("tcp://127.0.0.1:2376"));
    }
}
