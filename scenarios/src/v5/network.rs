//! MQTT 5.0 section 4.2: Network connections.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
