//! The part of a request's query its audit line keeps: the pairs whose key
//! the Engine's handler for the request's route reads and a policy rule can
//! usefully constrain ([`Route::query_parameters`]: `signal`, `t`,
//! `condition`, `force`, `v`, `link`, `h`, `w`), exactly as received —
//! still percent-encoded, in order, repeated keys kept — so that `policy
//! diff` and `explain --from-log` can judge the request again against rules
//! written after the log.
//!
//! Only those keys: the rest of a query can be large or secret (build
//! arguments, filters), and no listed key is either. Which keys the current
//! configuration constrains is not the measure, because a configuration
//! written after the log may constrain others.
//!
//! A query the Engine could read otherwise (a `;`, a bad escape) is
//! unreadable as a whole to every query constraint. When that comes from a
//! pair not kept, a lone `;` is kept in its place: the query rebuilt from
//! the line is then unreadable too, as the one received was.

use std::borrow::Cow;

use hyper::{Method, Uri};

use crate::request::inspect::build_query;
use crate::request::judge::route::{self, Route};
use crate::request::path;

/// The pairs of `uri`'s query an audit line keeps, joined by `&`; `None`
/// when there are none. Allocates only when some pair is kept.
pub fn pairs(method: &Method, uri: &Uri) -> Option<Box<str>> {
    let query = uri.query().filter(|q| !q.is_empty())?;
    // Most queries name no key any route's handler is listed as reading,
    // and can be read one way: they are passed over without finding the
    // route.
    if !query.split('&').any(might_matter) {
        return None;
    }
    let keys = route_of(method, uri)?.query_parameters()?;
    let mut kept = String::new();
    let mut unreadable = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let raw = key_of(pair);
        let listed = if raw.contains(['%', '+']) {
            build_query::params(raw)
                .ok()
                .and_then(|p| p.into_iter().next())
                .is_some_and(|p| keys.contains(&p.key.as_str()))
        } else {
            keys.contains(&raw)
        };
        if listed {
            if !kept.is_empty() {
                kept.push('&');
            }
            kept.push_str(pair);
        } else if pair.contains(['%', ';']) && build_query::params(pair).is_err() {
            unreadable = true;
        }
    }
    if unreadable {
        if !kept.is_empty() {
            kept.push('&');
        }
        kept.push(';');
    }
    (!kept.is_empty()).then(|| kept.into_boxed_str())
}

/// The raw key of a `key=value` pair.
fn key_of(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(key, _)| key)
}

/// Whether a pair could be kept, or could make the query unreadable: its
/// raw key is, or could decode to, a listed key, or it has an escape or `;`.
fn might_matter(pair: &str) -> bool {
    pair.contains(['%', ';', '+']) || route::is_query_parameter(key_of(pair))
}

/// The Engine's route for the request. A path without escapes is its own
/// canonical form once the version prefix is gone (when it is not canonical
/// at all, the judge refuses it before any policy, and what is kept does
/// not matter); only a path with escapes is decoded.
fn route_of(method: &Method, uri: &Uri) -> Option<&'static Route> {
    let raw = uri.path();
    let canonical: Cow<'_, str> = if raw.contains('%') {
        path::canonicalize(uri).ok()?.route.into()
    } else {
        Cow::Borrowed(without_version(raw))
    };
    route::find(method, &canonical)
}

