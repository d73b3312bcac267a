//! MQTT 5.0 section 4.8: Subscriptions and shared subscriptions.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
