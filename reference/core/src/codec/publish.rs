//! PUBLISH: an Application Message (MQTT 5.0 §3.3, 3.1.1 §3.3).
//!
//! Layout: fixed header flags DUP (bit 3), QoS (bits 2-1), RETAIN (bit 0); Topic Name; Packet
//! Identifier if QoS > 0; Properties (5.0); Payload (the rest of the packet, zero-copy).
//!
//! Checked on decode: QoS 3 and DUP with QoS 0 (in [`FixedHeader::decode`](super::FixedHeader)),
//! packet identifier 0, the topic name (valid UTF-8, no wildcards: Topic Name invalid 0x90), and
//! in 5.0 an empty topic name only with a Topic Alias. Not checked here (session state or
//! direction): the alias value against Topic Alias Maximum, a Subscription Identifier sent by a
//! client ([MQTT-3.3.4-6] (5.0)), and the payload against Payload Format Indicator (a receiver
//! MAY check that, §3.3.2.3.2).

use super::error::{DecodeError, EncodeError, ProtocolViolation};
use super::header::PacketType;
use super::property::{
    properties_len, read_properties, write_properties, Properties, Property, PropertyContext,
    PropertyId,
};
use super::reader::Reader;
use super::version::{ProtocolVersion, QoS};
use super::writer::{prefixed_len, Writer};
use super::{no_properties_in_v3, packet_encode_methods, read_packet_id, PacketBody};
use crate::topic::{validate_topic_name, TopicError};

/// A PUBLISH packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish<'a> {
    /// DUP: this may be a re-delivery ([MQTT-3.3.1-1] (5.0)). Must be false with QoS 0.
    pub dup: bool,
    /// Quality of Service.
    pub qos: QoS,
    /// RETAIN.
    pub retain: bool,
    /// Topic Name; may be empty in 5.0 when a Topic Alias property is present.
    pub topic: &'a str,
    /// Packet Identifier: `Some` exactly when QoS > 0 ([MQTT-2.2.1-2] (5.0) / [MQTT-2.3.1-5]
    /// (3.1.1)).
    pub packet_id: Option<u16>,
    /// Properties (5.0).
    pub properties: Properties<'a>,
    /// Application Message payload.
    pub payload: &'a [u8],
}

impl<'a> Publish<'a> {
    /// A QoS 0, non-retained PUBLISH without properties.
    pub const fn new(topic: &'a str, payload: &'a [u8]) -> Self {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic,
            packet_id: None,
            properties: Properties::Slice(&[]),
            payload,
        }
    }

    /// The Topic Alias property, if any.
    pub fn topic_alias(&self) -> Option<u16> {
        match self.properties.get(PropertyId::TopicAlias) {
            Some(Property::TopicAlias(a)) => Some(a),
            _ => None,
        }
    }
}

impl<'a> PacketBody<'a> for Publish<'a> {
    const TYPE: PacketType = PacketType::Publish;

    fn flags(&self) -> u8 {
        (u8::from(self.dup) << 3) | (self.qos.as_u8() << 1) | u8::from(self.retain)
    }

    fn decode_body(
        flags: u8,
        r: &mut Reader<'a>,
        version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        // The header decoder already rejected QoS 3 and DUP with QoS 0.
        let qos = QoS::from_u8((flags >> 1) & 0b11).unwrap_or(QoS::AtMostOnce);
        let dup = flags & 0b1000 != 0;
        let retain = flags & 0b0001 != 0;
        // [MQTT-3.3.2-1] (5.0) / [MQTT-3.3.2-1] (3.1.1): the Topic Name is a UTF-8 Encoded String.
        let topic = r.utf8()?;
        let packet_id = match qos {
            QoS::AtMostOnce => None,
            // [MQTT-2.2.1-3] (5.0) / [MQTT-2.3.1-1] (3.1.1): non-zero when QoS > 0.
            _ => Some(read_packet_id(r)?),
        };
        let properties = match version {
            ProtocolVersion::V5 => {
                read_properties(r, PropertyContext::Packet(PacketType::Publish))?
            }
            ProtocolVersion::V3_1_1 => Properties::empty(),
        };
        check_topic(topic, &properties, version)?;
        let payload = r.rest();
        Ok(Publish {
            dup,
            qos,
            retain,
            topic,
            packet_id,
            properties,
            payload,
        })
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        check_encodable(self, version)?;
        let mut n = prefixed_len(self.topic.len())?;
        if self.packet_id.is_some() {
            n += 2;
        }
        if version == ProtocolVersion::V5 {
            n += properties_len(&self.properties)?;
        }
        n.checked_add(self.payload.len())
            .ok_or(EncodeError::PacketTooLarge(usize::MAX))
    }

    fn encode_body(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), EncodeError> {
        check_encodable(self, version)?;
        w.put_utf8(self.topic)?;
        if let Some(id) = self.packet_id {
            w.put_u16(id)?;
        }
        if version == ProtocolVersion::V5 {
            write_properties(&self.properties, w)?;
        }
        w.put_slice(self.payload)
    }
}

