//! MQTT 5.0 section 4.9: Flow control.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
