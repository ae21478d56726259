//! Metric labels name only configured clients: a certificate the CA signed
//! for a name the configuration does not know is counted under "unknown",
//! whichever step refused it, so no client can grow the label set.
//! (Its own binary: the metrics are process-wide.)

mod support;

use support::fake_engine::FakeEngine;
use support::raw;
use support::{Gateway, Pki};

#[test]
fn refusals_of_an_unconfigured_name_are_labelled_unknown() {
    let pki = Pki::new(&["alice", "mallory"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(
        &pki,
        engine.path(),
        "[clients.alice]\npolicies = [\"p\"]\n[policies.p]\nallow = [\"GET /_ping\"]\n",
    );
    let requests: [(&[u8], u16); 3] = [
        // Refused before the client is looked up: the target...
        (
            b"GET /containers/%2e%2e/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            400,
        ),
        // ...and the headers.
        (
            b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: a/b\r\nContent-Type: c/d\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            400,
        ),
        // And by the lookup itself.
        (
            b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            403,
        ),
    ];
    for (request, status) in requests {
        let response = raw::exchange(gateway.addr, &pki, "mallory", request);
        assert_eq!(raw::status(&response), status, "{response}");
    }
    assert_eq!(
        engine.request_count(),
        0,
        "the Engine saw mallory's requests"
    );
    let response = raw::exchange(
        gateway.addr,
        &pki,
        "alice",
        b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(raw::status(&response), 200);

    let text = dockgate::run::metrics::render();
    assert!(!text.contains("mallory"), "{text}");
    for reason in ["non_canonical", "bad_request", "unknown_client"] {
        let line = format!(
            r#"dockgate_requests_total{{client="unknown",decision="deny",reason="{reason}"}} 1"#
        );
        assert!(text.contains(&line), "{line} not in\n{text}");
    }
    assert!(
        text.contains(r#"dockgate_requests_total{client="alice",decision="allow",reason=""} 1"#),
        "{text}"
    );
}
