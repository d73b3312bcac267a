//! A test client's packet model: owned packets that tests build, send to the engine, and get
//! back decoded from what it wrote. Not the engine's: the engine reads the codec's borrowed
//! views ([`crate::codec::Packet`]) and writes codec views; nothing here is used by it.
//!
//! Compiled for the core's own tests and, with the `test-support` feature, for other crates'
//! tests (`mqttref-broker` enables it in its `[dev-dependencies]`). Owned and flat on purpose:
//! a test writes `Packet::Subscribe { pid, props, filters }` and matches
//! `Packet::SubAck { codes, .. }` without lifetimes. Bytes in both directions still come from
//! the one codec: [`encode`] builds codec views over these packets, [`decode_full`] copies the
//! codec's views out.

use alloc::string::String;

pub use super::storage::{Payload, SubOpts};
use alloc::vec::Vec;

pub use crate::codec::ProtocolVersion;

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
    pub version: ProtocolVersion,
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

/// Every packet a test client sends or receives.
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

// ---- encoding through the shared codec ----

fn props_vec(p: &Props) -> Vec<Property<'_>> {
    let mut v = Vec::new();
    if let Some(x) = p.payload_format {
        v.push(Property::PayloadFormatIndicator(x));
    }
    if let Some(x) = p.message_expiry {
        v.push(Property::MessageExpiryInterval(x));
    }
    if let Some(x) = &p.content_type {
        v.push(Property::ContentType(x));
    }
    if let Some(x) = &p.response_topic {
        v.push(Property::ResponseTopic(x));
    }
    if let Some(x) = &p.correlation_data {
        v.push(Property::CorrelationData(x));
    }
    for id in &p.subscription_ids {
        v.push(Property::SubscriptionIdentifier(*id));
    }
    if let Some(x) = p.session_expiry {
        v.push(Property::SessionExpiryInterval(x));
    }
    if let Some(x) = &p.assigned_client_id {
        v.push(Property::AssignedClientIdentifier(x));
    }
    if let Some(x) = p.server_keep_alive {
        v.push(Property::ServerKeepAlive(x));
    }
    if let Some(x) = &p.auth_method {
        v.push(Property::AuthenticationMethod(x));
    }
    if let Some(x) = &p.auth_data {
        v.push(Property::AuthenticationData(x));
    }
    if let Some(x) = p.request_problem_info {
        v.push(Property::RequestProblemInformation(x));
    }
    if let Some(x) = p.will_delay {
        v.push(Property::WillDelayInterval(x));
    }
    if let Some(x) = p.request_response_info {
        v.push(Property::RequestResponseInformation(x));
    }
    if let Some(x) = &p.response_info {
        v.push(Property::ResponseInformation(x));
    }
    if let Some(x) = &p.server_reference {
        v.push(Property::ServerReference(x));
    }
    if let Some(x) = &p.reason_string {
        v.push(Property::ReasonString(x));
    }
    if let Some(x) = p.receive_maximum {
        v.push(Property::ReceiveMaximum(x));
    }
    if let Some(x) = p.topic_alias_maximum {
        v.push(Property::TopicAliasMaximum(x));
    }
    if let Some(x) = p.topic_alias {
        v.push(Property::TopicAlias(x));
    }
    if let Some(x) = p.maximum_qos {
        v.push(Property::MaximumQoS(x));
    }
    if let Some(x) = p.retain_available {
        v.push(Property::RetainAvailable(x));
    }
    for (k, val) in &p.user {
        v.push(Property::UserProperty((k, val)));
    }
    if let Some(x) = p.maximum_packet_size {
        v.push(Property::MaximumPacketSize(x));
    }
    if let Some(x) = p.wildcard_available {
        v.push(Property::WildcardSubscriptionAvailable(x));
    }
    if let Some(x) = p.sub_ids_available {
        v.push(Property::SubscriptionIdentifierAvailable(x));
    }
    if let Some(x) = p.shared_available {
        v.push(Property::SharedSubscriptionAvailable(x));
    }
    v
}

