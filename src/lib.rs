//! dockgate: a mutual-TLS gateway for the Docker Engine API.

pub mod inspect;
pub mod pki;
