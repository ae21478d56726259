//! Query rewrites: the tenant's label filter on lists, prunes and event
//! streams, its label on builds and commits.
//!
//! The query is read as Go's `url.ParseQuery` reads it
//! ([`crate::request::inspect::build_query::parse`]), the Engine's
//! `FormValue` takes a key's first value, and the rewritten query holds
//! each rewritten key once, so the Engine reads exactly the value written
//! here. A client's own filters are kept: filter keys are combined by the
//! Engine with AND, and several `label` filters must all match, so adding
//! the tenant's label can only narrow what the client asked for.

use std::collections::BTreeMap;

use crate::request::inspect::build_query;
use crate::request::inspect::json::{self, Value};

use super::{TenantRefusal, LABEL};

fn unreadable(what: impl Into<String>) -> TenantRefusal {
    TenantRefusal::Unreadable(what.into())
}

fn pairs(query: Option<&str>) -> Result<Vec<(String, String)>, TenantRefusal> {
    build_query::parse(query.unwrap_or("")).map_err(|e| unreadable(e.to_string()))
}

/// The first value of `key`, as `FormValue` reads it; then every pair of
/// `key` is removed.
fn take(pairs: &mut Vec<(String, String)>, key: &str) -> String {
    let first = pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    pairs.retain(|(k, _)| k != key);
    first
}

/// The filters that name a container: a container list's `since` and
/// `before`, which the Engine looks up (and answers for when missing).
pub const CONTAINER_FILTERS: [&str; 2] = ["since", "before"];

/// The container references a list's `filters` names, in the order
/// [`with_tenant`] reads them.
pub fn containers_named(query: Option<&str>) -> Result<Vec<String>, TenantRefusal> {
    let mut pairs = pairs(query)?;
    let filters = parse_filters(&take(&mut pairs, "filters"))?;
    Ok(CONTAINER_FILTERS
        .iter()
        .filter_map(|key| filters.get(*key))
        .flatten()
        .cloned()
        .collect())
}

/// The query with `filters` holding the client's filters and the tenant's
/// label; each container filter's reference becomes the full ID `id_of`
/// gives it.
pub fn with_tenant(
    query: Option<&str>,
    tenant: &str,
    id_of: &dyn Fn(&str) -> Option<String>,
) -> Result<String, TenantRefusal> {
    let mut pairs = pairs(query)?;
    let mut filters = parse_filters(&take(&mut pairs, "filters"))?;
    for key in CONTAINER_FILTERS {
        if let Some(values) = filters.get_mut(key) {
            for value in values {
                if let Some(id) = id_of(value) {
                    *value = id;
                }
            }
        }
    }
    filters
        .entry("label".into())
        .or_default()
        .push(format!("{LABEL}={tenant}"));
    let object: Vec<(String, Value)> = filters
        .into_iter()
        .map(|(key, values)| {
            let set = values.into_iter().map(|v| (v, Value::Bool(true))).collect();
            (key, Value::Object(json::Object { members: set }))
        })
        .collect();
    pairs.push((
        "filters".into(),
        Value::Object(json::Object { members: object }).to_json(),
    ));
    Ok(encode(&pairs))
}

/// Reads a `filters` value as the Engine's `filters.FromJSON` does: an
/// object of objects (`{"label":{"a=b":true}}`, the values' booleans are
/// not read), or the legacy object of arrays (`{"label":["a=b"]}`), never
/// a mix. A key given twice keeps its last value, as Go's map decoding does.
fn parse_filters(text: &str) -> Result<BTreeMap<String, Vec<String>>, TenantRefusal> {
    let mut out = BTreeMap::new();
    if text.is_empty() {
        return Ok(out);
    }
    let bad = || {
        unreadable(format!(
            "the filters parameter is not valid filter JSON: {text:?}"
        ))
    };
    let value = json::parse(text.as_bytes()).map_err(|e| unreadable(e.to_string()))?;
    let members = match value {
        Value::Null => return Ok(out),
        Value::Object(object) => object.members,
        _ => return Err(bad()),
    };
    let (mut objects, mut arrays) = (false, false);
    for (key, value) in members {
        let values = match value {
            Value::Null => Vec::new(),
            Value::Object(set) => {
                objects = true;
                let mut values = Vec::new();
                for (v, flag) in set.members {
                    if !matches!(flag, Value::Bool(_) | Value::Null) {
                        return Err(bad());
                    }
                    values.push(v);
                }
                values
            }
            Value::Array(items) => {
                arrays = true;
                let mut values = Vec::new();
                for item in items {
                    match item {
                        Value::String(s) => values.push(s),
                        Value::Null => values.push(String::new()),
                        _ => return Err(bad()),
                    }
                }
                values
            }
            _ => return Err(bad()),
        };
        out.insert(key, values);
    }
    if objects && arrays {
        return Err(bad());
    }
    Ok(out)
}

