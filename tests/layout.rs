//! The source tree keeps its promise to a newcomer: no two modules import
//! each other, directly or around a circle, so every part can be read
//! before the parts that use it. The check reads `src/` as text: every
//! `crate::…` path, `use super::…` and `use crate::{…}` group outside
//! comments and test modules is an import of the module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`crate::request::judge`) → the module's source.
fn modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if parts == ["main"] || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let name = std::iter::once("crate".to_owned())
                .chain(parts)
                .collect::<Vec<_>>()
                .join("::");
            out.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// The code of a file without comments and without its test module.
fn code(source: &str) -> String {
    let body = source.split("#[cfg(test)]").next().unwrap_or("");
    body.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a::{b, c::{d}}` → `a::b`, `a::c::d`.
fn expand(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.to_owned()];
    };
    let (prefix, inner) = (&tree[..open], &tree[open + 1..tree.len() - 1]);
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .flat_map(|item| {
            expand(item)
                .into_iter()
                .map(move |e| format!("{prefix}{e}"))
        })
        .collect()
}

/// Every module `module` imports, other than itself, its ancestors and its
/// descendants.
fn imports(module: &str, source: &str, all: &BTreeMap<String, String>) -> BTreeSet<String> {
    let code = code(source);
    let parent = |m: &str| {
        m.rsplit_once("::")
            .map_or(String::new(), |(p, _)| p.to_owned())
    };
    // What `super` names: the parent of this module.
    let sup = parent(module);
    let mut paths = Vec::new();
    for statement in code.split(';') {
        if let Some(tree) = statement.trim().strip_prefix("use ") {
            let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
            paths.extend(expand(&tree));
        }
    }
    let bytes = code.as_bytes();
    for (i, _) in code.match_indices("crate::") {
        if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
            continue;
        }
        let end = code[i..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .map_or(code.len(), |e| i + e);
        paths.push(code[i..end].to_owned());
    }
    let mut out = BTreeSet::new();
    for path in paths {
        let path = path
            .split(" as ")
            .next()
            .unwrap_or("")
            .trim_end_matches(':');
        let full = if let Some(rest) = path.strip_prefix("super::") {
            format!("{sup}::{rest}")
        } else if path.starts_with("crate::") {
            path.to_owned()
        } else {
            continue;
        };
        // The longest prefix that is a module is the module imported.
        let mut target = full.as_str();
        while !all.contains_key(target) {
            match target.rsplit_once("::") {
                Some((p, _)) => target = p,
                None => break,
            }
        }
        let related = target == module
            || module.starts_with(&format!("{target}::"))
            || target.starts_with(&format!("{module}::"));
        if all.contains_key(target) && !related {
            out.insert(target.to_owned());
        }
    }
    out
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    let all = modules();
    assert!(
        all.contains_key("crate::request::judge"),
        "{:?}",
        all.keys()
    );
    let graph: BTreeMap<&str, BTreeSet<String>> = all
        .iter()
        .map(|(m, src)| (m.as_str(), imports(m, src, &all)))
        .collect();
    // Depth-first search for a path from a module back to itself.
    let mut cycles = Vec::new();
    for &start in graph.keys() {
        let mut stack: Vec<(String, Vec<String>)> =
            vec![(start.to_owned(), vec![start.to_owned()])];
        let mut seen = BTreeSet::new();
        while let Some((node, trail)) = stack.pop() {
            for next in &graph[node.as_str()] {
                if next == start {
                    cycles.push(trail.join(" -> ") + " -> " + start);
                } else if seen.insert(next.clone()) {
                    let mut longer = trail.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import circles:\n{}", cycles.join("\n"));
}

#[test]
fn the_check_sees_imports() {
    let all = modules();
    let gateway = imports(
        "crate::request::gateway",
        &all["crate::request::gateway"],
        &all,
    );
    assert!(gateway.contains("crate::request::judge"), "{gateway:?}");
    let container = imports(
        "crate::request::inspect::container",
        &all["crate::request::inspect::container"],
        &all,
    );
    assert!(
        container.contains("crate::request::inspect::json"),
        "{container:?}"
    );
    assert!(container.contains("crate::config::grants"), "{container:?}");
}

/// `src/request/mod.rs` lists the request path in the order a request meets
/// it and promises that each module imports only the ones below it: the
/// path reads top to bottom.
#[test]
fn the_request_path_imports_only_what_comes_after() {
    let all = modules();
    let doc = &all["crate::request"];
    let order: Vec<String> = doc
        .lines()
        .filter_map(|line| line.strip_prefix("//! * [`"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| format!("crate::request::{name}"))
        .collect();
    assert!(order.len() > 10, "{order:?}");
    let position = |module: &str| {
        order
            .iter()
            .position(|m| module == m || module.starts_with(&format!("{m}::")))
    };
    let mut backwards = Vec::new();
    for (module, source) in &all {
        let Some(from) = position(module) else {
            continue;
        };
        for target in imports(module, source, &all) {
            if let Some(to) = position(&target) {
                if to < from {
                    backwards.push(format!("{module} imports {target}, listed above it"));
                }
            }
        }
    }
    assert!(backwards.is_empty(), "{}", backwards.join("\n"));
}
