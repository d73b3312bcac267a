//! MQTT 5.0 section 3.2: CONNACK.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
