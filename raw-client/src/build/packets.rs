//! The packet builders: one struct per packet a client sends (and [`Connack`], [`Suback`] for
//! the scripted server), valid by default for its version.
//!
//! Each builder is a plain struct with `v5(..)`, `v311(..)` and `new(version, ..)` constructors,
//! chained setters, and `build() -> Vec<u8>`; the shared fixed-header and property methods come
//! from the `common_methods!` / `property_methods!` macros and the frame is finished by
//! `Common::finish`, so a builder is only its body layout.

use super::{common_methods, packet_type as pt, property_methods, Common, Property, Writer};
use crate::ProtocolVersion;

fn is_v5(version: ProtocolVersion) -> bool {
    matches!(version, ProtocolVersion::V5)
}

/// A will message, for [`Connect::will`].
#[derive(Clone, Debug, Default)]
pub struct Will {
    /// Will topic (raw bytes).
    pub topic: Vec<u8>,
    /// Will payload.
    pub payload: Vec<u8>,
    /// Will QoS (written into the connect flags; 3 is writable).
    pub qos: u8,
    /// Will retain flag.
    pub retain: bool,
    /// Will properties (5.0 only).
    pub properties: Vec<Property>,
    /// Will property length override (5.0 only).
    pub properties_len: Option<u32>,
}

impl Will {
    /// A QoS 0, non-retained will.
    pub fn new(topic: impl AsRef<[u8]>, payload: impl AsRef<[u8]>) -> Self {
        Self {
            topic: topic.as_ref().to_vec(),
            payload: payload.as_ref().to_vec(),
            ..Self::default()
        }
    }
    /// Sets the will QoS.
    pub fn qos(mut self, qos: u8) -> Self {
        self.qos = qos;
        self
    }
    /// Sets the will retain flag.
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }
    /// Adds a will property (5.0 only).
    pub fn property(mut self, p: Property) -> Self {
        self.properties.push(p);
        self
    }
}

/// CONNECT. Defaults: protocol name `MQTT`, level 5 or 4, clean start, keep alive 30 s, no will,
/// no user name or password, no properties.
#[derive(Clone, Debug)]
pub struct Connect {
    v5: bool,
    protocol_name: Vec<u8>,
    level: u8,
    connect_flags: Option<u8>,
    clean_start: bool,
    keep_alive: u16,
    client_id: Vec<u8>,
    will: Option<Will>,
    username: Option<Vec<u8>>,
    password: Option<Vec<u8>>,
    common: Common,
}

impl Connect {
    /// A CONNECT for `version`.
    pub fn new(version: ProtocolVersion, client_id: impl AsRef<[u8]>) -> Self {
        let v5 = is_v5(version);
        Self {
            v5,
            protocol_name: b"MQTT".to_vec(),
            level: if v5 { 5 } else { 4 },
            connect_flags: None,
            clean_start: true,
            keep_alive: 30,
            client_id: client_id.as_ref().to_vec(),
            will: None,
            username: None,
            password: None,
            common: Common::default(),
        }
    }
    /// A 5.0 CONNECT.
    pub fn v5(client_id: impl AsRef<[u8]>) -> Self {
        Self::new(ProtocolVersion::V5, client_id)
    }
    /// A 3.1.1 CONNECT.
    pub fn v311(client_id: impl AsRef<[u8]>) -> Self {
        Self::new(ProtocolVersion::V3_1_1, client_id)
    }
    /// Protocol name (raw bytes; `MQIsdp`, `mqtt`, invalid UTF-8 ...).
    pub fn protocol_name(mut self, name: impl AsRef<[u8]>) -> Self {
        self.protocol_name = name.as_ref().to_vec();
        self
    }
    /// Protocol level byte.
    pub fn protocol_level(mut self, level: u8) -> Self {
        self.level = level;
        self
    }
    /// The whole connect-flags byte, replacing the one computed from clean start, will, user
    /// name and password (`0x03` sets the reserved bit 0). Not the fixed header's flags: that is
    /// `flags_override`, as on every builder.
    pub fn connect_flags_override(mut self, flags: u8) -> Self {
        self.connect_flags = Some(flags);
        self
    }
    /// Clean Start (5.0) / Clean Session (3.1.1).
    pub fn clean_start(mut self, clean: bool) -> Self {
        self.clean_start = clean;
        self
    }
    /// Keep alive, seconds.
    pub fn keep_alive(mut self, secs: u16) -> Self {
        self.keep_alive = secs;
        self
    }
    /// Client identifier (raw bytes: may contain U+0000 or invalid UTF-8).
    pub fn client_id(mut self, id: impl AsRef<[u8]>) -> Self {
        self.client_id = id.as_ref().to_vec();
        self
    }
    /// A will message (sets the will flag, QoS and retain bits).
    pub fn will(mut self, will: Will) -> Self {
        self.will = Some(will);
        self
    }
    /// User name (sets the user name flag).
    pub fn username(mut self, name: impl AsRef<[u8]>) -> Self {
        self.username = Some(name.as_ref().to_vec());
        self
    }
    /// Password (sets the password flag).
    pub fn password(mut self, pw: impl AsRef<[u8]>) -> Self {
        self.password = Some(pw.as_ref().to_vec());
        self
    }
    common_methods!();
    property_methods!();

