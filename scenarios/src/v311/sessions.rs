//! MQTT 3.1.1 section 4.1: Session state.

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
