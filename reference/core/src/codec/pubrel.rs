//! PUBREL: answers a PUBREC, QoS 2 step 2; fixed header flags 0b0010 ([MQTT-3.6.1-1]) (MQTT 5.0 §3.6, 3.1.1 §3.6).
//!
//! The layout is shared with the other publish responses: see
//! [`pub_response`](super::pub_response).

use super::header::PacketType;
use super::pub_response::pub_response_packet;

pub_response_packet!(
    /// A PUBREL packet: answers a PUBREC, QoS 2 step 2; fixed header flags 0b0010 ([MQTT-3.6.1-1]) (MQTT 5.0 §3.6, 3.1.1 §3.6).
    PubRel,
    PacketType::PubRel
);
