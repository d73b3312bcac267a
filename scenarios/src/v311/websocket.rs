//! MQTT 3.1.1 section 6: MQTT over WebSockets.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
