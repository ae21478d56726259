//! The query constraint a rule `policy learn` writes: on a kill, the
//! signals its client sent (`POST /containers/*/kill?signal=HUP`), because a
//! kill without one is a SIGKILL, and a plain rule would let a client that
//! only ever asked for reloads stop any container.
//!
//! The values come from the line's `query` field
//! ([`crate::request::judge::logged_query`]), read as the judge reads it
//! ([`build_query::params`]), and each is written as logged. A value a rule
//! cannot name (an escape, a character outside the rule syntax, an empty
//! value), a repeated key, a query the Engine could read otherwise, or a
//! line from before the field leaves the rule unconstrained: a constraint
//! that refused some of its own lines would not cover the log.

use crate::cli::audit_log;
use crate::config::policy;
use crate::request::inspect::build_query;

/// The routes whose learned rule constrains a query key, and the key.
///
/// Only `signal` on a kill, which the Engine reads at every API version.
/// Stop and restart read `signal` only from API 1.42, and wait reads
/// `condition` only from 1.30; the judge reads the query of a request
/// naming an older version without them ([`Route::ignores_query`]),
/// so a learned constraint on them would refuse the very lines it was
/// learned from. The other keys the log keeps (`t`, `force`, `v`, `link`,
/// `h`, `w`) are numbers and booleans the Engine reads in several
/// spellings (`1`, `true`), which a list of the ones seen would refuse.
///
/// [`Route::ignores_query`]: crate::request::judge::route::Route::ignores_query
const LEARNED: &[(&str, &str)] = &[("ContainerKill", "signal")];

/// The query key a rule learned from this request constrains, if any.
pub fn key(method: &str, path: &str) -> Option<&'static str> {
    let found = audit_log::route(method, path)?;
    LEARNED
        .iter()
        .find(|(name, _)| *name == found.name)
        .map(|(_, key)| *key)
}

/// What a logged line sent for `key`, as an alternative of a rule names it:
/// the value as logged, `""` when the key was absent. `Err`: why no rule
/// alternative can name it. `query` is the line's `query` field, `None`
/// for a line written before the field.
pub fn value(query: Option<&str>, key: &str) -> Result<String, String> {
    let query = query.ok_or("some lines were logged before the query field")?;
    let params = build_query::params(query).map_err(|e| match e {
        crate::request::inspect::Refusal::Ambiguous(why) => {
            format!("a query the Engine could read otherwise ({why})")
        }
        other => format!("an unreadable query ({other})"),
    })?;
    let mut found = params.into_iter().filter(|p| p.key == key);
    let (first, again) = (found.next(), found.next());
    match (first, again) {
        (None, _) => Ok(String::new()),
        (Some(_), Some(_)) => Err(format!("{key} was repeated")),
        (Some(p), None) if !p.literal => {
            Err(format!("{key} was written with a percent escape or '+'"))
        }
        (Some(p), None) if p.value.is_empty() => Err(format!("{key} was empty")),
        (Some(p), None) if !policy::is_constraint_text(&p.value) => Err(format!(
            "{key} was {:?}: a rule names only letters, digits, '-', '.', '_' and '~'",
            p.value
        )),
        (Some(p), None) => Ok(p.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_kill_learns_its_signal() {
        let table = [
            ("POST", "/v1.41/containers/x/kill", Some("signal")),
            ("POST", "/v1.24/containers/a/b/kill", Some("signal")),
            ("POST", "/v1.43/containers/x/stop", None),
            ("POST", "/v1.43/containers/x/restart", None),
            ("POST", "/v1.41/containers/x/wait", None),
            ("DELETE", "/v1.41/containers/x", None),
            ("GET", "/v1.41/containers/x/kill", None),
            ("POST", "/v1.41/no/such/route", None),
        ];
        for (method, path, want) in table {
            assert_eq!(key(method, path), want, "{method} {path}");
        }
    }

    #[test]
    fn values_are_named_as_logged_or_not_at_all() {
        let table: [(Option<&str>, Result<&str, &str>); 13] = [
            (Some("signal=HUP"), Ok("HUP")),
            (Some("signal=SIGHUP"), Ok("SIGHUP")),
            (Some("signal=1"), Ok("1")),
            (Some(""), Ok("")),
            (Some("signal=%48UP"), Err("percent escape")),
            (Some("sig%6eal=KILL"), Err("percent escape")),
            (Some("signal=H+P"), Err("percent escape")),
            (Some("signal=HUP&signal=KILL"), Err("repeated")),
            (Some("signal=HUP&;"), Err("read otherwise")),
            (Some("signal=%zz"), Err("query")),
            (Some("signal="), Err("empty")),
            (Some("signal=H!P"), Err("\"H!P\"")),
            (None, Err("before the query field")),
        ];
        for (query, want) in table {
            match (value(query, "signal"), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{query:?}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{query:?}: {got}"),
                (got, want) => panic!("{query:?}: {got:?}, wanted {want:?}"),
            }
        }
    }
}