    /// The connect-flags byte these settings give.
    pub fn computed_connect_flags(&self) -> u8 {
        let mut f = 0u8;
        if self.username.is_some() {
            f |= 0x80;
        }
        if self.password.is_some() {
            f |= 0x40;
        }
        if let Some(w) = &self.will {
            f |= 0x04 | ((w.qos & 0x03) << 3);
            if w.retain {
                f |= 0x20;
            }
        }
        if self.clean_start {
            f |= 0x02;
        }
        f
    }

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.string(&self.protocol_name)
            .u8(self.level)
            .u8(self
                .connect_flags
                .unwrap_or_else(|| self.computed_connect_flags()))
            .u16(self.keep_alive);
        if self.v5 {
            self.common.write_properties(&mut w);
        }
        w.string(&self.client_id);
        if let Some(will) = &self.will {
            if self.v5 {
                w.properties(&will.properties, will.properties_len);
            }
            w.string(&will.topic).binary(&will.payload);
        }
        if let Some(u) = &self.username {
            w.string(u);
        }
        if let Some(p) = &self.password {
            w.binary(p);
        }
        self.common.finish(pt::CONNECT, 0, w)
    }
}

/// PUBLISH. Defaults: QoS 0, no DUP, no RETAIN, no packet identifier; setting QoS above 0 adds
/// packet identifier 1 unless one was set.
#[derive(Clone, Debug)]
pub struct Publish {
    v5: bool,
    dup: bool,
    qos: u8,
    retain: bool,
    topic: Vec<u8>,
    packet_id: Option<u16>,
    payload: Vec<u8>,
    common: Common,
}

