//! MQTT 3.1.1 section 4.7: Topic Names and Topic Filters.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
