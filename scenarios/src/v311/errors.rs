//! MQTT 3.1.1 section 4.8: Handling errors.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