impl Publish {
    /// A PUBLISH for `version`.
    pub fn new(
        version: ProtocolVersion,
        topic: impl AsRef<[u8]>,
        payload: impl AsRef<[u8]>,
    ) -> Self {
        Self {
            v5: is_v5(version),
            dup: false,
            qos: 0,
            retain: false,
            topic: topic.as_ref().to_vec(),
            packet_id: None,
            payload: payload.as_ref().to_vec(),
            common: Common::default(),
        }
    }
    /// A 5.0 PUBLISH.
    pub fn v5(topic: impl AsRef<[u8]>, payload: impl AsRef<[u8]>) -> Self {
        Self::new(ProtocolVersion::V5, topic, payload)
    }
    /// A 3.1.1 PUBLISH.
    pub fn v311(topic: impl AsRef<[u8]>, payload: impl AsRef<[u8]>) -> Self {
        Self::new(ProtocolVersion::V3_1_1, topic, payload)
    }
    /// QoS bits (0–3; 3 is malformed). Above 0 a packet identifier (default 1) is written.
    pub fn qos(mut self, qos: u8) -> Self {
        self.qos = qos;
        if qos > 0 && self.packet_id.is_none() {
            self.packet_id = Some(1);
        }
        self
    }
    /// DUP flag.
    pub fn dup(mut self, dup: bool) -> Self {
        self.dup = dup;
        self
    }
    /// RETAIN flag.
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }
    /// Topic name (raw bytes; wildcards, invalid UTF-8 or empty are written as given).
    pub fn topic(mut self, topic: impl AsRef<[u8]>) -> Self {
        self.topic = topic.as_ref().to_vec();
        self
    }
    /// Packet identifier, written whatever the QoS (0 is writable).
    pub fn packet_id(mut self, id: u16) -> Self {
        self.packet_id = Some(id);
        self
    }
    /// No packet identifier, whatever the QoS.
    pub fn no_packet_id(mut self) -> Self {
        self.packet_id = None;
        self
    }
    /// Payload.
    pub fn payload(mut self, payload: impl AsRef<[u8]>) -> Self {
        self.payload = payload.as_ref().to_vec();
        self
    }
    common_methods!();
    property_methods!();

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let flags = (u8::from(self.dup) << 3) | ((self.qos & 0x03) << 1) | u8::from(self.retain);
        let mut w = Writer::new();
        w.string(&self.topic);
        if let Some(id) = self.packet_id {
            w.u16(id);
        }
        if self.v5 {
            self.common.write_properties(&mut w);
        }
        w.raw(&self.payload);
        self.common.finish(pt::PUBLISH, flags, w)
    }
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP (built through [`Puback`], [`Pubrec`], [`Pubrel`],
/// [`Pubcomp`]). In 5.0 the reason code and properties are omitted when not set (the short form
/// that means Success); setting properties writes reason code 0x00 unless one was set.
#[derive(Clone, Debug)]
pub struct Ack {
    v5: bool,
    packet_type: u8,
    packet_id: u16,
    reason: Option<u8>,
    common: Common,
}

impl Ack {
    fn new(version: ProtocolVersion, packet_type: u8, packet_id: u16) -> Self {
        Self {
            v5: is_v5(version),
            packet_type,
            packet_id,
            reason: None,
            common: Common::default(),
        }
    }
    /// Packet identifier (0 is writable).
    pub fn packet_id(mut self, id: u16) -> Self {
        self.packet_id = id;
        self
    }
    /// Reason code (5.0 only).
    pub fn reason(mut self, code: u8) -> Self {
        self.reason = Some(code);
        self
    }
    common_methods!();
    property_methods!();

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u16(self.packet_id);
        if self.v5 {
            if self.common.has_properties() {
                w.u8(self.reason.unwrap_or(0));
                self.common.write_properties(&mut w);
            } else if let Some(rc) = self.reason {
                w.u8(rc);
            }
        }
        let flags = if self.packet_type == pt::PUBREL {
            0x02
        } else {
            0
        };
        self.common.finish(self.packet_type, flags, w)
    }
}

macro_rules! ack_kind {
    ($name:ident, $ty:expr, $doc:literal) => {
        #[doc = concat!("Constructors of ", $doc, " (an [`Ack`]).")]
        #[derive(Clone, Copy, Debug)]
        pub struct $name;

        impl $name {
            #[doc = concat!("A ", $doc, " for `version`.")]
            // These are constructor namespaces for the shared `Ack` builder, by design.
            #[allow(clippy::new_ret_no_self)]
            pub fn new(version: ProtocolVersion, packet_id: u16) -> Ack {
                Ack::new(version, $ty, packet_id)
            }
            #[doc = concat!("A 5.0 ", $doc, ".")]
            pub fn v5(packet_id: u16) -> Ack {
                Ack::new(ProtocolVersion::V5, $ty, packet_id)
            }
            #[doc = concat!("A 3.1.1 ", $doc, ".")]
            pub fn v311(packet_id: u16) -> Ack {
                Ack::new(ProtocolVersion::V3_1_1, $ty, packet_id)
            }
        }
    };
}

ack_kind!(Puback, pt::PUBACK, "PUBACK");
ack_kind!(Pubrec, pt::PUBREC, "PUBREC");
ack_kind!(Pubrel, pt::PUBREL, "PUBREL");
ack_kind!(Pubcomp, pt::PUBCOMP, "PUBCOMP");

