//! PUBCOMP: answers a PUBREL, QoS 2 step 3 (MQTT 5.0 §3.7, 3.1.1 §3.7).
//!
//! The layout is shared with the other publish responses: see
//! [`pub_response`](super::pub_response).

use super::header::PacketType;
use super::pub_response::pub_response_packet;

pub_response_packet!(
    /// A PUBCOMP packet: answers a PUBREL, QoS 2 step 3 (MQTT 5.0 §3.7, 3.1.1 §3.7).
    PubComp,
    PacketType::PubComp
);
