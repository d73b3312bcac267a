//! MQTT 3.1.1 section 7: Conformance targets.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