/// SUBSCRIBE: packet identifier and a list of (topic filter, options byte). The options byte is
/// written as given (3.1.1: the requested QoS; 5.0: QoS | no-local 0x04 | retain-as-published
/// 0x08 | retain handling << 4). With no filter added the payload is empty, which is a protocol
/// violation (§3.8.3) — producible on purpose.
#[derive(Clone, Debug)]
pub struct Subscribe {
    v5: bool,
    packet_id: u16,
    filters: Vec<(Vec<u8>, u8)>,
    common: Common,
}

impl Subscribe {
    /// A SUBSCRIBE for `version`.
    pub fn new(version: ProtocolVersion, packet_id: u16) -> Self {
        Self {
            v5: is_v5(version),
            packet_id,
            filters: Vec::new(),
            common: Common::default(),
        }
    }
    /// A 5.0 SUBSCRIBE.
    pub fn v5(packet_id: u16) -> Self {
        Self::new(ProtocolVersion::V5, packet_id)
    }
    /// A 3.1.1 SUBSCRIBE.
    pub fn v311(packet_id: u16) -> Self {
        Self::new(ProtocolVersion::V3_1_1, packet_id)
    }
    /// Adds a topic filter (raw bytes) with its options byte.
    pub fn filter(mut self, filter: impl AsRef<[u8]>, options: u8) -> Self {
        self.filters.push((filter.as_ref().to_vec(), options));
        self
    }
    /// Packet identifier (0 is writable).
    pub fn packet_id(mut self, id: u16) -> Self {
        self.packet_id = id;
        self
    }
    common_methods!();
    property_methods!();

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u16(self.packet_id);
        if self.v5 {
            self.common.write_properties(&mut w);
        }
        for (f, o) in &self.filters {
            w.string(f).u8(*o);
        }
        self.common.finish(pt::SUBSCRIBE, 0x02, w)
    }
}

/// UNSUBSCRIBE: packet identifier and a list of topic filters (none added: empty payload, a
/// protocol violation [MQTT-3.10.3-2]).
#[derive(Clone, Debug)]
pub struct Unsubscribe {
    v5: bool,
    packet_id: u16,
    filters: Vec<Vec<u8>>,
    common: Common,
}

impl Unsubscribe {
    /// An UNSUBSCRIBE for `version`.
    pub fn new(version: ProtocolVersion, packet_id: u16) -> Self {
        Self {
            v5: is_v5(version),
            packet_id,
            filters: Vec::new(),
            common: Common::default(),
        }
    }
    /// A 5.0 UNSUBSCRIBE.
    pub fn v5(packet_id: u16) -> Self {
        Self::new(ProtocolVersion::V5, packet_id)
    }
    /// A 3.1.1 UNSUBSCRIBE.
    pub fn v311(packet_id: u16) -> Self {
        Self::new(ProtocolVersion::V3_1_1, packet_id)
    }
    /// Adds a topic filter (raw bytes).
    pub fn filter(mut self, filter: impl AsRef<[u8]>) -> Self {
        self.filters.push(filter.as_ref().to_vec());
        self
    }
    /// Packet identifier (0 is writable).
    pub fn packet_id(mut self, id: u16) -> Self {
        self.packet_id = id;
        self
    }
    common_methods!();
    property_methods!();

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u16(self.packet_id);
        if self.v5 {
            self.common.write_properties(&mut w);
        }
        for f in &self.filters {
            w.string(f);
        }
        self.common.finish(pt::UNSUBSCRIBE, 0x02, w)
    }
}

/// PINGREQ (same in both versions): `C0 00`.
#[derive(Clone, Debug, Default)]
pub struct Pingreq {
    common: Common,
}

impl Pingreq {
    /// A PINGREQ.
    pub fn new() -> Self {
        Self::default()
    }
    common_methods!();

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        self.common.finish(pt::PINGREQ, 0, Writer::new())
    }
}

/// DISCONNECT. 5.0: reason code and properties omitted unless set (short form = Normal
/// disconnection); 3.1.1: empty body.
#[derive(Clone, Debug)]
pub struct Disconnect {
    v5: bool,
    reason: Option<u8>,
    common: Common,
}

