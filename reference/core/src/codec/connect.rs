//! CONNECT: the client's connection request (MQTT 5.0 §3.1, 3.1.1 §3.1).
//!
//! Layout: Protocol Name (`"MQTT"`), Protocol Level (4 or 5), Connect Flags, Keep Alive,
//! Properties (5.0); payload Client Identifier, then if flagged Will Properties (5.0), Will
//! Topic, Will Payload, User Name, Password.
//!
//! CONNECT carries its own version: decoding it ignores the `version` argument and reads the
//! Protocol Level, so a server can decode it before it knows what the client speaks. Level 3
//! (`MQIsdp`, MQTT 3.1) and any other level give [`DecodeError::UnsupportedProtocolVersion`].
//!
//! Not checked here (server policy): the Client Identifier's length and characters
//! ([MQTT-3.1.3-5] (5.0)), an empty Client Identifier with Clean Session 0 in 3.1.1
//! ([MQTT-3.1.3-8] (3.1.1)).

use super::error::{DecodeError, EncodeError, Malformed};
use super::header::PacketType;
use super::property::{
    properties_len, read_properties, write_properties, Properties, PropertyContext,
};
use super::reader::Reader;
use super::version::{ProtocolVersion, QoS};
use super::writer::{prefixed_len, Writer};
use super::{no_properties_in_v3, packet_encode_methods, PacketBody};
use crate::topic::validate_topic_name;

/// The Will Message a CONNECT may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Will<'a> {
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// Will Properties (5.0).
    pub properties: Properties<'a>,
    /// Will Topic.
    pub topic: &'a str,
    /// Will Payload.
    pub payload: &'a [u8],
}

/// A CONNECT packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect<'a> {
    /// The protocol version the client asks for (the Protocol Level byte).
    pub version: ProtocolVersion,
    /// Clean Start (5.0) / Clean Session (3.1.1).
    pub clean_start: bool,
    /// Keep Alive, seconds.
    pub keep_alive: u16,
    /// Properties (5.0).
    pub properties: Properties<'a>,
    /// Client Identifier; may be empty.
    pub client_id: &'a str,
    /// The Will Message, if the Will Flag is set.
    pub will: Option<Will<'a>>,
    /// User Name, if the User Name Flag is set.
    pub username: Option<&'a str>,
    /// Password, if the Password Flag is set.
    pub password: Option<&'a [u8]>,
}

impl<'a> Connect<'a> {
    /// A clean-start CONNECT for `client_id` with a 60 s keep alive and nothing else.
    pub const fn new(version: ProtocolVersion, client_id: &'a str) -> Self {
        Connect {
            version,
            clean_start: true,
            keep_alive: 60,
            properties: Properties::Slice(&[]),
            client_id,
            will: None,
            username: None,
            password: None,
        }
    }

    fn connect_flags(&self) -> u8 {
        let mut f = 0u8;
        if self.clean_start {
            f |= 0b0000_0010;
        }
        if let Some(w) = &self.will {
            f |= 0b0000_0100 | (w.qos.as_u8() << 3);
            if w.retain {
                f |= 0b0010_0000;
            }
        }
        if self.password.is_some() {
            f |= 0b0100_0000;
        }
        if self.username.is_some() {
            f |= 0b1000_0000;
        }
        f
    }
}

/// Reads the Protocol Name and Level.
fn read_protocol(r: &mut Reader<'_>) -> Result<ProtocolVersion, DecodeError> {
    let name = r.binary()?;
    match name {
        b"MQTT" => {
            let level = r.u8()?;
            // [MQTT-3.1.2-2] (5.0) / [MQTT-3.1.2-2] (3.1.1): an unsupported level is answered
            // with 0x84 (0x01 in 3.1.1).
            ProtocolVersion::from_level(level)
                .ok_or(DecodeError::UnsupportedProtocolVersion { level })
        }
        // MQTT 3.1 (protocol name "MQIsdp", level 3): recognised only to be refused.
        b"MQIsdp" => Err(DecodeError::UnsupportedProtocolVersion {
            level: r.u8().unwrap_or(3),
        }),
        // [MQTT-3.1.2-1] (5.0) / [MQTT-3.1.2-1] (3.1.1): the protocol name must be "MQTT".
        _ => Err(DecodeError::InvalidProtocolName),
    }
}

