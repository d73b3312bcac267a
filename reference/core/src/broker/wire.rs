//! The engine's owned packets: what it keeps in sessions and queues, decoded from client input
//! by the shared [`codec`](crate::codec) and encoded for each receiver in its own version.
//!
//! Decoding goes through the codec ([`decode_with_codec`], [`decode_full`]): one codec for the
//! project, with its bounded reader, its typed [`DecodeError`]s and their reason codes. The
//! borrowed views are copied into the owned [`Packet`] here because a message outlives the
//! input buffer it arrived in (it waits in queues, is retained, is resent).
//!
//! FIXME(codec): encoding is still done here from the owned packets (a small writer below)
//! rather than by building codec views; moving it over means building `Properties` slices for
//! every outgoing packet, and is the next step.

use alloc::string::String;

/// Shared payload bytes: one copy for every subscriber a message goes to. `Arc` where the target
/// has pointer-sized atomics (so a driver can move the engine between threads), `Rc` on targets
/// without them (riscv32imc), where there are no threads to move to.
#[cfg(target_has_atomic = "ptr")]
pub type Payload = alloc::sync::Arc<[u8]>;
/// Shared payload bytes (see the atomic-target definition).
#[cfg(not(target_has_atomic = "ptr"))]
pub type Payload = alloc::rc::Rc<[u8]>;
use alloc::vec::Vec;

/// MQTT protocol version of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

impl Version {
    /// Whether packets carry properties and reason codes.
    pub fn is_v5(self) -> bool {
        self == Version::V5
    }
}

/// MQTT 5.0 properties, the union of what any packet may carry. `None`/empty when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Props {
    pub payload_format: Option<u8>,
    pub message_expiry: Option<u32>,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Vec<u8>>,
    pub subscription_ids: Vec<u32>,
    pub session_expiry: Option<u32>,
    pub assigned_client_id: Option<String>,
    pub server_keep_alive: Option<u16>,
    pub auth_method: Option<String>,
    pub auth_data: Option<Vec<u8>>,
    pub request_problem_info: Option<u8>,
    pub will_delay: Option<u32>,
    pub request_response_info: Option<u8>,
    pub response_info: Option<String>,
    pub server_reference: Option<String>,
    pub reason_string: Option<String>,
    pub receive_maximum: Option<u16>,
    pub topic_alias_maximum: Option<u16>,
    pub topic_alias: Option<u16>,
    pub maximum_qos: Option<u8>,
    pub retain_available: Option<u8>,
    pub user: Vec<(String, String)>,
    pub maximum_packet_size: Option<u32>,
    pub wildcard_available: Option<u8>,
    pub sub_ids_available: Option<u8>,
    pub shared_available: Option<u8>,
}

/// The will of a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct WillMsg {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    pub props: Props,
}

/// CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Connect {
    pub version: Version,
    pub clean_start: bool,
    pub keep_alive: u16,
    pub props: Props,
    pub client_id: String,
    pub will: Option<WillMsg>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
}

/// PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Publish {
    pub dup: bool,
    pub qos: u8,
    pub retain: bool,
    pub topic: String,
    pub pid: u16,
    pub props: Props,
    pub payload: Payload,
}

/// Subscription options of one SUBSCRIBE entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub struct SubOpts {
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: u8,
}

/// Every packet the engine decodes or encodes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
#[allow(clippy::large_enum_variant)]
pub enum Packet {
    Connect(Connect),
    ConnAck {
        session_present: bool,
        code: u8,
        props: Props,
    },
    Publish(Publish),
    /// PUBACK (4), PUBREC (5), PUBREL (6), PUBCOMP (7): `kind` is the packet type.
    Ack {
        kind: u8,
        pid: u16,
        code: u8,
        props: Props,
    },
    Subscribe {
        pid: u16,
        props: Props,
        filters: Vec<(String, SubOpts)>,
    },
    SubAck {
        pid: u16,
        props: Props,
        codes: Vec<u8>,
    },
    Unsubscribe {
        pid: u16,
        props: Props,
        filters: Vec<String>,
    },
    UnsubAck {
        pid: u16,
        props: Props,
        codes: Vec<u8>,
    },
    PingReq,
    PingResp,
    Disconnect {
        code: u8,
        props: Props,
    },
    Auth {
        code: u8,
        props: Props,
    },
}