fn rc(code: u8) -> codec::ReasonCode {
    codec::ReasonCode::from_u8(code).unwrap_or(codec::ReasonCode::UnspecifiedError)
}

fn qos(q: u8) -> codec::QoS {
    codec::QoS::from_u8(q).unwrap_or(codec::QoS::AtMostOnce)
}

/// The codec view of an owned PUBLISH; `props` must be `props_vec(&p.props)` (or empty).
fn publish_view<'a>(p: &'a Publish, props: &'a [Property<'a>]) -> codec::Publish<'a> {
    codec::Publish {
        dup: p.dup,
        qos: qos(p.qos),
        retain: p.retain,
        topic: &p.topic,
        packet_id: (p.qos > 0).then_some(p.pid),
        properties: Properties::Slice(props),
        payload: &p.payload,
    }
}

fn props_for(v5: bool, p: &Props) -> Vec<Property<'_>> {
    if v5 {
        props_vec(p)
    } else {
        Vec::new()
    }
}

/// Encodes `packet` with the shared codec for a connection speaking `version`. Properties (and
/// acknowledgement reason codes) are left out for 3.1.1, which has none, so a test can build
/// one packet for both versions.
///
/// # Panics
/// When the codec cannot represent the packet (a test built something impossible).
pub fn encode(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let pv = version;
    let v5 = version.is_v5();
    let result = match packet {
        Packet::Connect(c) => {
            let cv = c.version;
            let props = if c.version.is_v5() {
                props_vec(&c.props)
            } else {
                Vec::new()
            };
            let will_props = match (&c.will, c.version.is_v5()) {
                (Some(w), true) => props_vec(&w.props),
                _ => Vec::new(),
            };
            let view = codec::Connect {
                version: cv,
                clean_start: c.clean_start,
                keep_alive: c.keep_alive,
                properties: Properties::Slice(&props),
                client_id: &c.client_id,
                will: c.will.as_ref().map(|w| codec::Will {
                    qos: qos(w.qos),
                    retain: w.retain,
                    properties: Properties::Slice(&will_props),
                    topic: &w.topic,
                    payload: &w.payload,
                }),
                username: c.username.as_deref(),
                password: c.password.as_deref(),
            };
            codec::Packet::Connect(view).encode_to_vec(cv)
        }
        Packet::ConnAck {
            session_present,
            code,
            props,
        } => {
            let props = props_for(v5, props);
            let view = codec::ConnAck {
                session_present: *session_present,
                reason_code: rc(*code),
                properties: Properties::Slice(&props),
            };
            codec::Packet::ConnAck(view).encode_to_vec(pv)
        }
        Packet::Publish(p) => {
            let props = props_for(v5, &p.props);
            codec::Packet::Publish(publish_view(p, &props)).encode_to_vec(pv)
        }
        Packet::Ack {
            kind: k,
            pid,
            code,
            props,
        } => {
            let props = props_for(v5, props);
            let (packet_id, reason_code, properties) = (
                *pid,
                if v5 {
                    rc(*code)
                } else {
                    codec::ReasonCode::Success
                },
                Properties::Slice(&props),
            );
            let view = match *k {
                kind::PUBACK => codec::Packet::PubAck(codec::PubAck {
                    packet_id,
                    reason_code,
                    properties,
                }),
                kind::PUBREC => codec::Packet::PubRec(codec::PubRec {
                    packet_id,
                    reason_code,
                    properties,
                }),
                kind::PUBREL => codec::Packet::PubRel(codec::PubRel {
                    packet_id,
                    reason_code,
                    properties,
                }),
                _ => codec::Packet::PubComp(codec::PubComp {
                    packet_id,
                    reason_code,
                    properties,
                }),
            };
            view.encode_to_vec(pv)
        }
        Packet::Subscribe {
            pid,
            props,
            filters,
        } => {
            let props = props_for(v5, props);
            let subs: Vec<codec::Subscription<'_>> = filters
                .iter()
                .map(|(f, o)| codec::Subscription {
                    filter: f,
                    options: codec::SubscriptionOptions {
                        qos: qos(o.qos),
                        no_local: o.no_local,
                        retain_as_published: o.retain_as_published,
                        retain_handling: match o.retain_handling {
                            1 => codec::RetainHandling::SendAtSubscribeIfNew,
                            2 => codec::RetainHandling::DoNotSend,
                            _ => codec::RetainHandling::SendAtSubscribe,
                        },
                    },
                })
                .collect();
            let view = codec::Subscribe {
                packet_id: *pid,
                properties: Properties::Slice(&props),
                subscriptions: codec::Seq::Slice(&subs),
            };
            codec::Packet::Subscribe(view).encode_to_vec(pv)
        }
        Packet::SubAck { pid, props, codes } => {
            let props = props_for(v5, props);
            let codes: Vec<codec::ReasonCode> = codes.iter().map(|c| rc(*c)).collect();
            let view = codec::SubAck {
                packet_id: *pid,
                properties: Properties::Slice(&props),
                reason_codes: codec::Seq::Slice(&codes),
            };
            codec::Packet::SubAck(view).encode_to_vec(pv)
        }
        Packet::Unsubscribe {
            pid,
            props,
            filters,
        } => {
            let props = props_for(v5, props);
            let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
            let view = codec::Unsubscribe {
                packet_id: *pid,
                properties: Properties::Slice(&props),
                filters: codec::Seq::Slice(&filters),
            };
            codec::Packet::Unsubscribe(view).encode_to_vec(pv)
        }
        Packet::UnsubAck { pid, props, codes } => {
            let props = props_for(v5, props);
            // 3.1.1 UNSUBACK has no reason codes.
            let codes: Vec<codec::ReasonCode> = if v5 {
                codes.iter().map(|c| rc(*c)).collect()
            } else {
                Vec::new()
            };
            let view = codec::UnsubAck {
                packet_id: *pid,
                properties: Properties::Slice(&props),
                reason_codes: codec::Seq::Slice(&codes),
            };
            codec::Packet::UnsubAck(view).encode_to_vec(pv)
        }
        Packet::PingReq => codec::Packet::PingReq(codec::PingReq).encode_to_vec(pv),
        Packet::PingResp => codec::Packet::PingResp(codec::PingResp).encode_to_vec(pv),
        Packet::Disconnect { code, props } => {
            let props = props_for(v5, props);
            let view = codec::Disconnect {
                reason_code: rc(*code),
                properties: Properties::Slice(&props),
            };
            codec::Packet::Disconnect(view).encode_to_vec(pv)
        }
        Packet::Auth { code, props } => {
            let props = props_for(v5, props);
            let view = codec::Auth {
                reason_code: rc(*code),
                properties: Properties::Slice(&props),
            };
            codec::Packet::Auth(view).encode_to_vec(pv)
        }
    };
    match result {
        Ok(bytes) => bytes,
        Err(e) => panic!("test built a packet the codec cannot encode: {e} ({packet:?})"),
    }
}

/// Decodes one whole packet from the start of `buf` with the shared codec (for test clients,
/// which decode what the server sends): `Ok(None)` when more bytes are needed.
///
/// # Errors
/// The codec's [`DecodeError`].
pub fn decode_full(
    buf: &[u8],
    version: ProtocolVersion,
) -> Result<Option<(Packet, usize)>, DecodeError> {
    match codec::decode(buf, version, u32::MAX)? {
        codec::Decoded::Complete { value, consumed } => {
            let mut p = from_view(&value);
            if let (codec::Packet::ConnAck(c), Packet::ConnAck { code, .. }) = (&value, &mut p) {
                // Show a 3.1.1 CONNACK with its own return code, not the 5.0 equivalent.
                if version == ProtocolVersion::V3_1_1 {
                    *code = c.reason_code.to_connack_return_code().unwrap_or(*code);
                }
            }
            Ok(Some((p, consumed)))
        }
        codec::Decoded::Incomplete(_) => Ok(None),
    }
}

// ---- decoding through the shared codec ----

use crate::codec::{self, DecodeError, Properties, Property};

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
            version: c.version,
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
