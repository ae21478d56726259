//! Properties of the judging code, checked against generated input.
//!
//! * Soundness of the canonical path: whenever `path::canonicalize` accepts
//!   a request target, a model of the Engine's router (Go's path decoding,
//!   gorilla/mux's clean-path redirect and its `/v{version:[0-9.]+}` route
//!   prefix) reads the same route from the raw target, and routes it to the
//!   same endpoint as the route the policy matcher saw.
//! * No panics: the canonicaliser, the rule parser and matcher, and the body
//!   inspector take arbitrary input. These are the stable-toolchain smoke
//!   runs of the `fuzz/` targets, so CI exercises them on every run.
//! * The tenant's label filter only narrows: whatever filters a confined
//!   client sends, the query forwarded holds one `filters` value with every
//!   filter the client asked for (as the Engine would have read them) and the
//!   tenant's label, and the client's other parameters unchanged.

use dockgate::config::grants::{Grants, RawGrants};
use dockgate::config::policy::{Policy, Query, Rule};
use dockgate::request::inspect::{self, Endpoint};
use dockgate::request::path;
use hyper::{Method, Uri};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// A model of the Engine's router
// ---------------------------------------------------------------------------

/// Route templates as the Engine registers them (a representative subset,
/// in registration order). Each is registered twice, with the version prefix
/// and without, one right after the other. `{name}` matches `[^/]+`,
/// `{name:.*}` matches anything, `/` included.
const TEMPLATES: &[&str] = &[
    "/_ping",
    "/version",
    "/info",
    "/events",
    "/containers/json",
    "/containers/create",
    "/containers/{name}/json",
    "/containers/{name}/logs",
    "/containers/{name}/start",
    "/containers/{name}/exec",
    "/containers/{name}/attach",
    "/containers/{name}/archive",
    "/containers/{name}",
    "/exec/{id}/start",
    "/exec/{id}/json",
    "/images/json",
    "/images/create",
    "/images/{name:.*}/json",
    "/images/{name:.*}/push",
    "/images/{name:.*}",
    "/volumes/create",
    "/volumes/{name}",
    "/build",
    "/plugins/pull",
    "/plugins/{name:.*}/set",
];

/// What the Engine does with a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Routed {
    /// Go's URL parser refuses it (bad escape or control byte): 400.
    BadRequest,
    /// mux answers 301 to the cleaned path; nothing is routed.
    Redirect,
    /// Routed (or 404 when `template` is `None`) on the decoded path, whose
    /// version prefix (if any) is stripped in `route`.
    Path {
        route: String,
        template: Option<&'static str>,
    },
}

/// Go's `url.ParseRequestURI` path: control bytes refused, every `%XX`
/// decoded (including `%2F`), a malformed escape refused.
fn go_unescape(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    if bytes.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(
                u8::from_str_radix(hex, 16)
                    .ok()
                    .filter(|_| hex.bytes().all(|b| b.is_ascii_hexdigit()))?,
            );
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    // Go strings hold any bytes; the router only cares about '/'.
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// gorilla/mux's `cleanPath`: Go's `path.Clean`, keeping a trailing slash.
fn mux_clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for segment in p.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut clean = format!("/{}", parts.join("/"));
    if p.ends_with('/') && clean != "/" {
        clean.push('/');
    }
    clean
}

/// The rest of `path` after a `/v[0-9.]+` prefix, if it has one followed by `/`.
fn strip_version(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v")?;
    let digits = rest
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    (digits > 0 && rest[digits..].starts_with('/')).then(|| &rest[digits..])
}

/// Whether `path` matches `template` exactly (`^template$`).
fn matches_template(template: &str, path: &str) -> bool {
    fn go(t: &str, p: &str) -> bool {
        match t.find('{') {
            None => t == p,
            Some(open) => {
                let (literal, rest) = t.split_at(open);
                let Some(p) = p.strip_prefix(literal) else {
                    return false;
                };
                let close = rest.find('}').expect("template variable closes");
                let (var, after) = (&rest[..=close], &rest[close + 1..]);
                let any = var.contains(":.*");
                // Try every length the variable could take.
                (0..=p.len()).filter(|&n| p.is_char_boundary(n)).any(|n| {
                    let (taken, left) = p.split_at(n);
                    let fits = if any {
                        true
                    } else {
                        !taken.is_empty() && !taken.contains('/')
                    };
                    fits && go(after, left)
                })
            }
        }
    }
    go(template, path)
}