impl<'a> PacketBody<'a> for Connect<'a> {
    const TYPE: PacketType = PacketType::Connect;

    fn decode_body(
        _flags: u8,
        r: &mut Reader<'a>,
        _version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        let version = read_protocol(r)?;
        let flags = r.u8()?;
        // [MQTT-3.1.2-3] (5.0) / [MQTT-3.1.2-3] (3.1.1): the reserved flag must be 0.
        if flags & 0b0000_0001 != 0 {
            return Err(Malformed::ConnectReservedFlag.into());
        }
        let clean_start = flags & 0b0000_0010 != 0;
        let will_flag = flags & 0b0000_0100 != 0;
        let will_qos_bits = (flags >> 3) & 0b11;
        let will_retain = flags & 0b0010_0000 != 0;
        let password_flag = flags & 0b0100_0000 != 0;
        let username_flag = flags & 0b1000_0000 != 0;
        if !will_flag {
            // [MQTT-3.1.2-11] (5.0) / [MQTT-3.1.2-13] (3.1.1): Will QoS 0 without a Will.
            if will_qos_bits != 0 {
                return Err(Malformed::WillQoSWithoutWill.into());
            }
            // [MQTT-3.1.2-13] (5.0) / [MQTT-3.1.2-15] (3.1.1): Will Retain 0 without a Will.
            if will_retain {
                return Err(Malformed::WillRetainWithoutWill.into());
            }
        }
        // [MQTT-3.1.2-12] (5.0) / [MQTT-3.1.2-14] (3.1.1): Will QoS 3 is malformed.
        let will_qos = QoS::from_u8(will_qos_bits).ok_or(Malformed::WillQoS3)?;
        // [MQTT-3.1.2-22] (3.1.1): no password without a user name (allowed in 5.0).
        if version == ProtocolVersion::V3_1_1 && password_flag && !username_flag {
            return Err(Malformed::PasswordWithoutUsername.into());
        }
        let keep_alive = r.u16()?;
        let properties = match version {
            ProtocolVersion::V5 => {
                read_properties(r, PropertyContext::Packet(PacketType::Connect))?
            }
            ProtocolVersion::V3_1_1 => Properties::empty(),
        };
        // [MQTT-3.1.3-3] and [MQTT-3.1.3-4] (5.0) / [MQTT-3.1.3-3] and [MQTT-3.1.3-4] (3.1.1):
        // the Client Identifier comes first and is a UTF-8 Encoded String.
        let client_id = r.utf8()?;
        // [MQTT-3.1.2-9] (5.0) / [MQTT-3.1.2-9] (3.1.1): with the Will Flag, the Will fields
        // are present.
        let will = if will_flag {
            let properties = match version {
                ProtocolVersion::V5 => read_properties(r, PropertyContext::Will)?,
                ProtocolVersion::V3_1_1 => Properties::empty(),
            };
            // [MQTT-3.1.3-11] (5.0) / [MQTT-3.1.3-10] (3.1.1): the Will Topic is a UTF-8
            // Encoded String, and, being the topic the Will is published to, a valid topic name.
            let topic = r.utf8()?;
            validate_topic_name(topic).map_err(DecodeError::TopicNameInvalid)?;
            let payload = r.binary()?;
            Some(Will {
                qos: will_qos,
                retain: will_retain,
                properties,
                topic,
                payload,
            })
        } else {
            None
        };
        // [MQTT-3.1.2-16], [MQTT-3.1.2-17], [MQTT-3.1.3-12] (5.0) /
        // [MQTT-3.1.2-18], [MQTT-3.1.2-19], [MQTT-3.1.3-11] (3.1.1): User Name present iff
        // flagged, UTF-8.
        let username = if username_flag { Some(r.utf8()?) } else { None };
        // [MQTT-3.1.2-18], [MQTT-3.1.2-19] (5.0) / [MQTT-3.1.2-20], [MQTT-3.1.2-21] (3.1.1):
        // Password present iff flagged. Anything after it is trailing bytes (malformed).
        let password = if password_flag {
            Some(r.binary()?)
        } else {
            None
        };
        Ok(Connect {
            version,
            clean_start,
            keep_alive,
            properties,
            client_id,
            will,
            username,
            password,
        })
    }

    fn body_len(&self, _version: ProtocolVersion) -> Result<usize, EncodeError> {
        // CONNECT is encoded in its own version, whatever the argument says.
        let v = self.version;
        no_properties_in_v3(&self.properties, v)?;
        // Protocol Name (6) + Level (1) + Flags (1) + Keep Alive (2).
        let mut n = 10 + prefixed_len(self.client_id.len())?;
        if v == ProtocolVersion::V5 {
            n += properties_len(&self.properties)?;
        }
        if let Some(w) = &self.will {
            no_properties_in_v3(&w.properties, v)?;
            if v == ProtocolVersion::V5 {
                n += properties_len(&w.properties)?;
            }
            n += prefixed_len(w.topic.len())? + prefixed_len(w.payload.len())?;
        }
        if let Some(u) = self.username {
            n += prefixed_len(u.len())?;
        }
        if let Some(p) = self.password {
            n += prefixed_len(p.len())?;
        }
        Ok(n)
    }

    fn encode_body(
        &self,
        w: &mut Writer<'_>,
        _version: ProtocolVersion,
    ) -> Result<(), EncodeError> {
        // CONNECT is encoded in its own version, whatever the argument says.
        let v = self.version;
        w.put_utf8("MQTT")?;
        w.put_u8(v.level())?;
        w.put_u8(self.connect_flags())?;
        w.put_u16(self.keep_alive)?;
        if v == ProtocolVersion::V5 {
            write_properties(&self.properties, w)?;
        }
        w.put_utf8(self.client_id)?;
        if let Some(will) = &self.will {
            if v == ProtocolVersion::V5 {
                write_properties(&will.properties, w)?;
            }
            w.put_utf8(will.topic)?;
            w.put_binary(will.payload)?;
        }
        if let Some(u) = self.username {
            w.put_utf8(u)?;
        }
        if let Some(p) = self.password {
            w.put_binary(p)?;
        }
        Ok(())
    }
}

