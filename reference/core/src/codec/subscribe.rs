//! SUBSCRIBE: the client asks for subscriptions (MQTT 5.0 §3.8, 3.1.1 §3.8).
//!
//! Layout: fixed header flags 0b0010 ([MQTT-3.8.1-1] (both)); Packet Identifier; Properties (5.0:
//! Subscription Identifier, User Property); then one or more Topic Filter + Subscription Options
//! pairs.
//!
//! Checked on decode: packet identifier 0, at least one subscription ([MQTT-3.8.3-2] (5.0) /
//! [MQTT-3.8.3-3] (3.1.1)), each filter's UTF-8 ([MQTT-3.8.3-1] (5.0) / [MQTT-3.8.3-1] (3.1.1))
//! and validity (Topic Filter invalid, 0x8F), the options' reserved bits (malformed), QoS 3 and
//! Retain Handling 3 (5.0: Protocol Error; 3.1.1: malformed), and No Local on a shared
//! subscription ([MQTT-3.8.3-4] (5.0)). Whether the server supports wildcards, shared
//! subscriptions or subscription identifiers is its own business (SUBACK reason codes).
//!
//! MQTT 3.1.1 has no shared subscriptions, but a 3.1.1 filter starting with `$share/` is still
//! checked by [`validate_topic_filter`] as a shared one.

use super::error::{DecodeError, EncodeError, Malformed, ProtocolViolation};
use super::header::PacketType;
use super::property::{
    properties_len, read_properties, write_properties, Properties, PropertyContext,
};
use super::reader::Reader;
use super::seq::{Seq, SeqItem};
use super::version::{ProtocolVersion, QoS};
use super::writer::{prefixed_len, Writer};
use super::{no_properties_in_v3, packet_encode_methods, read_packet_id, PacketBody};
use crate::topic::validate_topic_filter;

/// Retain Handling subscription option (5.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send retained messages only if the subscription did not exist.
    SendAtSubscribeIfNew = 1,
    /// 2: do not send retained messages at the time of the subscribe.
    DoNotSend = 2,
}

/// Subscription Options (5.0 §3.8.3.1); in 3.1.1 only the QoS exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS.
    pub qos: QoS,
    /// No Local (5.0).
    pub no_local: bool,
    /// Retain As Published (5.0).
    pub retain_as_published: bool,
    /// Retain Handling (5.0).
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Options with `qos` and every 5.0 option at its default.
    pub const fn qos(qos: QoS) -> Self {
        SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
        }
    }

    /// The options byte.
    pub const fn to_byte(self) -> u8 {
        self.qos.as_u8()
            | ((self.no_local as u8) << 2)
            | ((self.retain_as_published as u8) << 3)
            | ((self.retain_handling as u8) << 4)
    }

    /// Parses and checks an options byte.
    ///
    /// # Errors
    /// Reserved bits ([MQTT-3.8.3-5] (5.0) / [MQTT-3.8.3-4] (3.1.1)), QoS 3, Retain Handling 3.
    pub fn from_byte(b: u8, version: ProtocolVersion) -> Result<Self, DecodeError> {
        match version {
            ProtocolVersion::V5 => {
                // [MQTT-3.8.3-5] (5.0): bits 7 and 6 are reserved; non-zero is malformed.
                if b & 0b1100_0000 != 0 {
                    return Err(Malformed::SubscriptionOptionsReserved(b).into());
                }
                // 5.0 §3.8.3.1: Maximum QoS 3 is a Protocol Error.
                let qos = QoS::from_u8(b & 0b11).ok_or(ProtocolViolation::SubscriptionQoS3)?;
                // 5.0 §3.8.3.1: Retain Handling 3 is a Protocol Error.
                let retain_handling = match (b >> 4) & 0b11 {
                    0 => RetainHandling::SendAtSubscribe,
                    1 => RetainHandling::SendAtSubscribeIfNew,
                    2 => RetainHandling::DoNotSend,
                    _ => return Err(ProtocolViolation::RetainHandling3.into()),
                };
                Ok(SubscriptionOptions {
                    qos,
                    no_local: b & 0b0100 != 0,
                    retain_as_published: b & 0b1000 != 0,
                    retain_handling,
                })
            }
            ProtocolVersion::V3_1_1 => {
                // [MQTT-3.8.3-4] (3.1.1): bits 7-2 reserved, QoS not 3; both malformed.
                if b & 0b1111_1100 != 0 {
                    return Err(Malformed::SubscriptionOptionsReserved(b).into());
                }
                let qos = QoS::from_u8(b & 0b11).ok_or(Malformed::SubscriptionQoS3)?;
                Ok(SubscriptionOptions::qos(qos))
            }
        }
    }
}