impl Disconnect {
    /// A DISCONNECT for `version`.
    pub fn new(version: ProtocolVersion) -> Self {
        Self {
            v5: is_v5(version),
            reason: None,
            common: Common::default(),
        }
    }
    /// A 5.0 DISCONNECT.
    pub fn v5() -> Self {
        Self::new(ProtocolVersion::V5)
    }
    /// A 3.1.1 DISCONNECT.
    pub fn v311() -> Self {
        Self::new(ProtocolVersion::V3_1_1)
    }
    /// Reason code (5.0 only).
    pub fn reason(mut self, code: u8) -> Self {
        self.reason = Some(code);
        self
    }
    common_methods!();
    property_methods!();

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut w = Writer::new();
        if self.v5 && (self.reason.is_some() || self.common.has_properties()) {
            w.u8(self.reason.unwrap_or(0));
            if self.common.has_properties() {
                self.common.write_properties(&mut w);
            }
        }
        self.common.finish(pt::DISCONNECT, 0, w)
    }
}

/// AUTH (5.0; type 15 is reserved in 3.1.1, use [`Custom`] to send it there). Reason code and
/// properties omitted unless set.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    reason: Option<u8>,
    common: Common,
}

impl Auth {
    /// A 5.0 AUTH.
    pub fn v5() -> Self {
        Self::default()
    }
    /// Reason code (0x00 success, 0x18 continue authentication, 0x19 re-authenticate).
    pub fn reason(mut self, code: u8) -> Self {
        self.reason = Some(code);
        self
    }
    common_methods!();
    property_methods!();

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut w = Writer::new();
        if self.reason.is_some() || self.common.has_properties() {
            w.u8(self.reason.unwrap_or(0));
            if self.common.has_properties() {
                self.common.write_properties(&mut w);
            }
        }
        self.common.finish(pt::AUTH, 0, w)
    }
}

/// CONNACK, for the scripted server ([`crate::RawServer`]). 5.0: acknowledge flags, reason
/// code, properties (an empty block unless set); 3.1.1: acknowledge flags, return code.
#[derive(Clone, Debug)]
pub struct Connack {
    v5: bool,
    session_present: bool,
    code: u8,
    common: Common,
}

impl Connack {
    /// A CONNACK accepting the connection (Success / return code 0), Session Present 0.
    pub fn new(version: ProtocolVersion) -> Self {
        Self {
            v5: is_v5(version),
            session_present: false,
            code: 0,
            common: Common::default(),
        }
    }
    /// A 5.0 CONNACK.
    pub fn v5() -> Self {
        Self::new(ProtocolVersion::V5)
    }
    /// A 3.1.1 CONNACK.
    pub fn v311() -> Self {
        Self::new(ProtocolVersion::V3_1_1)
    }
    /// Session Present.
    pub fn session_present(mut self, present: bool) -> Self {
        self.session_present = present;
        self
    }
    /// Reason code (5.0) or return code (3.1.1).
    pub fn code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }
    common_methods!();
    property_methods!();

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(u8::from(self.session_present));
        w.u8(self.code);
        if self.v5 {
            self.common.write_properties(&mut w);
        }
        self.common.finish(pt::CONNACK, 0, w)
    }
}

/// SUBACK or UNSUBACK, for the scripted server: packet identifier, (5.0) properties, and one
/// code per filter (3.1.1 UNSUBACK: no codes).
#[derive(Clone, Debug)]
pub struct Suback {
    v5: bool,
    packet_type: u8,
    packet_id: u16,
    codes: Vec<u8>,
    common: Common,
}

impl Suback {
    /// A SUBACK for `packet_id` with one code per filter (the granted QoS, or a failure code).
    pub fn new(version: ProtocolVersion, packet_id: u16, codes: &[u8]) -> Self {
        Self {
            v5: is_v5(version),
            packet_type: pt::SUBACK,
            packet_id,
            codes: codes.to_vec(),
            common: Common::default(),
        }
    }
    /// An UNSUBACK for `packet_id` (5.0: one reason code per filter; 3.1.1: give none).
    pub fn unsuback(version: ProtocolVersion, packet_id: u16, codes: &[u8]) -> Self {
        Self {
            packet_type: pt::UNSUBACK,
            ..Self::new(version, packet_id, codes)
        }
    }
    common_methods!();
    property_methods!();

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u16(self.packet_id);
        if self.v5 {
            self.common.write_properties(&mut w);
        }
        w.raw(&self.codes);
        self.common.finish(self.packet_type, 0, w)
    }
}

