//! `dockgate policy diff`: which logged requests a configuration would
//! refuse, and why, before it is put in front of the clients.
//!
//! Each logged request is judged again by [`crate::cli::explain::refusal`],
//! the judge the gateway runs, with its method, path and client as logged.
//! Bodies are not logged: what a body needed comes from the line's `grants`
//! field ([`crate::config::needed`]) and is compared with the grants of the
//! policy whose rule allows the request. Lines refused for what no policy
//! decides (non-canonical targets, identities, limits) are not judged again.
//! The query is judged from the pairs the line kept; a line a rule could
//! decide by a key it did not keep is listed as one that cannot be judged
//! ([`explain::unjudgeable`]), never as a refusal.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::cli::audit_log::{self, Entry, Logged, Place};
use crate::cli::explain;
use crate::cli::learn::{self, printable, Target, POLICY_REASONS};
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
    /// Lines that cannot be judged again, by (`METHOD GLOB`, why).
    pub unjudged: BTreeMap<(String, String), Refused>,
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
        let (list, why) = match explain::unjudgeable(config, logged) {
            Some(why) => (&mut client.unjudged, why),
            None => match explain::refusal(config, logged) {
                Some(why) => (&mut client.refused, why),
                None => return,
            },
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
            explain::target(logged).into_owned(),
            place,
        );
        let entry = list.entry(key).or_insert_with(|| Refused {
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

    /// Whether some line could not be judged again.
    pub fn cannot_judge_any(&self) -> bool {
        self.clients.values().any(|c| !c.unjudged.is_empty())
    }
}

/// One group of lines: the first line, and why.
fn group(f: &mut fmt::Formatter<'_>, label: &str, r: &Refused) -> fmt::Result {
    let (at, method, path, place) = &r.first;
    let s = if r.count == 1 { "" } else { "s" };
    writeln!(
        f,
        "  {label}: {} request{s}, first {} {} {} ({})",
        r.count,
        printable(at),
        printable(method),
        printable(path),
        printable(&place.to_string()),
    )?;
    writeln!(f, "    {}", printable(&r.why))
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, client) in &self.clients {
            let refused: u64 = client.refused.values().map(|r| r.count).sum();
            let unjudged: u64 = client.unjudged.values().map(|r| r.count).sum();
            let cannot = if unjudged == 0 {
                String::new()
            } else {
                format!(", and cannot judge {unjudged}")
            };
            if refused == 0 && unjudged == 0 {
                writeln!(
                    f,
                    "client {:?}: allows all {} logged requests",
                    printable(name),
                    client.judged
                )?;
            } else if refused == 0 {
                writeln!(
                    f,
                    "client {:?}: allows {} of {} logged requests{cannot}",
                    printable(name),
                    client.judged - unjudged,
                    client.judged
                )?;
            } else {
                writeln!(
                    f,
                    "client {:?}: refuses {refused} of {} logged requests{cannot}",
                    printable(name),
                    client.judged
                )?;
            }
            for ((kind, _), r) in &client.refused {
                group(f, &printable(kind), r)?;
            }
            for ((kind, _), r) in &client.unjudged {
                group(f, &format!("cannot judge {}", printable(kind)), r)?;
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
