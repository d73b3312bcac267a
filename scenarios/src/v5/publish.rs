//! MQTT 5.0 section 3.3: PUBLISH.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
