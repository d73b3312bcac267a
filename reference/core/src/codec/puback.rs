//! PUBACK: acknowledges a QoS 1 PUBLISH (MQTT 5.0 §3.4, 3.1.1 §3.4).
//!
//! The layout is shared with the other publish responses: see
//! [`pub_response`](super::pub_response).

use super::header::PacketType;
use super::pub_response::pub_response_packet;

pub_response_packet!(
    /// A PUBACK packet: acknowledges a QoS 1 PUBLISH (MQTT 5.0 §3.4, 3.1.1 §3.4).
    PubAck,
    PacketType::PubAck
);
