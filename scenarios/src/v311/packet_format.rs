//! MQTT 3.1.1 section 2: MQTT Control Packet format.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