/// One Topic Filter and its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subscription<'a> {
    /// The Topic Filter (possibly `$share/{ShareName}/{filter}`).
    pub filter: &'a str,
    /// The options.
    pub options: SubscriptionOptions,
}

impl<'a> Subscription<'a> {
    /// A subscription to `filter` with `qos` and default 5.0 options.
    pub const fn new(filter: &'a str, qos: QoS) -> Self {
        Subscription {
            filter,
            options: SubscriptionOptions::qos(qos),
        }
    }
}

impl<'a> SeqItem<'a> for Subscription<'a> {
    fn read(r: &mut Reader<'a>, version: ProtocolVersion) -> Result<Self, DecodeError> {
        // [MQTT-3.8.3-1] (5.0) / [MQTT-3.8.3-1] (3.1.1): Topic Filters are UTF-8 Encoded Strings.
        let filter = r.utf8()?;
        let options = SubscriptionOptions::from_byte(r.u8()?, version)?;
        validate_topic_filter(filter).map_err(DecodeError::TopicFilterInvalid)?;
        // [MQTT-3.8.3-4] (5.0): No Local on a shared subscription is a Protocol Error.
        if options.no_local && filter.starts_with("$share/") {
            return Err(ProtocolViolation::NoLocalOnSharedSubscription.into());
        }
        Ok(Subscription { filter, options })
    }

    fn encoded_len(&self, _version: ProtocolVersion) -> Result<usize, EncodeError> {
        Ok(prefixed_len(self.filter.len())? + 1)
    }

    fn write(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), EncodeError> {
        if version == ProtocolVersion::V3_1_1
            && self.options != SubscriptionOptions::qos(self.options.qos)
        {
            return Err(EncodeError::NotInVersion {
                what: "5.0 subscription options",
                version,
            });
        }
        w.put_utf8(self.filter)?;
        w.put_u8(self.options.to_byte())
    }
}

/// A SUBSCRIBE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribe<'a> {
    /// Packet Identifier (non-zero).
    pub packet_id: u16,
    /// Properties (5.0).
    pub properties: Properties<'a>,
    /// The subscriptions, at least one.
    pub subscriptions: Seq<'a, Subscription<'a>>,
}

impl<'a> Subscribe<'a> {
    /// A SUBSCRIBE without properties.
    pub fn new(packet_id: u16, subscriptions: &'a [Subscription<'a>]) -> Self {
        Subscribe {
            packet_id,
            properties: Properties::empty(),
            subscriptions: Seq::Slice(subscriptions),
        }
    }
}

impl<'a> PacketBody<'a> for Subscribe<'a> {
    const TYPE: PacketType = PacketType::Subscribe;

    fn decode_body(
        _flags: u8,
        r: &mut Reader<'a>,
        version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = match version {
            ProtocolVersion::V5 => {
                read_properties(r, PropertyContext::Packet(PacketType::Subscribe))?
            }
            ProtocolVersion::V3_1_1 => Properties::empty(),
        };
        let subscriptions = super::seq::validate(r.rest(), version, |_: Subscription<'_>| Ok(()))?;
        // [MQTT-3.8.3-2] (5.0) / [MQTT-3.8.3-3] (3.1.1): at least one subscription.
        if subscriptions.is_empty() {
            return Err(ProtocolViolation::NoTopicFilters(PacketType::Subscribe).into());
        }
        Ok(Subscribe {
            packet_id,
            properties,
            subscriptions,
        })
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        no_properties_in_v3(&self.properties, version)?;
        let props = match version {
            ProtocolVersion::V5 => properties_len(&self.properties)?,
            ProtocolVersion::V3_1_1 => 0,
        };
        Ok(2 + props + self.subscriptions.encoded_len(version)?)
    }

    fn encode_body(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), EncodeError> {
        no_properties_in_v3(&self.properties, version)?;
        w.put_u16(self.packet_id)?;
        if version == ProtocolVersion::V5 {
            write_properties(&self.properties, w)?;
        }
        self.subscriptions.write(w, version)
    }
}