/// The type of the first BuildKit output (`outputs`, a JSON array of
/// `{"Type", "Attrs"}`) that writes an image rather than sending the result
/// to the client; an unreadable value counts as one.
pub fn image_output(outputs: &str) -> Option<String> {
    let Ok(Value::Array(items)) = json::parse(outputs.as_bytes()) else {
        return Some("unreadable".into());
    };
    for item in items {
        let Value::Object(object) = item else {
            return Some("unreadable".into());
        };
        let kind = match object.field("Type", "Type") {
            Ok(Some(Value::String(kind))) => kind.clone(),
            _ => return Some("unreadable".into()),
        };
        if kind != "local" && kind != "tar" {
            return Some(kind);
        }
    }
    None
}

/// A build's query with the tenant's label among the image labels, and
/// the network mode naming the network or container it resolved to.
pub fn build(
    query: Option<&str>,
    tenant: &str,
    network: Option<&str>,
) -> Result<String, TenantRefusal> {
    let mut pairs = pairs(query)?;
    if let Some(network) = network {
        take(&mut pairs, "networkmode");
        pairs.push(("networkmode".into(), network.into()));
    }
    let text = take(&mut pairs, "labels");
    let mut labels: Vec<(String, Value)> = Vec::new();
    if !text.is_empty() {
        match json::parse(text.as_bytes()).map_err(|e| unreadable(e.to_string()))? {
            Value::Null => {}
            Value::Object(object) => {
                for (key, value) in object.members {
                    let Value::String(value) = value else {
                        return Err(unreadable("the labels parameter holds a non-string"));
                    };
                    // Go's map decoding: the last of a repeated key wins.
                    labels.retain(|(k, _)| *k != key);
                    labels.push((key, Value::String(value)));
                }
            }
            _ => return Err(unreadable("the labels parameter is not a JSON object")),
        }
    }
    if let Some((_, Value::String(value))) = labels.iter().find(|(k, _)| k == LABEL) {
        if value != tenant {
            return Err(TenantRefusal::ForgedLabel {
                value: value.clone(),
                tenant: tenant.into(),
            });
        }
    }
    labels.retain(|(k, _)| k != LABEL);
    labels.push((LABEL.into(), Value::String(tenant.into())));
    pairs.push((
        "labels".into(),
        Value::Object(json::Object { members: labels }).to_json(),
    ));
    Ok(encode(&pairs))
}

/// An unconfined client's build query with `dockgate.tenant` set to no
/// tenant among the image labels, unless the client named one. `None`:
/// unchanged.
pub fn mark_build(query: Option<&str>) -> Result<Option<String>, TenantRefusal> {
    let pairs = pairs(query)?;
    let labels = pairs
        .iter()
        .find(|(k, _)| k == "labels")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if let Ok(Value::Object(object)) = json::parse(labels.as_bytes()) {
        if object.members.iter().any(|(k, _)| k == LABEL) {
            return Ok(None);
        }
    }
    build(query, "", None).map(Some)
}

/// A commit's query: the container by its full ID, and a last change that
/// labels the image for the tenant (changes apply in order, so it wins).
pub fn commit(query: Option<&str>, container: &str, tenant: &str) -> Result<String, TenantRefusal> {
    let mut pairs = pairs(query)?;
    take(&mut pairs, "container");
    pairs.insert(0, ("container".into(), container.into()));
    pairs.push(("changes".into(), format!("LABEL {LABEL}={tenant}")));
    Ok(encode(&pairs))
}

/// An import's query with a last change that labels the image for the
/// tenant (the Engine applies every `changes` value, in order).
pub fn import(query: Option<&str>, tenant: &str) -> Result<String, TenantRefusal> {
    let mut pairs = pairs(query)?;
    pairs.push(("changes".into(), format!("LABEL {LABEL}={tenant}")));
    Ok(encode(&pairs))
}

/// Encodes decoded pairs so that Go's `ParseQuery` reads them back exactly.
pub fn encode(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        escape(key, &mut out);
        out.push('=');
        escape(value, &mut out);
    }
    out
}

