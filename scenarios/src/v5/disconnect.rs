//! MQTT 5.0 section 3.14: DISCONNECT.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
