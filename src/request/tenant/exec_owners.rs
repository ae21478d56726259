//! The tenants of exec instances made by confined clients, so that starting,
//! inspecting and resizing one needs no question to the Engine.
//!
//! An entry can never go stale in a way that widens access: the Engine
//! names an exec instance by a random 64-hex ID that it never reuses and
//! that only ever resolves exactly (no prefixes, no names), an instance
//! belongs to one container for life, and a container's labels are fixed
//! when it is created. Entries come only from the Engine's own answers to
//! exec creates the gateway forwarded; a removed instance stays in the map
//! until pushed out, and the Engine answers for it that it is missing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How many exec instances are remembered; the oldest go first, and an
/// instance not remembered is asked about again.
const CAPACITY: usize = 4096;

/// Exec instance ID → tenant.
#[derive(Default)]
pub struct ExecOwners {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    tenants: HashMap<Box<str>, Arc<str>>,
    order: VecDeque<Box<str>>,
}

impl ExecOwners {
    /// Records that the Engine created exec instance `id` in a container of
    /// `tenant`.
    pub fn remember(&self, id: &str, tenant: &Arc<str>) {
        let mut entries = self.lock();
        if entries
            .tenants
            .insert(id.into(), Arc::clone(tenant))
            .is_none()
        {
            entries.order.push_back(id.into());
        }
        while entries.order.len() > CAPACITY {
            if let Some(oldest) = entries.order.pop_front() {
                entries.tenants.remove(&oldest);
            }
        }
    }

    /// The tenant of exec instance `id`, if it is remembered.
    pub fn tenant_of(&self, id: &str) -> Option<Arc<str>> {
        self.lock().tenants.get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Inserts and lookups only: a panic elsewhere cannot tear it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_entries_go_first_and_the_rest_stay() {
        let owners = ExecOwners::default();
        let tenant: Arc<str> = "a".into();
        for i in 0..CAPACITY + 10 {
            owners.remember(&format!("{i:064x}"), &tenant);
        }
        assert_eq!(owners.tenant_of(&format!("{:064x}", 0)), None);
        assert_eq!(owners.tenant_of(&format!("{:064x}", 9)), None);
        assert_eq!(
            owners.tenant_of(&format!("{:064x}", 10)).as_deref(),
            Some("a")
        );
        assert_eq!(owners.lock().tenants.len(), CAPACITY);
    }
}
