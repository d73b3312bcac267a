//! MQTT 5.0 scenarios, one module per section of the specification.

mod connect;
mod pingreq;

use crate::Scenario;

/// Every 5.0 scenario, in section order.
pub(crate) fn scenarios() -> Vec<Scenario> {
    let mut all = connect::scenarios();
    all.extend(pingreq::scenarios());
    all
}