fn escape(text: &str, out: &mut String) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters_of(query: &str) -> BTreeMap<String, Vec<String>> {
        let pairs = build_query::parse(query).unwrap();
        let filters: Vec<_> = pairs.iter().filter(|(k, _)| k == "filters").collect();
        assert_eq!(filters.len(), 1, "{query}");
        parse_filters(&filters[0].1).unwrap()
    }

    #[test]
    fn the_label_is_added_and_the_clients_filters_kept() {
        let q = with_tenant(None, "a", &|_| None).unwrap();
        assert_eq!(filters_of(&q)["label"], ["dockgate.tenant=a"]);
        let q = with_tenant(
            Some("all=1&filters=%7B%22label%22%3A%7B%22x%3Dy%22%3Atrue%7D%2C%22status%22%3A%5B%5D%7D"),
            "a",
            &|_| None,
        );
        // Mixed object and array forms: the Engine refuses them too.
        assert!(q.is_err());
        let q = with_tenant(
            Some("all=1&filters=%7B%22label%22%3A%7B%22x%3Dy%22%3Atrue%7D%2C%22status%22%3A%7B%22running%22%3Atrue%7D%7D"),
            "a",
            &|_| None,
        )
        .unwrap();
        let f = filters_of(&q);
        assert_eq!(f["label"], ["x=y", "dockgate.tenant=a"]);
        assert_eq!(f["status"], ["running"]);
        assert!(q.starts_with("all=1&"));
    }

    #[test]
    fn only_the_first_filters_value_counts_and_only_one_is_forwarded() {
        let q = with_tenant(
            Some("filters=%7B%22label%22%3A%5B%22x%22%5D%7D&filters=%7B%7D"),
            "t",
            &|_| None,
        )
        .unwrap();
        assert_eq!(filters_of(&q)["label"], ["x", "dockgate.tenant=t"]);
    }

    #[test]
    fn a_repeated_filter_key_keeps_its_last_value_as_go_does() {
        let f = parse_filters(r#"{"label":["a"],"label":["b"]}"#).unwrap();
        assert_eq!(f["label"], ["b"]);
    }

    #[test]
    fn unreadable_filters_are_refused() {
        for bad in [
            "[]",
            "1",
            r#"{"label":"x"}"#,
            r#"{"label":[1]}"#,
            r#"{"label":{"x":1}}"#,
            "{",
        ] {
            assert!(parse_filters(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn build_labels_keep_the_clients_and_refuse_a_forged_tenant() {
        let q = build(Some("t=x&labels=%7B%22a%22%3A%22b%22%7D"), "t", None).unwrap();
        let pairs = build_query::parse(&q).unwrap();
        assert_eq!(pairs[0], ("t".into(), "x".into()));
        assert_eq!(pairs[1].1, r#"{"a":"b","dockgate.tenant":"t"}"#);
        let forged = build(
            Some("labels=%7B%22dockgate.tenant%22%3A%22u%22%7D"),
            "t",
            None,
        );
        assert!(matches!(forged, Err(TenantRefusal::ForgedLabel { .. })));
    }

    #[test]
    fn an_unconfined_build_is_marked_as_no_tenants_unless_it_names_one() {
        let q = mark_build(Some("t=x")).unwrap().unwrap();
        let pairs = build_query::parse(&q).unwrap();
        assert_eq!(pairs[1].1, r#"{"dockgate.tenant":""}"#);
        let named = "labels=%7B%22dockgate.tenant%22%3A%22a%22%7D";
        assert_eq!(mark_build(Some(named)).unwrap(), None);
    }

    #[test]
    fn conflict_messages_lose_their_ids() {
        let m = br#"{"message":"Conflict. The container name "/b" is already in use by container "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef". You have to remove it"}"#;
        let out = String::from_utf8(super::super::conflict_message(m)).unwrap();
        assert!(out.contains("by container \"(hidden)\""), "{out}");
        assert!(out.contains("\"/b\""), "{out}");
        let short = br#"{"message":"unable to delete 0a1b2c3d4e5f (must be forced) - image is being used by stopped container 1234567890ab"}"#;
        let out = String::from_utf8(super::super::conflict_message(short)).unwrap();
        assert!(
            !out.contains("0a1b2c3d4e5f") && !out.contains("1234567890ab"),
            "{out}"
        );
        assert!(out.contains("must be forced"), "{out}");
    }

    #[test]
    fn encoding_round_trips_through_the_go_reading() {
        let pairs = vec![
            ("a b".to_string(), "c&d=e+f%".to_string()),
            ("ü".into(), "{\"x\":1}".into()),
        ];
        assert_eq!(build_query::parse(&encode(&pairs)).unwrap(), pairs);
    }
}
