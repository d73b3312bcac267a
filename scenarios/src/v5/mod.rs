//! MQTT 5.0 scenarios, one module per section of the specification.

mod data;
mod packet_format;
mod connect;
mod connack;
mod publish;
mod puback;
mod pubrec;
mod pubrel;
mod pubcomp;
mod subscribe;
mod suback;
mod unsubscribe;
mod unsuback;
mod pingreq;
mod disconnect;
mod auth;
mod sessions;
mod network;
mod qos;
mod delivery;
mod ordering;
mod topic_names;
mod shared;
mod flow_control;
mod enhanced_auth;
mod errors;
mod websocket;

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
