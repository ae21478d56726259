//! `dockgate quickstart`: from nothing to a working gateway in one command,
//! on a host with Docker. In the folder it is given (the repository root by
//! default) it makes whatever is missing: `certs/` with a CA, a server
//! certificate for this host, `localhost` and 127.0.0.1, and the clients
//! `admin` and `viewer`; and `config/dockgate.toml` (the example
//! configuration). Then it serves that configuration on 127.0.0.1:2376 and
//! prints the docker commands to try as each client.

use std::path::{Path, PathBuf};

use crate::pki::{self, PkiError};
use crate::run::daemon::{Daemon, StartError};

/// The example configuration, shipped inside the binary so quickstart works
/// from an installed `dockgate` too.
pub const EXAMPLE_CONFIG: &str = include_str!("../../config/dockgate.toml");

#[derive(Debug, thiserror::Error)]
pub enum QuickstartError {
    #[error("{0}")]
    Pki(#[from] PkiError),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Start(#[from] StartError),
}

/// Prepares `dir` and returns a bound daemon serving its config.
pub async fn prepare(dir: &Path) -> Result<Daemon, QuickstartError> {
    let certs = dir.join("certs");
    let config = dir.join("config").join("dockgate.toml");
    let host = host_name();
    let report = pki::quickstart_pki(&certs, host.as_deref().unwrap_or("localhost"))?;
    print!("{report}");
    if !config.exists() {
        let write = |path: &Path| -> std::io::Result<()> {
            std::fs::create_dir_all(path.parent().expect("config path has a folder"))?;
            std::fs::write(path, EXAMPLE_CONFIG)
        };
        write(&config).map_err(|source| QuickstartError::Write {
            path: config.clone(),
            source,
        })?;
        println!("wrote the example configuration to {}", config.display());
    }
    let daemon = Daemon::bind(&config).await?;
    let certs = std::fs::canonicalize(&certs).unwrap_or(certs);
    let port = daemon.local_addr().port();
    let engine = daemon.control().current().upstream.ping().await;
    if let Err(why) = engine {
        println!("\nwarning: {why}\n(the gateway runs, but allowed requests will get 502 until the Engine answers)");
    }
    println!(
        "\ndockgate serves {} on 127.0.0.1:{port}. Try, in another shell:\n",
        config.display()
    );
    let env = |client: &str| {
        format!(
            "DOCKER_HOST=tcp://localhost:{port} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={}",
            certs.join("clients").join(client).display()
        )
    };
    println!("  # admin may do anything that does not grant the host:");
    println!("  {} docker version", env("admin"));
    println!("  {} docker run --rm busybox echo hello", env("admin"));
    println!(
        "  {} docker run --rm --privileged busybox true   # refused: privileged is not granted",
        env("admin")
    );
    println!("  # viewer may only look:");
    println!("  {} docker ps", env("viewer"));
    println!(
        "  {} docker run --rm busybox true   # refused: the read-only policy has no rule for it",
        env("viewer")
    );
    println!(
        "\nStop with Ctrl-C. Edit {} and send SIGHUP to reload.\n",
        config.display()
    );
    Ok(daemon)
}

/// This host's name, when it is usable as a DNS SAN.
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty() && pki::names::San::for_host(name).is_ok()).then(|| name.to_owned())
}