/// Where the Engine routes a raw request path.
fn engine_routes(raw: &str) -> Routed {
    let Some(decoded) = go_unescape(raw) else {
        return Routed::BadRequest;
    };
    if mux_clean(&decoded) != decoded {
        return Routed::Redirect;
    }
    let versioned = strip_version(&decoded);
    let template = TEMPLATES.iter().copied().find(|t| {
        versioned.is_some_and(|rest| matches_template(t, rest)) || matches_template(t, &decoded)
    });
    Routed::Path {
        route: versioned.unwrap_or(&decoded).to_owned(),
        template,
    }
}

/// The template the policy matcher's route lands on, unversioned as rules are.
fn route_template(route: &str) -> Option<&'static str> {
    TEMPLATES
        .iter()
        .copied()
        .find(|t| matches_template(t, route))
}

#[test]
fn the_router_model_routes_known_paths() {
    let cases = [
        ("/_ping", Some("/_ping")),
        (
            "/v1.41/containers/abc/json",
            Some("/containers/{name}/json"),
        ),
        (
            "/v1.41/images/library/busybox:latest/json",
            Some("/images/{name:.*}/json"),
        ),
        ("/v1.41/images/json", Some("/images/json")),
        ("/images/a/b", Some("/images/{name:.*}")),
        ("/v1.41/v1.41/_ping", None),
        ("/V1.41/_ping", None),
        ("/%63ontainers/json", Some("/containers/json")),
        ("/containers/a%2Fb/json", None),
    ];
    for (raw, template) in cases {
        match engine_routes(raw) {
            Routed::Path { template: got, .. } => assert_eq!(got, template, "{raw}"),
            other => panic!("{raw}: {other:?}"),
        }
    }
    assert_eq!(engine_routes("/containers/%zz/json"), Routed::BadRequest);
    assert_eq!(engine_routes("/containers/x/../json"), Routed::Redirect);
    assert_eq!(engine_routes("/containers/x%2F..%2Fjson"), Routed::Redirect);
}

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

/// Path segments rich in the shapes that have meant trouble: versions,
/// dots, encoded separators, double encodings, bad escapes.
fn segment() -> impl Strategy<Value = String> {
    let tricky = prop::sample::select(vec![
        "containers",
        "images",
        "exec",
        "json",
        "create",
        "start",
        "_ping",
        "abc",
        "library",
        "busybox:latest",
        "v1.41",
        "v1",
        "v.",
        "v1..2",
        "V1.41",
        "v",
        "vv1",
        "v1a",
        ".",
        "..",
        "",
        "%2e",
        "%2E%2e",
        ".%2e",
        "%2F",
        "%2f",
        "a%2Fb",
        "%252F",
        "%25",
        "%00",
        "%0a",
        "%5C",
        "%5c",
        "%63ontainers",
        "%5Fping",
        "%76%31.41",
        "%3F",
        "%23",
        "%zz",
        "%",
        "%4",
        "%c3%a9",
        "a%20b",
        "~",
        "@",
        ":",
        "+",
        "*",
        "%2A",
    ])
    .prop_map(String::from);
    prop_oneof![3 => tricky, 1 => "[a-zA-Z0-9._~%:@!$&'()*+,;=-]{0,8}"]
}

/// A request target: either generated segments, or an Engine route with
/// its variables filled by generated segments, a version prefix perhaps, and
/// some letters percent-encoded; perhaps a query.
fn target() -> impl Strategy<Value = String> {
    let free = prop::collection::vec(segment(), 1..6)
        .prop_map(|segments| format!("/{}", segments.join("/")));
    let version = prop::sample::select(vec![
        "",
        "/v1.41",
        "/v1",
        "/v.",
        "/V1.41",
        "/v1.41/v1.41",
        "/%761.41",
        "/v",
        "/v1.41/.",
    ]);
    let routed = (
        prop::sample::select(TEMPLATES.to_vec()),
        prop::collection::vec(segment(), 3),
        version,
        prop::collection::vec(any::<bool>(), 48),
    )
        .prop_map(|(template, fills, version, encode)| {
            let mut path = String::from(version);
            let mut fills = fills.into_iter();
            let mut rest = template;
            while let Some(open) = rest.find('{') {
                path.push_str(&rest[..open]);
                path.push_str(&fills.next().unwrap_or_default());
                rest = &rest[open + rest[open..].find('}').unwrap() + 1..];
            }
            path.push_str(rest);
            // Percent-encode some letters: the Engine decodes them, so must the gateway.
            path.chars()
                .zip(encode.into_iter().chain(std::iter::repeat(false)))
                .map(|(c, enc)| {
                    if enc && c.is_ascii_alphabetic() {
                        format!("%{:02X}", c as u32)
                    } else {
                        c.to_string()
                    }
                })
                .collect::<String>()
        });
    (
        prop_oneof![free, routed],
        prop::option::of("[a-z=&%/.]{0,8}"),
    )
        .prop_map(|(mut t, query)| {
            if let Some(q) = query {
                t.push('?');
                t.push_str(&q);
            }
            t
        })
}

