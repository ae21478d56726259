//! What the `pki` commands print on success: the files made, the facts a
//! user needs to check (SANs, serial, expiry, clamping), and for clients the
//! exact docker commands that use the new certificate.

use std::path::Path;

use super::bundle::{check_context_name, BundleReport};
use super::crl::RevokeReport;
use super::files::Layout;
use super::index::{Index, Kind};
use super::init::InitReport;
use super::leaf::IssueReport;
use super::{cert, PkiError};

/// The port the Docker CLI uses for TLS by convention.
const DOCKER_TLS_PORT: u16 = 2376;

/// Prints what `init` made.
pub fn init(r: &InitReport) {
    if let Some(root) = &r.root {
        println!(
            "created root CA {} (serial {})",
            root.cert.display(),
            root.serial
        );
        println!(
            "  key  {} (mode 0600): nothing signs with it from now on; move it offline",
            root.key.display()
        );
        println!("       (it is needed again only to replace the intermediate)");
        println!(
            "  crl  {} (empty, current until the root expires)",
            root.crl.display()
        );
        println!("  valid until {}", cert::timestamp(root.not_after));
        println!(
            "created intermediate CA {} (serial {}), signed by the root",
            r.ca_cert.display(),
            r.serial
        );
        println!(
            "  {} holds the intermediate then the root: use it as [tls] ca",
            r.ca_cert.display()
        );
    } else {
        println!("created CA {} (serial {})", r.ca_cert.display(), r.serial);
    }
    println!("  key  {} (mode 0600, keep it private)", r.ca_key.display());
    if r.root.is_some() {
        println!(
            "  crl  {} (the intermediate's CRL, empty, then the root's: use it as [tls] crl)",
            r.crl.display()
        );
    } else {
        println!("  crl  {} (empty)", r.crl.display());
    }
    println!("  valid until {}", cert::timestamp(r.not_after));
}

/// Prints what `server`, `client` or `renew` made.
pub fn issued(r: &IssueReport) {
    let what = match r.kind {
        Kind::Server => "server certificate".to_owned(),
        _ => format!("client certificate for {}", r.name),
    };
    println!("created {what} {} (serial {})", r.cert.display(), r.serial);
    println!("  key  {} (mode 0600)", r.key.display());
    if !r.sans.is_empty() {
        println!("  SANs {}", r.sans.join(", "));
    }
    println!("  valid until {}", cert::timestamp(r.not_after));
    if r.clamped {
        println!("  note: shortened to end with the CA, which expires then");
    }
    if let Some(kept) = &r.kept {
        println!(
            "  previous certificate kept as {} (still valid until it expires or is revoked)",
            kept.display()
        );
    }
}

/// Prints the environment and `docker context` lines for a new client.
pub fn docker_usage(dir: &Path, r: &IssueReport, host: Option<&str>) -> Result<(), PkiError> {
    let layout = Layout::new(dir);
    let client_dir = layout.client_dir(&r.name);
    let abs = client_dir
        .canonicalize()
        .map_err(|e| PkiError::io(&client_dir, e))?;
    let host = match host {
        Some(h) => h.to_owned(),
        None => default_host(&layout),
    };
    let d = abs.display();
    println!();
    println!("use it with:");
    println!(
        "  export DOCKER_HOST=tcp://{host}:{DOCKER_TLS_PORT} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={d}"
    );
    println!(
        "  docker context create {name} --docker \"host=tcp://{host}:{DOCKER_TLS_PORT},ca={d}/ca.pem,cert={d}/cert.pem,key={d}/key.pem\"",
        name = r.name
    );
    // The one-file form, when the client's name also names a context.
    if check_context_name(&r.name).is_ok() {
        let pki_dir = dir.canonicalize().map_err(|e| PkiError::io(dir, e))?;
        println!(
            "  dockgate pki bundle {name} --dir {pki} --host tcp://{host}:{DOCKER_TLS_PORT}   # then: docker context import {name} {name}.dockercontext",
            name = r.name,
            pki = pki_dir.display()
        );
    }
    Ok(())
}

/// Prints what `bundle` wrote and how to use it.
pub fn bundled(r: &BundleReport) {
    println!(
        "wrote {} (mode 0600: it holds the key of client {})",
        r.path.display(),
        r.client
    );
    println!("  context {} for {}", r.context, r.host);
    println!(
        "  client certificate serial {}, valid until {}",
        r.serial,
        cert::timestamp(r.not_after)
    );
    if let Some(sans) = &r.unmatched_sans {
        println!(
            "  note: the server certificate's SANs ({}) do not name this host, so the docker CLI will refuse the gateway: give a --host they name, or reissue it with `dockgate pki server --force --san {} …`",
            sans.join(", "),
            r.host_san
        );
    }
    println!();
    println!("use it with:");
    println!("  docker context import {} {}", r.context, r.path.display());
    println!("  docker --context {} ps", r.context);
}

/// Prints what `revoke` did.
pub fn revoked(r: &RevokeReport) {
    println!("revoked {} (serial {})", r.name, r.serial);
    println!(
        "wrote {} (CRL number {}); a gateway using it reloads it within seconds and closes the client's connections (a copy elsewhere needs copying)",
        r.crl.display(),
        r.crl_number
    );
}

/// The first non-wildcard DNS SAN of the current server certificate, else
/// this machine's host name, else `localhost`.
fn default_host(layout: &Layout) -> String {
    let from_server = Index::load(layout).ok().and_then(|index| {
        index.current_server().and_then(|server| {
            server
                .sans
                .iter()
                .filter_map(|s| s.strip_prefix("DNS:"))
                .find(|name| !name.starts_with("*."))
                .map(str::to_owned)
        })
    });
    from_server
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .or_else(|_| std::fs::read_to_string("/etc/hostname"))
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".into())
}