packet_encode_methods!(Subscribe);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::{decode_err, golden};
    use crate::codec::{Packet, Property, ReasonCode};

    #[test]
    fn golden_v311() {
        let subs = [
            Subscription::new("a/+", QoS::AtLeastOnce),
            Subscription::new("#", QoS::ExactlyOnce),
        ];
        let bytes = super::super::vectors::SUBSCRIBE_GOLDEN_V311;
        golden(
            bytes,
            ProtocolVersion::V3_1_1,
            Packet::Subscribe(Subscribe::new(1, &subs)),
        );
    }

    #[test]
    fn golden_v5_options_and_subscription_identifier() {
        let props = [Property::SubscriptionIdentifier(0x80)];
        let subs = [Subscription {
            filter: "$share/g/t",
            options: SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: false,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            },
        }];
        let bytes = super::super::vectors::SUBSCRIBE_GOLDEN_V5_OPTIONS_AND_SUBSCRIPTION_IDENTIFIER;
        let p = Subscribe {
            properties: Properties::from(&props),
            ..Subscribe::new(2, &subs)
        };
        golden(bytes, ProtocolVersion::V5, Packet::Subscribe(p));
    }

    #[test]
    fn v5_options_cannot_be_sent_in_v311() {
        let subs = [Subscription {
            filter: "t",
            options: SubscriptionOptions {
                no_local: true,
                ..SubscriptionOptions::qos(QoS::AtMostOnce)
            },
        }];
        assert!(matches!(
            Subscribe::new(1, &subs)
                .encoded_len(ProtocolVersion::V3_1_1)
                .and_then(|_| {
                    let mut out = [0u8; 32];
                    Subscribe::new(1, &subs).encode(ProtocolVersion::V3_1_1, &mut out)
                }),
            Err(EncodeError::NotInVersion { .. })
        ));
    }

    #[test]
    fn subscription_options_rules() {
        // [MQTT-3.8.3-5] (5.0): reserved bits 6-7 set: malformed.
        let e = decode_err(
            &[0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, b't'],
            ProtocolVersion::V5,
        );
        assert_eq!(e, DecodeError::Malformed(Malformed::UnexpectedEnd));
        let e = decode_err(
            &[0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b't', 0x40],
            ProtocolVersion::V5,
        );
        assert_eq!(
            e,
            DecodeError::Malformed(Malformed::SubscriptionOptionsReserved(0x40))
        );
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
        // 5.0 §3.8.3.1: Retain Handling 3 and QoS 3 are Protocol Errors.
        let e = decode_err(
            &[0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b't', 0x30],
            ProtocolVersion::V5,
        );
        assert_eq!(e, DecodeError::Protocol(ProtocolViolation::RetainHandling3));
        assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
        let e = decode_err(
            &[0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b't', 0x03],
            ProtocolVersion::V5,
        );
        assert_eq!(
            e,
            DecodeError::Protocol(ProtocolViolation::SubscriptionQoS3)
        );
        // [MQTT-3.8.3-4] (3.1.1): reserved bits 2-7 and QoS 3 are malformed.
        let e = decode_err(
            &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b't', 0x04],
            ProtocolVersion::V3_1_1,
        );
        assert_eq!(
            e,
            DecodeError::Malformed(Malformed::SubscriptionOptionsReserved(0x04))
        );
        let e = decode_err(
            &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b't', 0x03],
            ProtocolVersion::V3_1_1,
        );
        assert_eq!(e, DecodeError::Malformed(Malformed::SubscriptionQoS3));
    }
}
