//! MQTT 3.1.1 section 4.6: Message ordering.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