/// Packet type numbers.
#[allow(missing_docs)]
pub mod kind {
    pub const CONNECT: u8 = 1;
    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const PUBREC: u8 = 5;
    pub const PUBREL: u8 = 6;
    pub const PUBCOMP: u8 = 7;
    pub const SUBSCRIBE: u8 = 8;
    pub const SUBACK: u8 = 9;
    pub const UNSUBSCRIBE: u8 = 10;
    pub const UNSUBACK: u8 = 11;
    pub const PINGREQ: u8 = 12;
    pub const PINGRESP: u8 = 13;
    pub const DISCONNECT: u8 = 14;
    pub const AUTH: u8 = 15;
}

// ---- encoding ----

fn put_vbi(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let mut b = (v & 0x7F) as u8;
        v >>= 7;
        if v > 0 {
            b |= 0x80;
        }
        out.push(b);
        if v == 0 {
            break;
        }
    }
}

fn vbi_len(v: u32) -> usize {
    match v {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

fn put_bin(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&b[..n]);
}

fn write_props(out: &mut Vec<u8>, p: &Props) {
    let mut b = Vec::new();
    let byte = |b: &mut Vec<u8>, id: u8, v: Option<u8>| {
        if let Some(v) = v {
            b.push(id);
            b.push(v);
        }
    };
    let u16p = |b: &mut Vec<u8>, id: u8, v: Option<u16>| {
        if let Some(v) = v {
            b.push(id);
            b.extend_from_slice(&v.to_be_bytes());
        }
    };
    let u32p = |b: &mut Vec<u8>, id: u8, v: Option<u32>| {
        if let Some(v) = v {
            b.push(id);
            b.extend_from_slice(&v.to_be_bytes());
        }
    };
    let strp = |b: &mut Vec<u8>, id: u8, v: &Option<String>| {
        if let Some(v) = v {
            b.push(id);
            put_bin(b, v.as_bytes());
        }
    };
    let binp = |b: &mut Vec<u8>, id: u8, v: &Option<Vec<u8>>| {
        if let Some(v) = v {
            b.push(id);
            put_bin(b, v);
        }
    };
    byte(&mut b, 0x01, p.payload_format);
    u32p(&mut b, 0x02, p.message_expiry);
    strp(&mut b, 0x03, &p.content_type);
    strp(&mut b, 0x08, &p.response_topic);
    binp(&mut b, 0x09, &p.correlation_data);
    for id in &p.subscription_ids {
        b.push(0x0B);
        put_vbi(&mut b, *id);
    }
    u32p(&mut b, 0x11, p.session_expiry);
    strp(&mut b, 0x12, &p.assigned_client_id);
    u16p(&mut b, 0x13, p.server_keep_alive);
    strp(&mut b, 0x15, &p.auth_method);
    binp(&mut b, 0x16, &p.auth_data);
    byte(&mut b, 0x17, p.request_problem_info);
    u32p(&mut b, 0x18, p.will_delay);
    byte(&mut b, 0x19, p.request_response_info);
    strp(&mut b, 0x1A, &p.response_info);
    strp(&mut b, 0x1C, &p.server_reference);
    strp(&mut b, 0x1F, &p.reason_string);
    u16p(&mut b, 0x21, p.receive_maximum);
    u16p(&mut b, 0x22, p.topic_alias_maximum);
    u16p(&mut b, 0x23, p.topic_alias);
    byte(&mut b, 0x24, p.maximum_qos);
    byte(&mut b, 0x25, p.retain_available);
    for (k, v) in &p.user {
        b.push(0x26);
        put_bin(&mut b, k.as_bytes());
        put_bin(&mut b, v.as_bytes());
    }
    u32p(&mut b, 0x27, p.maximum_packet_size);
    byte(&mut b, 0x28, p.wildcard_available);
    byte(&mut b, 0x29, p.sub_ids_available);
    byte(&mut b, 0x2A, p.shared_available);
    put_vbi(out, b.len() as u32);
    out.extend_from_slice(&b);
}

fn frame(first: u8, body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(first);
    put_vbi(&mut out, body.len() as u32);
    out.extend_from_slice(&body);
    out
}

/// Encodes `packet` for a connection speaking `version`. Properties are left out for 3.1.1.
pub fn encode(packet: &Packet, version: Version) -> Vec<u8> {
    let v5 = version.is_v5();
    let mut b = Vec::new();
    match packet {
        Packet::Connect(c) => {
            put_bin(&mut b, b"MQTT");
            b.push(if c.version.is_v5() { 5 } else { 4 });
            let mut flags = 0u8;
            if c.clean_start {
                flags |= 2;
            }
            if let Some(w) = &c.will {
                flags |= 4 | (w.qos << 3) | if w.retain { 0x20 } else { 0 };
            }
            if c.password.is_some() {
                flags |= 0x40;
            }
            if c.username.is_some() {
                flags |= 0x80;
            }
            b.push(flags);
            b.extend_from_slice(&c.keep_alive.to_be_bytes());
            let cv5 = c.version.is_v5();
            if cv5 {
                write_props(&mut b, &c.props);
            }
            put_bin(&mut b, c.client_id.as_bytes());
            if let Some(w) = &c.will {
                if cv5 {
                    write_props(&mut b, &w.props);
                }
                put_bin(&mut b, w.topic.as_bytes());
                put_bin(&mut b, &w.payload);
            }
            if let Some(u) = &c.username {
                put_bin(&mut b, u.as_bytes());
            }
            if let Some(p) = &c.password {
                put_bin(&mut b, p);
            }
            frame(0x10, b)
        }
        Packet::ConnAck {
            session_present,
            code,
            props,
        } => {
            b.push(u8::from(*session_present));
            b.push(*code);
            if v5 {
                write_props(&mut b, props);
            }
            frame(0x20, b)
        }
        Packet::Publish(p) => {
            put_bin(&mut b, p.topic.as_bytes());
            if p.qos > 0 {
                b.extend_from_slice(&p.pid.to_be_bytes());
            }
            if v5 {
                write_props(&mut b, &p.props);
            }
            b.extend_from_slice(&p.payload);
            let first = 0x30 | (u8::from(p.dup) << 3) | (p.qos << 1) | u8::from(p.retain);
            frame(first, b)
        }
        Packet::Ack {
            kind,
            pid,
            code,
            props,
        } => {
            b.extend_from_slice(&pid.to_be_bytes());
            if v5 && (*code != 0 || *props != Props::default()) {
                b.push(*code);
                if *props != Props::default() {
                    write_props(&mut b, props);
                }
            }
            let flags = if *kind == kind::PUBREL { 2 } else { 0 };
            frame((kind << 4) | flags, b)
        }
        Packet::Subscribe {
            pid,
            props,
            filters,
        } => {
            b.extend_from_slice(&pid.to_be_bytes());
            if v5 {
                write_props(&mut b, props);
            }
            for (f, o) in filters {
                put_bin(&mut b, f.as_bytes());
                b.push(
                    o.qos
                        | (u8::from(o.no_local) << 2)
                        | (u8::from(o.retain_as_published) << 3)
                        | (o.retain_handling << 4),
                );
            }
            frame(0x82, b)
        }
        Packet::SubAck { pid, props, codes } => {
            b.extend_from_slice(&pid.to_be_bytes());
            if v5 {
                write_props(&mut b, props);
            }
            b.extend_from_slice(codes);
            frame(0x90, b)
        }
        Packet::Unsubscribe {
            pid,
            props,
            filters,
        } => {
            b.extend_from_slice(&pid.to_be_bytes());
            if v5 {
                write_props(&mut b, props);
            }
            for f in filters {
                put_bin(&mut b, f.as_bytes());
            }
            frame(0xA2, b)
        }
        Packet::UnsubAck { pid, props, codes } => {
            b.extend_from_slice(&pid.to_be_bytes());
            if v5 {
                write_props(&mut b, props);
                b.extend_from_slice(codes);
            }
            frame(0xB0, b)
        }
        Packet::PingReq => frame(0xC0, b),
        Packet::PingResp => frame(0xD0, b),
        Packet::Disconnect { code, props } => {
            if v5 && (*code != 0 || *props != Props::default()) {
                b.push(*code);
                if *props != Props::default() {
                    write_props(&mut b, props);
                }
            }
            frame(0xE0, b)
        }
        Packet::Auth { code, props } => {
            b.push(*code);
            write_props(&mut b, props);
            frame(0xF0, b)
        }
    }
}

/// Size `publish` would take on the wire for `version`, without encoding the payload.
pub fn publish_len(p: &Publish, version: Version) -> usize {
    let mut body = 2 + p.topic.len() + p.payload.len();
    if p.qos > 0 {
        body += 2;
    }
    if version.is_v5() {
        let mut pb = Vec::new();
        write_props(&mut pb, &p.props);
        body += pb.len();
    }
    1 + vbi_len(body as u32) + body
}

/// Decodes one whole packet from the start of `buf` with the shared codec (for test clients,
/// which decode what the server sends): `Ok(None)` when more bytes are needed.
///
/// # Errors
/// The codec's [`DecodeError`].
pub fn decode_full(buf: &[u8], version: Version) -> Result<Option<(Packet, usize)>, DecodeError> {
    match codec::decode(buf, version.into(), u32::MAX)? {
        codec::Decoded::Complete { value, consumed } => {
            let mut p = from_view(&value);
            if let (codec::Packet::ConnAck(c), Packet::ConnAck { code, .. }) = (&value, &mut p) {
                // Show a 3.1.1 CONNACK with its own return code, not the 5.0 equivalent.
                if version == Version::V311 {
                    *code = c.reason_code.to_connack_return_code().unwrap_or(*code);
                }
            }
            Ok(Some((p, consumed)))
        }
        codec::Decoded::Incomplete(_) => Ok(None),
    }
}

// ---- decoding through the shared codec ----

use crate::codec::{self, DecodeError, Properties, Property, ProtocolVersion};

impl From<ProtocolVersion> for Version {
    fn from(v: ProtocolVersion) -> Self {
        match v {
            ProtocolVersion::V3_1_1 => Version::V311,
            ProtocolVersion::V5 => Version::V5,
        }
    }
}

impl From<Version> for ProtocolVersion {
    fn from(v: Version) -> Self {
        match v {
            Version::V311 => ProtocolVersion::V3_1_1,
            Version::V5 => ProtocolVersion::V5,
        }
    }
}

/// Owned copy of a codec property list.
pub fn props_from(p: &Properties<'_>) -> Props {
    let mut out = Props::default();
    for prop in p.iter() {
        match prop {
            Property::PayloadFormatIndicator(v) => out.payload_format = Some(v),
            Property::MessageExpiryInterval(v) => out.message_expiry = Some(v),
            Property::ContentType(v) => out.content_type = Some(String::from(v)),
            Property::ResponseTopic(v) => out.response_topic = Some(String::from(v)),
            Property::CorrelationData(v) => out.correlation_data = Some(v.to_vec()),
            Property::SubscriptionIdentifier(v) => out.subscription_ids.push(v),
            Property::SessionExpiryInterval(v) => out.session_expiry = Some(v),
            Property::AssignedClientIdentifier(v) => out.assigned_client_id = Some(String::from(v)),
            Property::ServerKeepAlive(v) => out.server_keep_alive = Some(v),
            Property::AuthenticationMethod(v) => out.auth_method = Some(String::from(v)),
            Property::AuthenticationData(v) => out.auth_data = Some(v.to_vec()),
            Property::RequestProblemInformation(v) => out.request_problem_info = Some(v),
            Property::WillDelayInterval(v) => out.will_delay = Some(v),
            Property::RequestResponseInformation(v) => out.request_response_info = Some(v),
            Property::ResponseInformation(v) => out.response_info = Some(String::from(v)),
            Property::ServerReference(v) => out.server_reference = Some(String::from(v)),
            Property::ReasonString(v) => out.reason_string = Some(String::from(v)),
            Property::ReceiveMaximum(v) => out.receive_maximum = Some(v),
            Property::TopicAliasMaximum(v) => out.topic_alias_maximum = Some(v),
            Property::TopicAlias(v) => out.topic_alias = Some(v),
            Property::MaximumQoS(v) => out.maximum_qos = Some(v),
            Property::RetainAvailable(v) => out.retain_available = Some(v),
            Property::UserProperty((k, v)) => out.user.push((String::from(k), String::from(v))),
            Property::MaximumPacketSize(v) => out.maximum_packet_size = Some(v),
            Property::WildcardSubscriptionAvailable(v) => out.wildcard_available = Some(v),
            Property::SubscriptionIdentifierAvailable(v) => out.sub_ids_available = Some(v),
            Property::SharedSubscriptionAvailable(v) => out.shared_available = Some(v),
        }
    }
    out
}

/// The protocol level a CONNECT body announces, read without decoding the rest, so that a bad
/// CONNECT can be refused in the right version's CONNACK.
pub fn connect_version(body: &[u8]) -> Option<Version> {
    match body {
        [0, 4, b'M', b'Q', b'T', b'T', 5, ..] => Some(Version::V5),
        [0, 4, b'M', b'Q', b'T', b'T', 4, ..] => Some(Version::V311),
        _ => None,
    }
}

/// Decodes one client packet body with the shared codec. `version` is ignored for CONNECT,
/// which carries its own.
///
/// # Errors
/// The codec's [`DecodeError`]; its `reason_code()` is what goes on the wire.
pub fn decode_with_codec(
    h: &codec::FixedHeader,
    body: &[u8],
    version: Version,
) -> Result<Packet, DecodeError> {
    let view = codec::decode_body(h.packet_type, h.flags, body, version.into())?;
    Ok(from_view(&view))
}

fn ack_from(kind: u8, pid: u16, code: codec::ReasonCode, props: &Properties<'_>) -> Packet {
    Packet::Ack {
        kind,
        pid,
        code: code.as_u8(),
        props: props_from(props),
    }
}

/// Owned copy of a codec packet view.
pub fn from_view(view: &codec::Packet<'_>) -> Packet {
    match view {
        codec::Packet::Connect(c) => Packet::Connect(Connect {
            version: c.version.into(),
            clean_start: c.clean_start,
            keep_alive: c.keep_alive,
            props: props_from(&c.properties),
            client_id: String::from(c.client_id),
            will: c.will.map(|w| WillMsg {
                topic: String::from(w.topic),
                payload: w.payload.to_vec(),
                qos: w.qos.as_u8(),
                retain: w.retain,
                props: props_from(&w.properties),
            }),
            username: c.username.map(String::from),
            password: c.password.map(<[u8]>::to_vec),
        }),
        codec::Packet::ConnAck(c) => Packet::ConnAck {
            session_present: c.session_present,
            code: c.reason_code.as_u8(),
            props: props_from(&c.properties),
        },
        codec::Packet::Publish(p) => Packet::Publish(Publish {
            dup: p.dup,
            qos: p.qos.as_u8(),
            retain: p.retain,
            topic: String::from(p.topic),
            pid: p.packet_id.unwrap_or(0),
            props: props_from(&p.properties),
            payload: Payload::from(p.payload),
        }),
        codec::Packet::PubAck(a) => {
            ack_from(kind::PUBACK, a.packet_id, a.reason_code, &a.properties)
        }
        codec::Packet::PubRec(a) => {
            ack_from(kind::PUBREC, a.packet_id, a.reason_code, &a.properties)
        }
        codec::Packet::PubRel(a) => {
            ack_from(kind::PUBREL, a.packet_id, a.reason_code, &a.properties)
        }
        codec::Packet::PubComp(a) => {
            ack_from(kind::PUBCOMP, a.packet_id, a.reason_code, &a.properties)
        }
        codec::Packet::Subscribe(s) => Packet::Subscribe {
            pid: s.packet_id,
            props: props_from(&s.properties),
            filters: s
                .subscriptions
                .iter()
                .map(|sub| {
                    let o = sub.options;
                    let opts = SubOpts {
                        qos: o.qos.as_u8(),
                        no_local: o.no_local,
                        retain_as_published: o.retain_as_published,
                        retain_handling: o.retain_handling as u8,
                    };
                    (String::from(sub.filter), opts)
                })
                .collect(),
        },
        codec::Packet::SubAck(s) => Packet::SubAck {
            pid: s.packet_id,
            props: props_from(&s.properties),
            codes: s
                .reason_codes
                .iter()
                .map(codec::ReasonCode::as_u8)
                .collect(),
        },
        codec::Packet::Unsubscribe(u) => Packet::Unsubscribe {
            pid: u.packet_id,
            props: props_from(&u.properties),
            filters: u.filters.iter().map(String::from).collect(),
        },
        codec::Packet::UnsubAck(u) => Packet::UnsubAck {
            pid: u.packet_id,
            props: props_from(&u.properties),
            codes: u
                .reason_codes
                .iter()
                .map(codec::ReasonCode::as_u8)
                .collect(),
        },
        codec::Packet::PingReq(_) => Packet::PingReq,
        codec::Packet::PingResp(_) => Packet::PingResp,
        codec::Packet::Disconnect(d) => Packet::Disconnect {
            code: d.reason_code.as_u8(),
            props: props_from(&d.properties),
        },
        codec::Packet::Auth(a) => Packet::Auth {
            code: a.reason_code.as_u8(),
            props: props_from(&a.properties),
        },
    }
}
