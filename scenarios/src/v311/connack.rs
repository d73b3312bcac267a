//! MQTT 3.1.1 section 3.2: CONNACK.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
