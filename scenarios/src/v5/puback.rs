//! MQTT 5.0 section 3.4: PUBACK.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
