//! Request bodies and queries: everything up to the first newline is the
//! query (none when there is no newline), the rest the body. It is judged as
//! every inspected endpoint, with nothing granted and with everything
//! granted. Must never panic.
#![no_main]

use std::sync::OnceLock;

use dockgate::config::grants::{Grants, RawGrants};
use dockgate::request::inspect::{judge, Endpoint};
use libfuzzer_sys::fuzz_target;

fn grants() -> &'static [Grants; 2] {
    static GRANTS: OnceLock<[Grants; 2]> = OnceLock::new();
    GRANTS.get_or_init(|| {
        let permissive =
            Grants::compile(&RawGrants::everything()).expect("permissive grants compile");
        [Grants::none(), permissive]
    })
}

fuzz_target!(|data: &[u8]| {
    let (query, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (std::str::from_utf8(&data[..i]).ok(), &data[i + 1..]),
        None => (None, data),
    };
    for endpoint in Endpoint::ALL {
        for grants in grants() {
            let _ = judge(endpoint, query, body, grants);
        }
    }
});
