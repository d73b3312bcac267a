//! MQTT 5.0 section 3.11: UNSUBACK.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
