//! The commands an admin runs besides `serve`: what each is given and what
//! it prints. `main` parses the arguments ([`args`]) and calls these.
//!
//! * [`args`] — every command's arguments, `dockgate pki`'s included.
//! * [`check`] — validate a configuration and everything it names.
//! * [`explain`] — how the judge would decide one request, step by step.
//! * [`audit_log`] — audit lines read back from log files.
//! * [`learn`] — `policy learn`: the narrowest policies that cover a log.
//! * [`learned_query`] — the query constraint a learned rule carries.
//! * [`diff`] — `policy diff`: the logged requests a configuration refuses.
//! * [`quickstart`] — from nothing to a serving gateway in one command.
//! * [`pki`] — `dockgate pki`'s subcommands, each a call into [`crate::pki`].
//! * [`preset`] — `dockgate preset`: the shipped policies, listed and shown.

pub mod args;
pub mod audit_log;
pub mod check;
pub mod diff;
pub mod explain;
pub mod learn;
pub mod learned_query;
pub mod pki;
pub mod preset;
pub mod quickstart;
