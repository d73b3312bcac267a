//! MQTT 5.0 section 2: MQTT Control Packet format.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
