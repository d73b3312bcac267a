//! MQTT 5.0 section 3.6: PUBREL.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