/// `/containers/x/kill` for `/v1.41/containers/x/kill`.
fn without_version(raw: &str) -> &str {
    let rest = raw.strip_prefix('/').unwrap_or(raw);
    match rest.split_once('/') {
        Some((first, _)) if path::is_version_segment(first) => &rest[first.len()..],
        _ => raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(method: &str, target: &str) -> Option<String> {
        let uri: Uri = target.parse().unwrap();
        pairs(&method.parse().unwrap(), &uri).map(String::from)
    }

    #[test]
    fn keeps_the_listed_keys_of_the_route_as_received() {
        let table = [
            (
                "POST",
                "/v1.41/containers/x/kill?signal=HUP",
                Some("signal=HUP"),
            ),
            (
                "POST",
                "/containers/a/b/kill?signal=HUP",
                Some("signal=HUP"),
            ),
            ("POST", "/containers/x/kill", None),
            ("POST", "/containers/x/kill?", None),
            // Repeated keys and their order are kept, escapes as written.
            (
                "POST",
                "/containers/x/kill?signal=HUP&x=1&signal=KILL",
                Some("signal=HUP&signal=KILL"),
            ),
            (
                "POST",
                "/containers/x/kill?sig%6eal=KILL",
                Some("sig%6eal=KILL"),
            ),
            (
                "POST",
                "/containers/x/kill?signal=%48UP",
                Some("signal=%48UP"),
            ),
            ("POST", "/containers/x/kill?signal", Some("signal")),
            (
                "POST",
                "/containers/x/stop?t=5&signal=TERM",
                Some("t=5&signal=TERM"),
            ),
            (
                "DELETE",
                "/v1.41/containers/x?force=1&v=1&link=0",
                Some("force=1&v=1&link=0"),
            ),
            // A key the route's handler does not read, on a listed route.
            ("POST", "/containers/x/kill?all=1", None),
            // Routes whose parameters are not listed keep nothing.
            (
                "POST",
                "/v1.41/build?t=app&buildargs=%7B%22TOKEN%22%3A%22s3cret%22%7D",
                None,
            ),
            ("GET", "/containers/json?all=1&filters=%7B%7D", None),
            ("GET", "/containers/x/logs?t=1", None),
            // An escaped path is decoded to find its route.
            (
                "POST",
                "/containers/a%3Ab/kill?signal=HUP",
                Some("signal=HUP"),
            ),
        ];
        for (method, target, want) in table {
            assert_eq!(kept(method, target).as_deref(), want, "{method} {target}");
        }
    }

    #[test]
    fn an_unreadable_rest_of_the_query_is_kept_as_a_lone_semicolon() {
        let table = [
            ("/containers/x/kill?signal=HUP&a=b;c", Some("signal=HUP&;")),
            ("/containers/x/kill?signal=HUP&a=%zz", Some("signal=HUP&;")),
            ("/containers/x/kill?a=%ff&signal=HUP", Some("signal=HUP&;")),
            ("/containers/x/kill?a=%41&signal=HUP", Some("signal=HUP")),
            ("/containers/x/kill?signal=HUP;x", Some("signal=HUP;x")),
            ("/containers/x/kill?x=%zz", Some(";")),
            ("/containers/x/kill?x=a+b", None),
            ("/containers/x/kill?signal=1&x=%zz", Some("signal=1&;")),
        ];
        for (target, want) in table {
            assert_eq!(kept("POST", target).as_deref(), want, "{target}");
        }
    }

    #[test]
    fn a_rule_reads_the_kept_query_as_it_read_the_received_one() {
        use crate::config::policy::{Miss, Query, Rule};
        let rules = [
            Rule::parse("POST /containers/*/kill?signal=HUP|SIGHUP").unwrap(),
            Rule::parse("POST /containers/*/kill?signal=|HUP").unwrap(),
        ];
        let outcome = |rule: &Rule, query: Option<&str>| match rule.check_query(&Query::read(query))
        {
            Ok(()) => "match",
            Err(Miss::Mismatch(_)) => "mismatch",
            Err(Miss::Unreadable(_)) => "unreadable",
        };
        for target in [
            "/containers/x/kill?signal=HUP",
            "/containers/x/kill?signal=KILL&all=1",
            "/containers/x/kill?all=1",
            "/containers/x/kill?signal=HUP&signal=KILL",
            "/containers/x/kill?sig%6eal=KILL&a=1",
            "/containers/x/kill?signal=HUP&a=b;c",
            "/containers/x/kill?signal=HUP&a=%zz",
            "/containers/x/kill?a=%zz",
            "/containers/x/kill?signal=H%55P",
        ] {
            let uri: Uri = target.parse().unwrap();
            let rebuilt = kept("POST", target);
            for rule in &rules {
                assert_eq!(
                    outcome(rule, uri.query()),
                    outcome(rule, rebuilt.as_deref()),
                    "{rule} on {target}, kept {rebuilt:?}"
                );
            }
        }
    }
}