/// Any packet type nibble (0–15, including the reserved 0 and, in 3.1.1, 15) with any flags and
/// a body written by the caller.
#[derive(Clone, Debug)]
pub struct Custom {
    packet_type: u8,
    flags: u8,
    body: Vec<u8>,
    common: Common,
}

impl Custom {
    /// A packet of this type nibble and flags, empty body.
    pub fn new(packet_type: u8, flags: u8) -> Self {
        Self {
            packet_type: packet_type & 0x0f,
            flags,
            body: Vec::new(),
            common: Common::default(),
        }
    }
    /// The body (after the fixed header), e.g. from a [`Writer`].
    pub fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = body.as_ref().to_vec();
        self
    }
    common_methods!();

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.raw(&self.body);
        self.common.finish(self.packet_type, self.flags, w)
    }
}

#[cfg(test)]
mod tests {
    use super::super::prop;
    use super::*;

    #[test]
    fn connect_v5_defaults() {
        assert_eq!(
            Connect::v5("c1").build(),
            [
                0x10, 0x0f, // CONNECT, remaining length 15
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
                0x05, // level 5
                0x02, // clean start
                0x00, 0x1e, // keep alive 30
                0x00, // no properties
                0x00, 0x02, b'c', b'1', // client id
            ]
        );
    }

    #[test]
    fn connect_v311_full() {
        let bytes = Connect::v311("c")
            .keep_alive(10)
            .clean_start(false)
            .will(Will::new("w", "x").qos(1).retain(true))
            .username("u")
            .password([0xff])
            .build();
        assert_eq!(
            bytes,
            [
                0x10, 0x19, // CONNECT, 25
                0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, // name, level 4
                0xec, // user | password | will retain | will qos 1 | will
                0x00, 0x0a, // keep alive 10
                0x00, 0x01, b'c', // client id
                0x00, 0x01, b'w', // will topic
                0x00, 0x01, b'x', // will payload
                0x00, 0x01, b'u', // user name
                0x00, 0x01, 0xff, // password
            ]
        );
    }

    #[test]
    fn connect_v5_with_properties_and_will_properties() {
        let bytes = Connect::v5("c")
            .property(prop::session_expiry_interval(60))
            .will(Will::new("t", "").property(prop::will_delay_interval(5)))
            .build();
        assert_eq!(
            bytes,
            [
                0x10, 0x1e, // CONNECT, 30
                0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, // name, level
                0x06, // will | clean start
                0x00, 0x1e, // keep alive
                0x05, 0x11, 0x00, 0x00, 0x00, 0x3c, // session expiry 60
                0x00, 0x01, b'c', // client id
                0x05, 0x18, 0x00, 0x00, 0x00, 0x05, // will delay 5
                0x00, 0x01, b't', // will topic
                0x00, 0x00, // will payload
            ]
        );
    }

    #[test]
    fn connect_overrides() {
        let bytes = Connect::v311("")
            .protocol_name("MQIsdp")
            .protocol_level(3)
            .connect_flags_override(0x03)
            .flags_override(0x01)
            .build();
        assert_eq!(
            bytes,
            [
                0x11, 0x0e, // CONNECT with flag bit 0 set
                0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, // name, level 3
                0x03, // reserved bit + clean session
                0x00, 0x1e, // keep alive
                0x00, 0x00, // empty client id
            ]
        );
    }

    #[test]
    fn publish_variants() {
        assert_eq!(
            Publish::v311("a", "hi").build(),
            [0x30, 0x05, 0x00, 0x01, b'a', b'h', b'i']
        );
        assert_eq!(
            Publish::v5("a", "").qos(1).retain(true).build(),
            [
                0x33, 0x06, // PUBLISH qos 1 retain
                0x00, 0x01, b'a', // topic
                0x00, 0x01, // packet id 1
                0x00, // properties
            ]
        );
        assert_eq!(
            Publish::v5("a", "p")
                .qos(2)
                .dup(true)
                .packet_id(7)
                .property(prop::topic_alias(3))
                .build(),
            [
                0x3c, 0x0a, // PUBLISH dup qos 2
                0x00, 0x01, b'a', // topic
                0x00, 0x07, // packet id
                0x03, 0x23, 0x00, 0x03, // topic alias 3
                b'p',
            ]
        );
    }

