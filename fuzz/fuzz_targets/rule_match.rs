//! Allow rules: the first line is parsed as a rule, the first byte after it
//! picks a method and the rest is the route to match. Must never panic.
#![no_main]

use dockgate::config::grants::Grants;
use dockgate::config::policy::{Policy, Rule};
use hyper::Method;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (rule, rest) = text.split_once('\n').unwrap_or((text, "/"));
    let mut chars = rest.chars();
    let method = match chars.next().map(u32::from).unwrap_or(0) % 6 {
        0 => Method::GET,
        1 => Method::HEAD,
        2 => Method::POST,
        3 => Method::PUT,
        4 => Method::DELETE,
        _ => Method::PATCH,
    };
    let route = chars.as_str();
    let Ok(rule) = Rule::parse(rule) else { return };
    let Ok(policy) = Policy::compile("fuzz", vec![rule], Grants::none()) else { return };
    let _ = policy.first_match(&method, route);
});
