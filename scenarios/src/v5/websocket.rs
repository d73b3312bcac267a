//! MQTT 5.0 section 6: WebSocket transport.
//!
//! Untested for now: the runner has no WebSocket transport yet (MQTT-6.0.0-1, -2 and -4 are
//! server-observable once it has; MQTT-6.0.0-3 binds the client).

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
