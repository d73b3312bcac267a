//! MQTT 5.0 scenarios, one module per section of the specification.

mod auth;
mod connack;
mod connect;
mod data;
mod delivery;
mod disconnect;
mod enhanced_auth;
mod errors;
mod flow_control;
mod network;
mod ordering;
pub(crate) mod packet_format;
mod pingreq;
mod puback;
mod pubcomp;
mod publish;
mod pubrec;
mod pubrel;
mod qos;
mod sessions;
mod shared;
mod suback;
mod subscribe;
mod topic_names;
mod unsuback;
mod unsubscribe;
pub(crate) mod websocket;

use crate::Scenario;

/// Every 5.0 scenario, in section order.
pub(crate) fn scenarios() -> Vec<Scenario> {
    let mut all = Vec::new();
    all.extend(data::scenarios());
    all.extend(packet_format::scenarios());
    all.extend(connect::scenarios());
    all.extend(connack::scenarios());
    all.extend(publish::scenarios());
    all.extend(puback::scenarios());
    all.extend(pubrec::scenarios());
    all.extend(pubrel::scenarios());
    all.extend(pubcomp::scenarios());
    all.extend(subscribe::scenarios());
    all.extend(suback::scenarios());
    all.extend(unsubscribe::scenarios());
    all.extend(unsuback::scenarios());
    all.extend(pingreq::scenarios());
    all.extend(disconnect::scenarios());
    all.extend(auth::scenarios());
    all.extend(sessions::scenarios());
    all.extend(network::scenarios());
    all.extend(qos::scenarios());
    all.extend(delivery::scenarios());
    all.extend(ordering::scenarios());
    all.extend(topic_names::scenarios());
    all.extend(shared::scenarios());
    all.extend(flow_control::scenarios());
    all.extend(enhanced_auth::scenarios());
    all.extend(errors::scenarios());
    all.extend(websocket::scenarios());
    all
}