packet_encode_methods!(Connect);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::golden;
    use crate::codec::{Packet, Property};

    #[test]
    fn golden_v311_minimal() {
        let bytes = super::super::vectors::CONNECT_GOLDEN_V311_MINIMAL;
        golden(
            bytes,
            ProtocolVersion::V3_1_1,
            Packet::Connect(Connect::new(ProtocolVersion::V3_1_1, "c1")),
        );
    }

    #[test]
    fn golden_v311_full() {
        let bytes = super::super::vectors::CONNECT_GOLDEN_V311_FULL;
        let c = Connect {
            clean_start: false,
            keep_alive: 10,
            will: Some(Will {
                qos: QoS::ExactlyOnce,
                retain: true,
                properties: Properties::empty(),
                topic: "w/t",
                payload: b"by",
            }),
            username: Some("u"),
            password: Some(&[0xFF, 0x00]),
            ..Connect::new(ProtocolVersion::V3_1_1, "c")
        };
        golden(bytes, ProtocolVersion::V3_1_1, Packet::Connect(c));
    }

    #[test]
    fn golden_v5_with_properties_and_will() {
        let props = [
            Property::SessionExpiryInterval(0x78),
            Property::ReceiveMaximum(20),
        ];
        let will_props = [Property::WillDelayInterval(5)];
        let bytes = super::super::vectors::CONNECT_GOLDEN_V5_WITH_PROPERTIES_AND_WILL;
        let c = Connect {
            keep_alive: 0,
            properties: Properties::from(&props),
            will: Some(Will {
                qos: QoS::AtLeastOnce,
                retain: false,
                properties: Properties::from(&will_props),
                topic: "w",
                payload: b"",
            }),
            password: Some(b"p"),
            ..Connect::new(ProtocolVersion::V5, "")
        };
        // CONNECT carries its version: decoding works whatever the connection version says.
        golden(bytes, ProtocolVersion::V5, Packet::Connect(c));
        golden(bytes, ProtocolVersion::V3_1_1, Packet::Connect(c));
    }
}
