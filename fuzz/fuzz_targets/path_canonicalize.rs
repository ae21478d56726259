//! Request targets: any bytes that parse as a URI go through the
//! canonicaliser, and an accepted target must have the shape the policy
//! matcher relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(uri) = hyper::Uri::try_from(data) else { return };
    let Ok(target) = dockgate::request::path::canonicalize(&uri) else { return };
    let route = &target.route;
    assert!(route.starts_with('/'), "{route:?}");
    assert!(route == "/" || !route.ends_with('/'), "trailing slash in {route:?}");
    assert!(!route.contains("//"), "empty segment in {route:?}");
    assert!(!route.split('/').any(|s| s == "." || s == ".."), "dot segment in {route:?}");
    assert!(!route.contains('%'), "a second round of escapes in {route:?}");
    assert!(route.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'\\'), "{route:?}");
    if let Some(version) = &target.version {
        assert!(dockgate::request::path::is_version_segment(&format!("v{version}")), "{version:?}");
    }
});
