//! MQTT 5.0 section 3.7: PUBCOMP.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
