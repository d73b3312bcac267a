//! MQTT 5.0 section 3.15: AUTH.
//!
//! Every statement of this section needs a connection using enhanced authentication, which needs
//! a broker configured with an authentication method we cannot assume: MQTT-3.15.1-1 (reserved
//! flags of an AUTH during an exchange), MQTT-3.15.2-1 (codes of the AUTH the server sends),
//! MQTT-3.15.2-2 and -3 (Reason String / User Property size in AUTH). An AUTH on a connection
//! without an Authentication Method is a Protocol Error whatever its flags, so it cannot tell a
//! reserved-flag check apart (see `v5.errors.auth_without_method_closes`).

use crate::Scenario;

pub(crate) fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
