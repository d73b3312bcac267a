//! MQTT 5.0 section 3.8: SUBSCRIBE.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
