//! MQTT 3.1.1 scenarios, one module per section of the specification.

mod conformance;
mod connack;
mod connect;
mod data;
mod delivery;
mod disconnect;
mod errors;
mod ordering;
mod packet_format;
mod pingreq;
mod publish;
mod pubrel;
mod qos;
mod sessions;
mod suback;
mod subscribe;
mod topic_names;
mod unsubscribe;
mod websocket;

use crate::Scenario;

/// Every 3.1.1 scenario, in section order.
pub(crate) fn scenarios() -> Vec<Scenario> {
    let mut all = Vec::new();
    all.extend(data::scenarios());
    all.extend(packet_format::scenarios());
    all.extend(connect::scenarios());
    all.extend(connack::scenarios());
    all.extend(publish::scenarios());
    all.extend(pubrel::scenarios());
    all.extend(subscribe::scenarios());
    all.extend(suback::scenarios());
    all.extend(unsubscribe::scenarios());
    all.extend(pingreq::scenarios());
    all.extend(disconnect::scenarios());
    all.extend(sessions::scenarios());
    all.extend(qos::scenarios());
    all.extend(delivery::scenarios());
    all.extend(ordering::scenarios());
    all.extend(topic_names::scenarios());
    all.extend(errors::scenarios());
    all.extend(websocket::scenarios());
    all.extend(conformance::scenarios());
    all
}