    #[test]
    fn acks() {
        assert_eq!(Puback::v311(5).build(), [0x40, 0x02, 0x00, 0x05]);
        assert_eq!(Puback::v5(5).build(), [0x40, 0x02, 0x00, 0x05]);
        assert_eq!(
            Pubrec::v5(5).reason(0x10).build(),
            [0x50, 0x03, 0x00, 0x05, 0x10]
        );
        assert_eq!(Pubrel::v5(1).build(), [0x62, 0x02, 0x00, 0x01]);
        assert_eq!(
            Pubcomp::v5(1).property(prop::reason_string("r")).build(),
            [
                0x70, 0x08, // PUBCOMP
                0x00, 0x01, // packet id
                0x00, // success
                0x04, 0x1f, 0x00, 0x01, b'r', // reason string
            ]
        );
        assert_eq!(
            Pubrel::v311(1).flags_override(0).build(),
            [0x60, 0x02, 0x00, 0x01]
        );
    }

    #[test]
    fn subscribe_unsubscribe() {
        assert_eq!(
            Subscribe::v5(10).filter("a/#", 0x01).build(),
            [
                0x82, 0x09, // SUBSCRIBE
                0x00, 0x0a, // packet id 10
                0x00, // properties
                0x00, 0x03, b'a', b'/', b'#', 0x01, // filter, QoS 1
            ]
        );
        assert_eq!(
            Subscribe::v311(1).filter("x", 0).filter("y", 2).build(),
            [0x82, 0x0a, 0x00, 0x01, 0x00, 0x01, b'x', 0x00, 0x00, 0x01, b'y', 0x02]
        );
        assert_eq!(
            Unsubscribe::v5(2).filter("x").build(),
            [0xa2, 0x06, 0x00, 0x02, 0x00, 0x00, 0x01, b'x']
        );
        assert_eq!(
            Unsubscribe::v311(2).filter("x").flags_override(0).build(),
            [0xa0, 0x05, 0x00, 0x02, 0x00, 0x01, b'x']
        );
    }

    #[test]
    fn ping_disconnect_auth_custom() {
        assert_eq!(Pingreq::new().build(), [0xc0, 0x00]);
        assert_eq!(Disconnect::v311().build(), [0xe0, 0x00]);
        assert_eq!(Disconnect::v5().build(), [0xe0, 0x00]);
        assert_eq!(Disconnect::v5().reason(0x04).build(), [0xe0, 0x01, 0x04]);
        assert_eq!(
            Disconnect::v5()
                .property(prop::session_expiry_interval(0))
                .build(),
            [0xe0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00]
        );
        assert_eq!(
            Auth::v5()
                .reason(0x18)
                .property(prop::authentication_method("m"))
                .build(),
            [0xf0, 0x06, 0x18, 0x04, 0x15, 0x00, 0x01, b'm']
        );
        assert_eq!(Custom::new(0, 0).build(), [0x00, 0x00]);
        assert_eq!(
            Custom::new(15, 3).body([1, 2]).build(),
            [0xf3, 0x02, 0x01, 0x02]
        );
    }

    #[test]
    fn length_overrides() {
        // Too short, too long, padded, raw, appended.
        assert_eq!(
            Pingreq::new().remaining_length_override(1).build(),
            [0xc0, 0x01]
        );
        assert_eq!(
            Puback::v311(1).remaining_length_override(1).build(),
            [0x40, 0x01, 0x00, 0x01]
        );
        assert_eq!(
            Pingreq::new().remaining_length_padded(5).build(),
            [0xc0, 0x80, 0x80, 0x80, 0x80, 0x00]
        );
        assert_eq!(
            Pingreq::new().remaining_length_raw([0xff, 0xff]).build(),
            [0xc0, 0xff, 0xff]
        );
        assert_eq!(
            Pingreq::new().append_body([0xaa]).build(),
            [0xc0, 0x01, 0xaa]
        );
        assert_eq!(
            Disconnect::v5().properties_length_override(2).build(),
            [0xe0, 0x02, 0x00, 0x02]
        );
    }
}
