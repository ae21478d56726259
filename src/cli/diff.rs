//! `dockgate policy diff`: which logged requests a configuration would
//! refuse, and why, before it is put in front of the clients.
//!
//! Each logged request is judged again by [`crate::cli::explain::refusal`],
//! the judge the gateway runs, with its method, path and client as logged.
//! Bodies are not logged: what a body needed comes from the line's `grants`
//! field ([`crate::config::needed`]) and is compared with the grants of the
//! policy whose rule allows the request. Lines refused for what no policy
//! decides (non-canonical targets, identities, limits) are not judged again.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::cli::audit_log::{self, Entry, Logged, Place};
use crate::cli::explain;
use crate::cli::learn::{self, comment, Target, POLICY_REASONS};
use crate::config::Config;

/// Refused requests of one kind: same rule, same answer.
#[derive(Debug)]
pub struct Refused {
    pub count: u64,
    /// The first line's timestamp, method, path and place, and the refusal.
    pub first: (String, String, String, Place),
    pub why: String,
}

/// One client's judged lines.
#[derive(Debug, Default)]
pub struct ClientDiff {
    pub judged: u64,
    /// By (`METHOD GLOB` or the path, the refusal without the path).
    pub refused: BTreeMap<(String, String), Refused>,
}

/// Every client's, and the lines not judged again.
#[derive(Debug, Default)]
pub struct Diff {
    pub clients: BTreeMap<String, ClientDiff>,
    pub not_judged: u64,
}

impl Diff {
    pub fn read(config: &Config, paths: &[PathBuf], only: Option<&str>) -> io::Result<Diff> {
        let mut diff = Diff::default();
        for path in paths {
            audit_log::read(path, |place, entry| {
                if let Entry::Audit(logged) = entry {
                    if only.is_none_or(|c| c == logged.client) {
                        diff.add(config, &logged, place);
                    }
                }
            })
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        }
        Ok(diff)
    }

    pub fn add(&mut self, config: &Config, logged: &Logged, place: Place) {
        let judged = matches!(logged.decision.as_str(), "allow" | "would_deny")
            || (logged.decision == "deny" && POLICY_REASONS.contains(&logged.reason.as_str()));
        if logged.client.is_empty() || !judged {
            self.not_judged += 1;
            return;
        }
        let client = self.clients.entry(logged.client.clone()).or_default();
        client.judged += 1;
        let Some(why) = explain::refusal(config, logged) else {
            return;
        };
        let kind = match learn::target(&logged.method, &logged.path) {
            Target::Rule(rule) => rule,
            Target::Unknown(route) | Target::Invalid(route) => route,
        };
        // The refusal names the path; requests of one rule differ only there.
        let key = (kind, why.replace(&logged.path, "…"));
        let first = (
            logged.timestamp.clone(),
            logged.method.clone(),
            logged.path.clone(),
            place,
        );
        let entry = client.refused.entry(key).or_insert_with(|| Refused {
            count: 0,
            first: first.clone(),
            why: why.clone(),
        });
        entry.count += 1;
        if (&first.0, &first.3) < (&entry.first.0, &entry.first.3) {
            entry.first = first;
            entry.why = why;
        }
    }

    pub fn refuses_any(&self) -> bool {
        self.clients.values().any(|c| !c.refused.is_empty())
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, client) in &self.clients {
            let refused: u64 = client.refused.values().map(|r| r.count).sum();
            if refused == 0 {
                writeln!(
                    f,
                    "client {:?}: allows all {} logged requests",
                    comment(name),
                    client.judged
                )?;
                continue;
            }
            writeln!(
                f,
                "client {:?}: refuses {refused} of {} logged requests",
                comment(name),
                client.judged
            )?;
            for ((kind, _), r) in &client.refused {
                let (at, method, path, place) = &r.first;
                let s = if r.count == 1 { "" } else { "s" };
                writeln!(
                    f,
                    "  {}: {} request{s}, first {} {} {} ({})",
                    comment(kind),
                    r.count,
                    comment(at),
                    comment(method),
                    comment(path),
                    comment(&place.to_string()),
                )?;
                writeln!(f, "    {}", comment(&r.why))?;
            }
        }
        if self.not_judged > 0 {
            writeln!(
                f,
                "({} lines not judged again: refused for what no policy decides, or without a client)",
                self.not_judged
            )?;
        }
        Ok(())
    }
}
