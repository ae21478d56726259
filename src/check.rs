//! `dockgate check`: everything `serve` validates, reported one finding per
//! line so an admin can fix a host before starting (or reloading) the
//! gateway: the config, each TLS file, how long each certificate has left,
//! whether the CRL is the CA's, whether the Engine answers, and who may use
//! which policies.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use crate::config::Config;
use crate::tls::Tls;

/// Certificates closer than this to expiry get a warning.
const EXPIRY_WARNING_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warning,
    Error,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub subject: String,
    pub message: String,
}

/// Everything `check` found.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    fn push(&mut self, level: Level, subject: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding {
            level,
            subject: subject.into(),
            message: message.into(),
        });
    }

    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.level == Level::Error)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            let tag = match finding.level {
                Level::Ok => "ok     ",
                Level::Warning => "warning",
                Level::Error => "error  ",
            };
            writeln!(f, "{tag} {}: {}", finding.subject, finding.message)?;
        }
        let errors = self
            .findings
            .iter()
            .filter(|f| f.level == Level::Error)
            .count();
        let warnings = self
            .findings
            .iter()
            .filter(|f| f.level == Level::Warning)
            .count();
        write!(f, "{errors} error(s), {warnings} warning(s)")
    }
}

/// Checks a config file and everything it names. The Engine is asked for
/// `/_ping` with `engine_timeout`.
pub async fn check(config_path: &Path, engine_timeout: Duration) -> Report {
    let mut report = Report::default();
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(e) => {
            for line in e.to_string().lines() {
                report.push(Level::Error, "config", line);
            }
            return report;
        }
    };
    report.push(
        Level::Ok,
        "config",
        format!(
            "{} is valid; listen {}",
            config_path.display(),
            config.listen
        ),
    );
    check_tls_files(&config, &mut report);
    match Tls::load(&config.tls) {
        Ok(_) => report.push(
            Level::Ok,
            "tls",
            "certificate, key, CA and CRL load together (the key matches the certificate)",
        ),
        Err(e) => report.push(Level::Error, "tls", e.to_string()),
    }
    check_engine(&config, engine_timeout, &mut report).await;
    for (client, policies) in &config.clients {
        let names: Vec<_> = policies.iter().map(|p| &*p.name).collect();
        report.push(
            Level::Ok,
            format!("client {client}"),
            format!("policies {}", names.join(", ")),
        );
    }
    for (name, policy) in &config.policies {
        if !config
            .clients
            .values()
            .any(|ps| ps.iter().any(|p| *p.name == **name))
        {
            report.push(
                Level::Warning,
                format!("policy {name}"),
                "no client uses it",
            );
        }
        if policy.rules.is_empty() {
            report.push(
                Level::Warning,
                format!("policy {name}"),
                "has no rules: it allows nothing",
            );
        }
    }
    report
}

