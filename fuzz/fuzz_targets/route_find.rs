//! The Engine route table: the first byte picks a method, the rest is the
//! route. Must never panic, and a route it finds must capture the way the
//! Engine's router does: the template with its variable put back is the
//! route again.
#![no_main]

use dockgate::request::judge::route;
use hyper::Method;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(path) = std::str::from_utf8(rest) else { return };
    let method = match pick % 5 {
        0 => Method::GET,
        1 => Method::HEAD,
        2 => Method::POST,
        3 => Method::PUT,
        _ => Method::DELETE,
    };
    let Some(found) = route::find(&method, path) else {
        return;
    };
    let captured = found.capture(path).expect("a route it finds matches");
    let variables = found.template.matches('{').count();
    if variables == 1 {
        let open = found.template.find('{').unwrap();
        let close = found.template.find('}').unwrap();
        let rebuilt = format!(
            "{}{captured}{}",
            &found.template[..open],
            &found.template[close + 1..]
        );
        assert_eq!(rebuilt, path, "{} captured {captured:?}", found.template);
    }
    if variables == 0 {
        assert_eq!(found.template, path);
    }
});