fn permissive_grants() -> Grants {
    Grants::compile(&RawGrants::everything()).expect("permissive grants compile")
}

/// JSON-ish bodies: real field names, folded and escaped spellings, nesting
/// and junk, so the inspector's deeper paths are reached.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let key = prop::sample::select(vec![
        "HostConfig",
        "hostconfig",
        "Privileged",
        "privileged",
        "\\u0050rivileged",
        "Binds",
        "Bind\u{17f}",
        "Mounts",
        "Type",
        "Source",
        "CapAdd",
        "NetworkMode",
        "Networ\u{212a}Mode",
        "Devices",
        "PathOnHost",
        "DriverOpts",
        "o",
        "device",
        "type",
        "Driver",
        "Sysctls",
        "SecurityOpt",
        "Runtime",
        "NetworkingConfig",
        "EndpointsConfig",
        "VolumesFrom",
        "Links",
        "PidMode",
        "Labels",
        "Container",
        "EndpointConfig",
        "Name",
        "VolumeOptions",
        "dockgate.tenant",
    ]);
    let scalar = prop::sample::select(vec![
        "true",
        "false",
        "null",
        "1",
        "\"/\"",
        "\"/:/h\"",
        "\"bind\"",
        "\"host\"",
        "\"local\"",
        "\"/srv/../etc\"",
        "\"\\ud800\"",
        "[\"/:/h\"]",
        "[{\"Type\":\"bind\",\"Source\":\"/\"}]",
        "{}",
        "[]",
        "\"ALL\"",
        "\"container:web\"",
        "[\"/db:ro\",\"web:alias\"]",
        "\"team-b\"",
    ]);
    let leaf = (key.clone(), scalar).prop_map(|(k, v)| format!("\"{k}\":{v}"));
    let object = leaf.prop_recursive(3, 16, 4, move |inner| {
        (key.clone(), prop::collection::vec(inner, 0..4))
            .prop_map(|(k, members)| format!("\"{k}\":{{{}}}", members.join(",")))
    });
    prop_oneof![
        3 => prop::collection::vec(object, 0..5).prop_map(|members| format!("{{{}}}", members.join(",")).into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    /// An accepted target routes, in the Engine, exactly where the policy matcher thought.
    #[test]
    fn accepted_targets_route_where_the_matcher_saw(raw in target()) {
        let Ok(uri) = raw.parse::<Uri>() else { return Ok(()) };
        let Ok(target) = path::canonicalize(&uri) else { return Ok(()) };
        match engine_routes(uri.path()) {
            Routed::Path { route, template } => {
                prop_assert_eq!(&route, &target.route, "decoded, version-stripped path of {}", raw);
                prop_assert_eq!(template, route_template(&target.route), "endpoint of {}", raw);
            }
            other => prop_assert!(false, "{} was accepted as {:?} but the Engine would answer {:?}", raw, target, other),
        }
    }

    /// Arbitrary bytes that parse as a request target never panic the canonicaliser.
    #[test]
    fn canonicalize_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
        if let Ok(uri) = Uri::try_from(bytes.as_slice()) {
            let _ = path::canonicalize(&uri);
        }
    }

    /// Arbitrary rule text and paths never panic the rule parser or matcher.
    #[test]
    fn rules_never_panic(rule in "[A-Z*]{0,7} [/a-z*?{},\\[\\]!\\\\.=|&-]{0,24}|.{0,24}", route in "/[a-z/*.{}-]{0,24}", query in "[a-z=&;%+|0-9A-F]{0,16}|.{0,16}", method in 0usize..6) {
        let method = [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::DELETE, Method::PATCH][method].clone();
        if let Ok(rule) = Rule::parse(&rule) {
            if let Ok(policy) = Policy::compile("fuzz", vec![rule], Grants::none()) {
                let _ = policy.match_request(&method, &route, &Query::read(Some(&query)));
                let _ = policy.first_match(&method, &route);
            }
        }
    }

    /// Arbitrary bodies never panic the tenant's body walker, and a body it
    /// rewrites is JSON the Engine can read.
    #[test]
    fn the_tenant_body_walker_never_panics_and_writes_json(body in body()) {
        use dockgate::request::tenant::{self, Answer};
        let tenant: std::sync::Arc<str> = "t".into();
        let routes = [
            ("ContainerCreate", "/containers/create", 0..0),
            ("ContainerStart", "/containers/x/start", 12..13),
            ("NetworkConnect", "/networks/n/connect", 10..11),
            ("VolumeCreate", "/volumes/create", 0..0),
            ("NetworkCreate", "/networks/create", 0..0),
        ];
        for (name, route, captured) in routes {
            let found = Some((name, &route[captured]));
            let Ok(mut plan) = tenant::plan(&tenant, found, route, None) else { continue };
            if plan.add_body(&body).is_err() {
                continue;
            }
            let answers: Vec<_> = plan
                .lookups
                .iter()
                .map(|_| Answer::Found { id: "0".repeat(64), tenant: Some("t".into()) })
                .collect();
            if let Ok(edits) = tenant::decide(&plan, route, None, &body, &answers) {
                if let Some(edited) = edits.body {
                    prop_assert!(serde_json::from_slice::<serde_json::Value>(&edited).is_ok(), "{}", String::from_utf8_lossy(&edited));
                }
            }
        }
    }

    /// Arbitrary bodies and queries never panic the inspector, granted nothing or everything.
    #[test]
    fn the_inspector_never_panics(body in body(), query in prop::option::of(".{0,24}")) {
        let grants = [Grants::none(), permissive_grants()];
        for endpoint in Endpoint::ALL {
            for g in &grants {
                let _ = inspect::judge(endpoint, query.as_deref(), &body, g);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The tenant's label filter
// ---------------------------------------------------------------------------

/// A client's filters: keys and values, in the object or the legacy form.
fn client_filters() -> impl Strategy<Value = (Vec<(String, Vec<String>)>, bool)> {
    let key = prop_oneof![
        Just("label".to_owned()),
        Just("name".to_owned()),
        Just("status".to_owned()),
        "[a-z!]{1,6}"
    ];
    let value = "[ -~]{0,12}|dockgate\\.tenant=[a-z-]{0,6}";
    (
        prop::collection::vec((key, prop::collection::vec(value, 0..3)), 0..4),
        any::<bool>(),
    )
}

/// Percent-encodes everything but unreserved bytes, as a client might.
fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

proptest! {
    #[test]
    fn the_tenant_filter_keeps_every_client_filter_and_adds_the_label(
        (filters, legacy) in client_filters(),
        before in "[a-z]{1,5}=[a-z0-9]{0,5}",
        second in prop::option::of("[ -~]{0,16}"),
    ) {
        use serde_json::{Map, Value};
        use std::collections::{BTreeMap, BTreeSet};
        // The client's JSON: a key given twice keeps its last value, as in Go.
        let mut object = Map::new();
        let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (key, values) in &filters {
            let value = if legacy {
                Value::Array(values.iter().cloned().map(Value::String).collect())
            } else {
                Value::Object(values.iter().map(|v| (v.clone(), Value::Bool(true))).collect())
            };
            object.insert(key.clone(), value);
            expected.insert(key.clone(), values.iter().cloned().collect());
        }
        let json = Value::Object(object).to_string();
        let mut query = format!("{before}&filters={}", encode_component(&json));
        if let Some(second) = &second {
            // Only the first `filters` counts for the Engine, and for the gateway.
            query.push_str(&format!("&filters={}", encode_component(second)));
        }
        let out = dockgate::request::tenant::filters::with_tenant(Some(&query), "team-a", &|_| None)
            .expect("well-formed filters are accepted");
        let pairs = dockgate::request::inspect::build_query::parse(&out).unwrap();
        let forwarded: Vec<_> = pairs.iter().filter(|(k, _)| k == "filters").collect();
        prop_assert_eq!(forwarded.len(), 1);
        let others: Vec<_> = pairs.iter().filter(|(k, _)| k != "filters").cloned().collect();
        let (bk, bv) = before.split_once('=').unwrap();
        prop_assert_eq!(others, vec![(bk.to_owned(), bv.to_owned())]);
        let got: BTreeMap<String, BTreeSet<String>> =
            serde_json::from_str::<BTreeMap<String, BTreeMap<String, bool>>>(&forwarded[0].1)
                .unwrap()
                .into_iter()
                .map(|(k, v)| (k, v.into_keys().collect()))
                .collect();
        expected
            .entry("label".into())
            .or_default()
            .insert("dockgate.tenant=team-a".into());
        prop_assert_eq!(got, expected);
    }
}