fn check_tls_files(config: &Config, report: &mut Report) {
    let Some(ca_der) = read_pem(&config.tls.ca, "CERTIFICATE", report, "tls.ca") else {
        return;
    };
    let Ok((_, ca)) = X509Certificate::from_der(&ca_der) else {
        report.push(
            Level::Error,
            "tls.ca",
            format!("{}: not an X.509 certificate", config.tls.ca.display()),
        );
        return;
    };
    if !ca.is_ca() {
        report.push(
            Level::Error,
            "tls.ca",
            format!(
                "{}: not a CA certificate (basicConstraints CA:false)",
                config.tls.ca.display()
            ),
        );
    }
    expiry(&ca, "tls.ca", &config.tls.ca, report);

    if let Some(der) = read_pem(&config.tls.cert, "CERTIFICATE", report, "tls.cert") {
        match X509Certificate::from_der(&der) {
            Err(_) => report.push(
                Level::Error,
                "tls.cert",
                format!("{}: not an X.509 certificate", config.tls.cert.display()),
            ),
            Ok((_, cert)) => {
                match cert.verify_signature(Some(ca.public_key())) {
                    Ok(()) => report.push(
                        Level::Ok,
                        "tls.cert",
                        format!("{} chains to the CA", config.tls.cert.display()),
                    ),
                    Err(_) => report.push(
                        Level::Error,
                        "tls.cert",
                        format!(
                            "{} is not signed by the CA in {}",
                            config.tls.cert.display(),
                            config.tls.ca.display()
                        ),
                    ),
                }
                match cert.subject_alternative_name() {
                    Ok(Some(san)) if !san.value.general_names.is_empty() => {
                        let names: Vec<_> =
                            san.value.general_names.iter().map(general_name).collect();
                        report.push(Level::Ok, "tls.cert", format!("SANs {}", names.join(", ")));
                    }
                    _ => report.push(
                        Level::Error,
                        "tls.cert",
                        "no subject alternative names: Go clients (docker) will refuse it",
                    ),
                }
                expiry(&cert, "tls.cert", &config.tls.cert, report);
            }
        }
    }

    if let Some(crl_path) = &config.tls.crl {
        if let Some(der) = read_pem(crl_path, "X509 CRL", report, "tls.crl") {
            match CertificateRevocationList::from_der(&der) {
                Err(_) => report.push(
                    Level::Error,
                    "tls.crl",
                    format!("{}: not a CRL", crl_path.display()),
                ),
                Ok((_, crl)) => match crl.verify_signature(ca.public_key()) {
                    Ok(()) => {
                        let revoked = crl.iter_revoked_certificates().count();
                        let number = crl
                            .crl_number()
                            .map(|n| format!(" number {n},"))
                            .unwrap_or_default();
                        report.push(
                            Level::Ok,
                            "tls.crl",
                            format!(
                                "{} signed by the CA,{number} {revoked} revoked",
                                crl_path.display()
                            ),
                        );
                    }
                    Err(_) => report.push(
                        Level::Error,
                        "tls.crl",
                        format!(
                            "{} is not signed by the CA in {}",
                            crl_path.display(),
                            config.tls.ca.display()
                        ),
                    ),
                },
            }
        }
    }
}

fn read_pem(path: &Path, label: &str, report: &mut Report, subject: &str) -> Option<Vec<u8>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            report.push(Level::Error, subject, format!("{}: {e}", path.display()));
            return None;
        }
    };
    let found = Pem::iter_from_buffer(&bytes)
        .filter_map(Result::ok)
        .find(|p| p.label == label);
    if found.is_none() {
        report.push(
            Level::Error,
            subject,
            format!("{}: no {label} PEM block", path.display()),
        );
    }
    found.map(|p| p.contents)
}

fn expiry(cert: &X509Certificate<'_>, subject: &str, path: &Path, report: &mut Report) {
    let now = x509_parser::time::ASN1Time::now();
    let validity = cert.validity();
    if validity.not_before > now {
        report.push(
            Level::Error,
            subject,
            format!(
                "{} is not valid before {}",
                path.display(),
                validity.not_before
            ),
        );
        return;
    }
    let days = (validity.not_after.timestamp() - now.timestamp()) / 86_400;
    let level = match days {
        d if d < 0 => Level::Error,
        d if d < EXPIRY_WARNING_DAYS => Level::Warning,
        _ => Level::Ok,
    };
    let what = if days < 0 {
        "expired".to_owned()
    } else {
        format!("{days} days left")
    };
    report.push(
        level,
        subject,
        format!("{} expires {} ({what})", path.display(), validity.not_after),
    );
}

async fn check_engine(config: &Config, timeout: Duration, report: &mut Report) {
    let upstream = crate::upstream::Upstream::new(&config.upstream, timeout);
    match upstream.ping().await {
        Ok(()) => report.push(
            Level::Ok,
            "upstream",
            format!(
                "the Docker Engine at {} answers /_ping",
                config.upstream.display()
            ),
        ),
        Err(why) => report.push(Level::Warning, "upstream", why),
    }
}

/// `DNS:host` / `IP:addr`, the way `pki` and openssl write SANs.
fn general_name(name: &x509_parser::extensions::GeneralName<'_>) -> String {
    use x509_parser::extensions::GeneralName;
    match name {
        GeneralName::DNSName(d) => format!("DNS:{d}"),
        GeneralName::IPAddress(b) => match <[u8; 4]>::try_from(*b) {
            Ok(v4) => format!("IP:{}", std::net::Ipv4Addr::from(v4)),
            Err(_) => match <[u8; 16]>::try_from(*b) {
                Ok(v6) => format!("IP:{}", std::net::Ipv6Addr::from(v6)),
                Err(_) => "IP:(malformed)".to_owned(),
            },
        },
        other => other.to_string(),
    }
}
