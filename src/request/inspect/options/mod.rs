//! The Engine's option-string grammars, each read exactly as the Engine reads it, so that a
//! grant for a narrow thing never passes a request the Engine reads as a wider one.
//!
//! - [`mount_flags`]: a local volume's `o`, split into mount(2) flags and filesystem data.
//! - [`bind_spec`]: a `Binds` entry, `source:target[:mode]`.
//! - [`security_opt`]: a `SecurityOpt` entry.
//! - [`device`]: a `Devices` entry.
//! - [`log_config`]: `LogConfig`, whose driver may make the Engine connect out from the host.

pub mod bind_spec;
pub mod device;
pub mod log_config;
pub mod mount_flags;
pub mod security_opt;
