//! UNSUBSCRIBE: the client removes subscriptions (MQTT 5.0 §3.10, 3.1.1 §3.10).
//!
//! Layout: fixed header flags 0b0010 ([MQTT-3.10.1-1] (5.0) / [MQTT-3.10.1-1] (3.1.1)); Packet
//! Identifier; Properties (5.0: User Property); then one or more Topic Filters.
//!
//! Checked on decode: packet identifier 0, at least one filter ([MQTT-3.10.3-2] (5.0) /
//! [MQTT-3.10.3-2] (3.1.1)), each filter's UTF-8 ([MQTT-3.10.3-1] (5.0) / [MQTT-3.10.3-1]
//! (3.1.1)) and validity (Topic Filter invalid, 0x8F).

use super::error::{DecodeError, EncodeError, ProtocolViolation};
use super::header::PacketType;
use super::property::{
    properties_len, read_properties, write_properties, Properties, PropertyContext,
};
use super::reader::Reader;
use super::seq::{Seq, SeqItem};
use super::version::ProtocolVersion;
use super::writer::{prefixed_len, Writer};
use super::{no_properties_in_v3, packet_encode_methods, read_packet_id, PacketBody};
use crate::topic::validate_topic_filter;

/// A topic filter in an UNSUBSCRIBE: a UTF-8 Encoded String, validated as a filter on read.
impl<'a> SeqItem<'a> for &'a str {
    fn read(r: &mut Reader<'a>, _version: ProtocolVersion) -> Result<Self, DecodeError> {
        let filter = r.utf8()?;
        validate_topic_filter(filter).map_err(DecodeError::TopicFilterInvalid)?;
        Ok(filter)
    }

    fn encoded_len(&self, _version: ProtocolVersion) -> Result<usize, EncodeError> {
        prefixed_len(self.len())
    }

    fn write(&self, w: &mut Writer<'_>, _version: ProtocolVersion) -> Result<(), EncodeError> {
        w.put_utf8(self)
    }
}

/// An UNSUBSCRIBE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    /// Packet Identifier (non-zero).
    pub packet_id: u16,
    /// Properties (5.0).
    pub properties: Properties<'a>,
    /// The Topic Filters, at least one.
    pub filters: Seq<'a, &'a str>,
}

impl<'a> Unsubscribe<'a> {
    /// An UNSUBSCRIBE without properties.
    pub fn new(packet_id: u16, filters: &'a [&'a str]) -> Self {
        Unsubscribe {
            packet_id,
            properties: Properties::empty(),
            filters: Seq::Slice(filters),
        }
    }
}

impl<'a> PacketBody<'a> for Unsubscribe<'a> {
    const TYPE: PacketType = PacketType::Unsubscribe;

    fn decode_body(
        _flags: u8,
        r: &mut Reader<'a>,
        version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = match version {
            ProtocolVersion::V5 => {
                read_properties(r, PropertyContext::Packet(PacketType::Unsubscribe))?
            }
            ProtocolVersion::V3_1_1 => Properties::empty(),
        };
        let filters = super::seq::validate(r.rest(), version, |_: &str| Ok(()))?;
        // [MQTT-3.10.3-2] (5.0) / [MQTT-3.10.3-2] (3.1.1): at least one Topic Filter.
        if filters.is_empty() {
            return Err(ProtocolViolation::NoTopicFilters(PacketType::Unsubscribe).into());
        }
        Ok(Unsubscribe {
            packet_id,
            properties,
            filters,
        })
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        no_properties_in_v3(&self.properties, version)?;
        let props = match version {
            ProtocolVersion::V5 => properties_len(&self.properties)?,
            ProtocolVersion::V3_1_1 => 0,
        };
        Ok(2 + props + self.filters.encoded_len(version)?)
    }

    fn encode_body(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), EncodeError> {
        no_properties_in_v3(&self.properties, version)?;
        w.put_u16(self.packet_id)?;
        if version == ProtocolVersion::V5 {
            write_properties(&self.properties, w)?;
        }
        self.filters.write(w, version)
    }
}

packet_encode_methods!(Unsubscribe);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::{decode_err, golden};
    use crate::codec::{Packet, Property, ReasonCode};
    use crate::topic::TopicError;

    #[test]
    fn golden_v311() {
        let filters = ["a/#", "b"];
        let bytes = super::super::vectors::UNSUBSCRIBE_GOLDEN_V311;
        golden(
            bytes,
            ProtocolVersion::V3_1_1,
            Packet::Unsubscribe(Unsubscribe::new(3, &filters)),
        );
    }

    #[test]
    fn golden_v5() {
        let filters = ["t"];
        let props = [Property::UserProperty(("a", "b"))];
        let bytes = super::super::vectors::UNSUBSCRIBE_GOLDEN_V5;
        let p = Unsubscribe {
            properties: Properties::from(&props),
            ..Unsubscribe::new(3, &filters)
        };
        golden(bytes, ProtocolVersion::V5, Packet::Unsubscribe(p));
    }

    #[test]
    fn invalid_filter_is_topic_filter_invalid() {
        let e = decode_err(
            &[0xA2, 0x07, 0x00, 0x01, 0x00, 0x03, b'a', b'#', b'b'],
            ProtocolVersion::V3_1_1,
        );
        assert_eq!(
            e,
            DecodeError::TopicFilterInvalid(TopicError::WildcardNotAlone)
        );
        assert_eq!(e.reason_code(), ReasonCode::TopicFilterInvalid);
    }
}
