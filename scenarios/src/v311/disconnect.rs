//! MQTT 3.1.1 section 3.14: DISCONNECT.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
