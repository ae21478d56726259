//! `dockgate check`: everything `serve` validates, reported one finding per
//! line so an admin can fix a host before starting (or reloading) the
//! gateway: the config, each TLS file, how long each certificate has left,
//! whether the CRL is the CA's, whether the Engine answers, and who may use
//! which policies.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use x509_parser::time::ASN1Time;

use crate::config::policy::{Policy, Rule};
use crate::config::snapshot::{LoadError, Snapshot};
use crate::config::tls::TlsFacts;
use crate::config::Config;
use crate::request::judge::route::{Route, ROUTES};

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

/// Checks a config file and everything it names, with the judgement
/// `serve` and a reload use ([`Snapshot::load`]): what is an error here
/// stops a start and is refused by a reload. The Engine is asked for
/// `/_ping` with `engine_timeout`.
pub async fn check(config_path: &Path, engine_timeout: Duration) -> Report {
    let mut report = Report::default();
    let (config, tls) = match Snapshot::load(config_path, None) {
        Ok(snapshot) => (Config::clone(&snapshot.config), Ok(snapshot.tls)),
        Err(LoadError::Tls(e)) => match Config::load(config_path) {
            Ok(config) => (config, Err(e)),
            Err(e) => return config_errors(report, &e.to_string()),
        },
        Err(e) => return config_errors(report, &e.to_string()),
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
    match tls {
        Ok(tls) => report_tls(&config, &tls.facts, &mut report),
        Err(e) => {
            for problem in e.problems {
                report.push(Level::Error, problem.key, problem.message);
            }
        }
    }
    check_engine(&config, engine_timeout, &mut report).await;
    if config.clients.is_empty() {
        report.push(
            Level::Warning,
            "clients",
            "none configured: every request is refused (a reload to this needs `allow_no_clients = true`)",
        );
    }
    for (name, client) in &config.clients {
        let names: Vec<_> = client.policies.iter().map(|p| &*p.name).collect();
        let tenant = match &client.tenant {
            Some(tenant) => format!("tenant {tenant}"),
            None => "no tenant (unconfined)".to_owned(),
        };
        let known_by = match (&client.known_by.local, &client.known_by.san) {
            (Some(local), _) => known_locally(local),
            (None, Some(san)) => format!("known by SAN {san}"),
            (None, None) => "known by CN".to_owned(),
        };
        let pinned = match &client.known_by.spki {
            Some(spki) => format!(" with key {spki}"),
            None => String::new(),
        };
        report.push(
            Level::Ok,
            format!("client {name}"),
            format!(
                "policies {}; {tenant}; {known_by}{pinned}",
                names.join(", ")
            ),
        );
    }
    for (name, policy) in &config.policies {
        if !config
            .clients
            .values()
            .any(|c| c.policies.iter().any(|p| *p.name == **name))
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
        for (rule, earlier) in policy.shadowed_constraints() {
            report.push(
                Level::Warning,
                format!("policy {name}"),
                format!("rule {:?} never decides: the earlier rule {:?} allows the same requests whatever their query", rule.text(), earlier.text()),
            );
        }
        for (rule, key, routes) in unread_constraints(policy) {
            report.push(
                Level::Warning,
                format!("policy {name}"),
                format!("rule {:?} constrains {key:?}, which the Engine does not read on {routes}: a request may send it and still get the Engine's default", rule.text()),
            );
        }
        for (rule, key, since, routes) in versioned_constraints(policy) {
            report.push(
                Level::Warning,
                format!("policy {name}"),
                format!("rule {:?} asks for {key:?}, which the Engine reads on {routes} only from API {since}: an older Engine ignores it and applies its default (a request naming an older API version is refused)", rule.text()),
            );
        }
        for rule in policy.rules.iter().filter(|r| r.looks_like_a_query()) {
            report.push(
                Level::Warning,
                format!("policy {name}"),
                format!("in rule {:?} the last \"?\" is a glob wildcard for one character; a query constraint is \"?KEY=VALUE|VALUE\"", rule.text()),
            );
        }
    }
    report
}

/// The Engine routes `rule` of `policy` reaches: its method (any, when it
/// names none) and a path its glob matches.
fn reached<'p>(policy: &'p Policy, rule: &'p Rule) -> impl Iterator<Item = &'static Route> + 'p {
    ROUTES
        .iter()
        .filter(|route| rule.method.as_ref().is_none_or(|m| *m == route.method))
        .filter(|route| {
            policy
                .rules_matching(&route.example())
                .any(|r| std::ptr::eq(r, rule))
        })
}

/// Constrained keys that no Engine route a rule reaches reads: a typo
/// (`sig=HUP`) would let a request through that the Engine then reads with
/// its default. Only routes whose parameters are listed are judged.
fn unread_constraints(policy: &Policy) -> Vec<(&Rule, &str, String)> {
    let mut found = Vec::new();
    for rule in policy.rules.iter().filter(|r| !r.query.is_empty()) {
        let reached: Vec<&Route> = reached(policy, rule).collect();
        let Some(read) = reached
            .iter()
            .map(|route| route.query_parameters())
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        if reached.is_empty() {
            continue;
        }
        for constraint in &rule.query {
            if !read
                .iter()
                .any(|keys| keys.contains(&constraint.key.as_str()))
            {
                let names: Vec<&str> = reached.iter().map(|r| r.name).collect();
                found.push((rule, constraint.key.as_str(), names.join(", ")));
            }
        }
    }
    found
}

