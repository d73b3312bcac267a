//! MQTT 5.0 section 3.15: AUTH.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
