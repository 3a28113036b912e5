use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// The state one component reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentStatus {
    pub healthy: bool,
    pub detail: String,
}

/// Health of a service: healthy when every registered component is.
///
/// Components (the Kafka consumer, the producer, the model thread) update
/// their own entry; `/health` answers 200 or 503 with all entries.
#[derive(Debug, Clone, Default)]
pub struct Health {
    components: Arc<Mutex<BTreeMap<String, ComponentStatus>>>,
}

impl Health {
    /// Sets the status of one component.
    pub fn set(&self, component: &str, healthy: bool, detail: impl Into<String>) {
        let status = ComponentStatus {
            healthy,
            detail: detail.into(),
        };
        if let Ok(mut components) = self.components.lock() {
            components.insert(component.to_owned(), status);
        }
    }

    /// Returns whether every component is healthy.
    pub fn is_healthy(&self) -> bool {
        self.snapshot().values().all(|status| status.healthy)
    }

    /// Returns a copy of every component's status.
    pub fn snapshot(&self) -> BTreeMap<String, ComponentStatus> {
        match self.components.lock() {
            Ok(components) => components.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unhealthy_when_any_component_is() {
        let health = Health::default();
        assert!(health.is_healthy());
        health.set("kafka", true, "connected");
        health.set("model", false, "loading");
        assert!(!health.is_healthy());
        health.set("model", true, "ready");
        assert!(health.is_healthy());
    }
}
