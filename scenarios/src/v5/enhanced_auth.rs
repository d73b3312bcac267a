//! MQTT 5.0 section 4.12: Enhanced authentication.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
