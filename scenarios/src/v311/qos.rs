//! MQTT 3.1.1 section 4.3: Quality of Service levels and protocol flows.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
