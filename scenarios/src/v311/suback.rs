//! MQTT 3.1.1 section 3.9: SUBACK.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
