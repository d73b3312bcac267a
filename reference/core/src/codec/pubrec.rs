//! PUBREC: first answer to a QoS 2 PUBLISH (MQTT 5.0 §3.5, 3.1.1 §3.5).
//!
//! The layout is shared with the other publish responses: see
//! [`pub_response`](super::pub_response).

use super::header::PacketType;
use super::pub_response::pub_response_packet;

pub_response_packet!(
    /// A PUBREC packet: first answer to a QoS 2 PUBLISH (MQTT 5.0 §3.5, 3.1.1 §3.5).
    PubRec,
    PacketType::PubRec
);
