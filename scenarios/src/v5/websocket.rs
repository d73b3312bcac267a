//! MQTT 5.0 section 6: MQTT over WebSockets.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