/// Constraints that ask for a value of a key the routes a rule reaches
/// read only from some API version: an older Engine acts as if it were
/// absent, which the constraint does not allow.
fn versioned_constraints(policy: &Policy) -> Vec<(&Rule, &str, &'static str, String)> {
    let mut found = Vec::new();
    for rule in policy.rules.iter() {
        for constraint in rule
            .query
            .iter()
            .filter(|c| !c.values.iter().any(String::is_empty))
        {
            let key = constraint.key.as_str();
            let gated: Vec<(&Route, &'static str)> = reached(policy, rule)
                .filter_map(|route| Some((route, route.reads_query_since(key)?)))
                .collect();
            if let Some((_, since)) = gated.first() {
                let names: Vec<&str> = gated.iter().map(|(r, _)| r.name).collect();
                found.push((rule, key, *since, names.join(", ")));
            }
        }
    }
    found
}

fn config_errors(mut report: Report, text: &str) -> Report {
    for line in text.lines() {
        report.push(Level::Error, "config", line);
    }
    report
}

/// The facts behind TLS material that passed: what it is, and how long
/// until it expires.
fn report_tls(config: &Config, facts: &TlsFacts, report: &mut Report) {
    let files = &config.tls;
    if facts.cas.len() > 1 {
        for (i, ca) in facts.cas.iter().enumerate() {
            let label = format!(
                "{}, certificate {} ({})",
                files.ca.display(),
                i + 1,
                ca.subject
            );
            expiry(ca.not_after, "tls.ca", &label, report);
        }
    } else {
        expiry(
            facts.ca_not_after,
            "tls.ca",
            &files.ca.display().to_string(),
            report,
        );
    }
    report.push(
        Level::Ok,
        "tls.cert",
        if facts.cas.len() > 1 {
            format!(
                "{} chains to the CA {} in {}",
                files.cert.display(),
                facts.cert_issuer,
                files.ca.display()
            )
        } else {
            format!("{} chains to the CA", files.cert.display())
        },
    );
    report.push(
        Level::Ok,
        "tls.cert",
        format!("SANs {}", facts.sans.join(", ")),
    );
    expiry(
        facts.cert_not_after,
        "tls.cert",
        &files.cert.display().to_string(),
        report,
    );
    if facts.crls.is_empty() {
        report.push(
            Level::Warning,
            "tls.crl",
            "none configured: revoked certificates are not refused (a reload to this from a configuration with a CRL needs `allow_no_crl = true` in [tls])",
        );
    }
    for crl in &facts.crls {
        let number = crl
            .facts
            .number
            .as_ref()
            .map(|n| format!(" number {n},"))
            .unwrap_or_default();
        let signer = if facts.cas.len() > 1 {
            format!("the CA {}", crl.issuer)
        } else {
            "the CA".to_owned()
        };
        report.push(
            Level::Ok,
            "tls.crl",
            format!(
                "{} signed by {signer},{number} {} revoked",
                crl.path.display(),
                crl.facts.revoked
            ),
        );
    }
    if !facts.crls.is_empty() {
        // Not an error: a root that issues only intermediates needs no CRL
        // here. But a client issued by a CA without one fails the handshake.
        for ca in facts.cas.iter().filter(|ca| !ca.has_crl) {
            report.push(
                Level::Warning,
                "tls.crl",
                format!(
                    "no CRL from the CA {} in {}, where other CAs have one: clients it issues directly are refused (their revocation status is unknown); add its CRL to `crl` unless it issues no client certificates",
                    ca.subject,
                    files.ca.display()
                ),
            );
        }
    }
    report.push(
        Level::Ok,
        "tls",
        "certificate, key, CA and CRL load together (the key matches the certificate)",
    );
}

/// Material past its end is refused by [`Tls::read`]; here it is only
/// how long is left.
fn expiry(not_after: ASN1Time, subject: &str, what: &str, report: &mut Report) {
    let days = (not_after.timestamp() - ASN1Time::now().timestamp()) / 86_400;
    let level = if days < EXPIRY_WARNING_DAYS {
        Level::Warning
    } else {
        Level::Ok
    };
    report.push(
        level,
        subject,
        format!("{what} expires {} ({days} days left)", not_after),
    );
}

async fn check_engine(config: &Config, timeout: Duration, report: &mut Report) {
    let upstream = crate::request::upstream::Upstream::new(&config.upstream, timeout);
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

/// How a local client is known, for the report: its own socket, and the
/// uids and gids it is on the shared socket.
fn known_locally(local: &crate::config::identities::Local) -> String {
    let mut ways = Vec::new();
    if let Some(socket) = &local.socket {
        ways.push(format!(
            "its own socket {} (mode {:04o})",
            socket.path.display(),
            socket.mode
        ));
    }
    let list = |ids: &[u32]| {
        ids.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !local.uids.is_empty() {
        ways.push(format!("uid {} on local_listen", list(&local.uids)));
    }
    if !local.gids.is_empty() {
        ways.push(format!("gid {} on local_listen", list(&local.gids)));
    }
    format!("known locally only, by {}", ways.join(", or "))
}
