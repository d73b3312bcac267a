//! MQTT 3.1.1 section 1.5: Data representation.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
