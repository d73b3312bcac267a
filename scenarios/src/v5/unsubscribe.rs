//! MQTT 5.0 section 3.10: UNSUBSCRIBE.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
