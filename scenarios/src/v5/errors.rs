//! MQTT 5.0 section 4.13: Handling errors.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
