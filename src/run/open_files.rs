//! The open-file limit: raised at start so that `max_connections` is what
//! bounds connections, not the soft `RLIMIT_NOFILE` a service is started
//! with (1024 under systemd and most shells).
//!
//! Every connection, a tunnel included, holds two descriptors: its TLS
//! socket and its own connection to the Engine. Past the limit, `accept`
//! fails for every client alike, so one client's tunnels could starve all
//! the others. Raising the soft limit to the hard one needs no privilege;
//! the hard limit is the administrator's (`LimitNOFILE=` in the unit).
//! When even the hard limit cannot hold `max_connections`, the gateway
//! takes only as many connections at once as it can hold, so that `accept`
//! does not run out of descriptors in normal operation.

use crate::config::Limits;

/// Descriptors one connection holds: its client socket and its Engine socket.
pub const PER_CONNECTION: u64 = 2;

/// Descriptors the daemon holds apart from connections: listeners, each
/// runtime's epoll and wakers, the log, the metrics listener's connections
/// ([`crate::run::metrics::MAX_CONNECTIONS`]), a refused connection between
/// its accept and its close, files read on reload.
pub const RESERVE: u64 = 64;

/// Descriptors `max_connections` connections need.
pub fn needed(max_connections: usize) -> u64 {
    PER_CONNECTION * max_connections as u64 + RESERVE
}

/// The limit before and after raising it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    pub was: u64,
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft open-file limit as far as the hard limit allows.
pub fn raise() -> std::io::Result<OpenFiles> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let was = limit.rlim_cur;
    // An unlimited hard limit still stops at the kernel's fs.nr_open.
    let target = if limit.rlim_max == libc::RLIM_INFINITY {
        nr_open().unwrap_or(1 << 20)
    } else {
        limit.rlim_max
    };
    if was < target {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit.rlim_cur = target;
    }
    Ok(OpenFiles {
        was,
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}

fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Connections that fit in an open-file limit of `soft`, at most `max`
/// and at least one.
pub fn fitting(soft: u64, max: usize) -> usize {
    let fit = soft.saturating_sub(RESERVE) / PER_CONNECTION;
    usize::try_from(fit)
        .unwrap_or(usize::MAX)
        .clamp(1, max.max(1))
}

/// At start: raises the limit, logs what it got, and warns when
/// `max_connections` connections would not fit in it. Returns how many
/// connections to take at once: `max_connections`, or what fits.
pub fn raise_for(limits: &Limits) -> usize {
    let needed = needed(limits.max_connections);
    match raise() {
        Ok(files) => {
            tracing::info!(
                soft = files.soft,
                hard = files.hard,
                was = files.was,
                "open-file limit"
            );
            let fit = fitting(files.soft, limits.max_connections);
            if files.soft < needed {
                tracing::warn!(
                    limit = files.soft,
                    needed,
                    max_connections = limits.max_connections,
                    accepting = fit,
                    "the open-file limit is below what max_connections needs (two per \
                     connection, tunnels included): taking at most `accepting` connections \
                     at once; raise LimitNOFILE or lower max_connections"
                );
            }
            fit
        }
        Err(e) => {
            tracing::warn!(error = %e, needed, "cannot raise the open-file limit");
            limits.max_connections
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_leaves_the_soft_limit_at_the_hard_one() {
        let files = raise().unwrap();
        assert!(files.soft >= files.was);
        if files.hard != libc::RLIM_INFINITY {
            assert_eq!(files.soft, files.hard);
        }
        // Raising again changes nothing.
        assert_eq!(raise().unwrap().soft, files.soft);
    }

    #[test]
    fn connections_are_cut_to_what_the_limit_holds() {
        assert_eq!(fitting(needed(4096), 4096), 4096);
        assert_eq!(fitting(needed(4096) - 1, 4096), 4095);
        assert_eq!(fitting(512, 4096), 224);
        assert_eq!(fitting(1 << 20, 4096), 4096);
        // Even a limit that holds nothing takes one, so a misconfigured
        // gateway still says so by serving someone.
        assert_eq!(fitting(10, 4096), 1);
    }
}
