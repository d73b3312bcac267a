//! MQTT 5.0 section 4.4-4.5: Message delivery retry and receipt.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