fn check_encodable(p: &Publish<'_>, version: ProtocolVersion) -> Result<(), EncodeError> {
    no_properties_in_v3(&p.properties, version)?;
    if p.packet_id.is_some() != (p.qos != QoS::AtMostOnce) {
        return Err(EncodeError::PacketIdMismatch);
    }
    Ok(())
}

/// Checks the topic name of a received PUBLISH.
fn check_topic(
    topic: &str,
    props: &Properties<'_>,
    version: ProtocolVersion,
) -> Result<(), DecodeError> {
    if topic.is_empty() {
        return match version {
            // 5.0 §3.3.2.1: "It is a Protocol Error if the Topic Name is zero length and there is
            // no Topic Alias."
            ProtocolVersion::V5 => {
                if props.get(PropertyId::TopicAlias).is_some() {
                    Ok(())
                } else {
                    Err(ProtocolViolation::EmptyTopicWithoutAlias.into())
                }
            }
            // [MQTT-4.7.3-1] (3.1.1): topic names are at least one character long.
            ProtocolVersion::V3_1_1 => Err(DecodeError::TopicNameInvalid(TopicError::Empty)),
        };
    }
    // [MQTT-3.3.2-2] (5.0) / [MQTT-3.3.2-2] (3.1.1): no wildcard characters in a topic name.
    validate_topic_name(topic).map_err(DecodeError::TopicNameInvalid)
}

packet_encode_methods!(Publish);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::golden;
    use crate::codec::Packet;

    #[test]
    fn golden_v311_qos1() {
        let bytes = super::super::vectors::PUBLISH_GOLDEN_V311_QOS1;
        let p = Publish {
            qos: QoS::AtLeastOnce,
            packet_id: Some(10),
            ..Publish::new("a/b", b"hi")
        };
        golden(bytes, ProtocolVersion::V3_1_1, Packet::Publish(p));
    }

    #[test]
    fn golden_v311_qos0_retain_empty_payload() {
        let bytes = super::super::vectors::PUBLISH_GOLDEN_V311_QOS0_RETAIN_EMPTY_PAYLOAD;
        let p = Publish {
            retain: true,
            ..Publish::new("t", b"")
        };
        golden(bytes, ProtocolVersion::V3_1_1, Packet::Publish(p));
    }

    #[test]
    fn golden_v5_qos2_dup_with_properties() {
        let props = [
            Property::PayloadFormatIndicator(1),
            Property::TopicAlias(5),
            Property::SubscriptionIdentifier(200),
            Property::SubscriptionIdentifier(3),
        ];
        let bytes = super::super::vectors::PUBLISH_GOLDEN_V5_QOS2_DUP_WITH_PROPERTIES;
        let p = Publish {
            dup: true,
            qos: QoS::ExactlyOnce,
            packet_id: Some(0x1234),
            properties: Properties::from(&props),
            ..Publish::new("a/b", b"hi")
        };
        golden(bytes, ProtocolVersion::V5, Packet::Publish(p));
    }

    #[test]
    fn golden_v5_empty_topic_with_alias() {
        let props = [Property::TopicAlias(1)];
        let bytes = super::super::vectors::PUBLISH_GOLDEN_V5_EMPTY_TOPIC_WITH_ALIAS;
        let p = Publish {
            properties: Properties::from(&props),
            ..Publish::new("", b"x")
        };
        golden(bytes, ProtocolVersion::V5, Packet::Publish(p));
        assert_eq!(p.topic_alias(), Some(1));
    }

    #[test]
    fn encode_rejects_packet_id_mismatch() {
        let p = Publish {
            packet_id: Some(1),
            ..Publish::new("t", b"")
        };
        assert_eq!(
            p.encoded_len(ProtocolVersion::V5),
            Err(EncodeError::PacketIdMismatch)
        );
        let p = Publish {
            qos: QoS::AtLeastOnce,
            ..Publish::new("t", b"")
        };
        let mut out = [0u8; 16];
        assert_eq!(
            p.encode(ProtocolVersion::V5, &mut out),
            Err(EncodeError::PacketIdMismatch)
        );
    }

    #[test]
    fn encode_rejects_properties_in_v311_and_small_buffer() {
        let props = [Property::TopicAlias(1)];
        let p = Publish {
            properties: Properties::from(&props),
            ..Publish::new("t", b"")
        };
        assert!(matches!(
            p.encoded_len(ProtocolVersion::V3_1_1),
            Err(EncodeError::NotInVersion { .. })
        ));
        let p = Publish::new("t", b"payload");
        let mut out = [0u8; 4];
        assert_eq!(
            p.encode(ProtocolVersion::V3_1_1, &mut out),
            Err(EncodeError::BufferTooSmall {
                needed: 12,
                available: 4
            })
        );
    }
}
