//! MQTT 5.0 section 3.5: PUBREC.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
