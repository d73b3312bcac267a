//! The broker engine's own packet representation and its encode/decode, both versions.
//!
//! FIXME(codec): this is a stop-gap. The crate's shared codec (`codec`, borrowed views,
//! `DecodeError` → `ReasonCode`) was being written at the same time as the engine and had no
//! packet API yet, so the engine carries this small owned codec. It is deliberately private to
//! the engine and shaped like the packets the engine needs; replacing it with the shared codec
//! touches only this file and the `decode_*`/`encode` call sites in `engine.rs`.
//!
//! Decoding is bounded: every read goes through [`Rd`], which never reads past the Remaining
//! Length, and the fixed header (with the Maximum Packet Size check) is judged before the body is
//! buffered. Errors are split by cause into [`WireError::Malformed`] (0x81) and
//! [`WireError::Protocol`] (0x82), which is the reason code the spec asks for.

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

/// Why a packet could not be decoded; the variant is the reason code to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The bytes do not follow the packet grammar: reason code 0x81.
    Malformed(&'static str),
    /// Well-formed, but against a protocol rule (duplicate property, packet id 0): 0x82.
    Protocol(&'static str),
}

impl WireError {
    /// The MQTT 5.0 reason code for this error.
    pub fn reason_code(self) -> u8 {
        match self {
            WireError::Malformed(_) => 0x81,
            WireError::Protocol(_) => 0x82,
        }
    }

    /// A short description.
    pub fn what(self) -> &'static str {
        match self {
            WireError::Malformed(s) | WireError::Protocol(s) => s,
        }
    }
}

type R<T> = Result<T, WireError>;

const fn mal(s: &'static str) -> WireError {
    WireError::Malformed(s)
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

/// A fixed header that has been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Packet type (1..=15).
    pub kind: u8,
    /// The flag nibble.
    pub flags: u8,
    /// Bytes of the fixed header.
    pub header_len: usize,
    /// Remaining Length.
    pub remaining: usize,
}

impl Header {
    /// Whole packet size.
    pub fn total(&self) -> usize {
        self.header_len + self.remaining
    }
}

/// Parses the fixed header at the start of `buf`: `Ok(None)` when more bytes are needed.
/// [MQTT-2.1.3-1] (5.0) / [MQTT-2.2.2-2] (3.1.1): reserved flags checked here.
pub fn parse_header(buf: &[u8], version: Option<Version>) -> R<Option<Header>> {
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    let kind = b0 >> 4;
    let flags = b0 & 0x0F;
    match kind {
        0 => return Err(mal("reserved packet type 0")),
        kind::AUTH if version == Some(Version::V311) => return Err(mal("reserved packet type 15")),
        kind::PUBLISH => {
            let qos = (flags >> 1) & 3;
            if qos == 3 {
                return Err(mal("PUBLISH QoS 3")); // [MQTT-3.3.1-4]
            }
            if qos == 0 && flags & 8 != 0 {
                return Err(mal("DUP set with QoS 0")); // [MQTT-3.3.1-2]
            }
        }
        kind::PUBREL | kind::SUBSCRIBE | kind::UNSUBSCRIBE => {
            if flags != 2 {
                return Err(mal("reserved flags"));
            }
        }
        _ => {
            if flags != 0 {
                return Err(mal("reserved flags"));
            }
        }
    }
    let mut value: usize = 0;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Ok(None);
        };
        value |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err(mal("non-minimal remaining length"));
            }
            return Ok(Some(Header {
                kind,
                flags,
                header_len: 2 + i,
                remaining: value,
            }));
        }
    }
    Err(mal("remaining length longer than four bytes"))
}

/// A bounded reader.
struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if n > self.0.len() {
            return Err(mal("unexpected end of packet"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> R<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> R<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn vbi(&mut self) -> R<u32> {
        let mut value: u32 = 0;
        for i in 0..4 {
            let b = self.u8()?;
            value |= u32::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err(mal("non-minimal variable byte integer"));
                }
                return Ok(value);
            }
        }
        Err(mal("variable byte integer longer than four bytes"))
    }
    fn bin(&mut self) -> R<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
    /// [MQTT-1.5.4-1], [MQTT-1.5.4-2] (5.0) / [MQTT-1.5.3-1], [MQTT-1.5.3-2] (3.1.1).
    fn str(&mut self) -> R<String> {
        let b = self.bin()?;
        let s = core::str::from_utf8(b).map_err(|_| mal("invalid UTF-8"))?;
        if s.contains('\0') {
            return Err(mal("U+0000 in string"));
        }
        Ok(String::from(s))
    }
    fn empty(&self) -> bool {
        self.0.is_empty()
    }
    fn expect_empty(&self) -> R<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(mal("trailing bytes"))
        }
    }
}

fn set_once<T>(slot: &mut Option<T>, v: T) -> R<()> {
    if slot.is_some() {
        return Err(WireError::Protocol("duplicate property"));
    }
    *slot = Some(v);
    Ok(())
}

fn byte01(v: u8) -> R<u8> {
    if v > 1 {
        Err(WireError::Protocol("property value not 0 or 1"))
    } else {
        Ok(v)
    }
}

fn read_props(r: &mut Rd<'_>) -> R<Props> {
    let len = r.vbi()? as usize;
    let mut r = Rd(r.take(len)?);
    let mut p = Props::default();
    while !r.empty() {
        let id = r.vbi()?;
        match id {
            0x01 => set_once(&mut p.payload_format, byte01(r.u8()?)?)?,
            0x02 => set_once(&mut p.message_expiry, r.u32()?)?,
            0x03 => set_once(&mut p.content_type, r.str()?)?,
            0x08 => set_once(&mut p.response_topic, r.str()?)?,
            0x09 => set_once(&mut p.correlation_data, r.bin()?.to_vec())?,
            0x0B => {
                let v = r.vbi()?;
                if v == 0 {
                    return Err(WireError::Protocol("subscription identifier 0"));
                }
                p.subscription_ids.push(v);
            }
            0x11 => set_once(&mut p.session_expiry, r.u32()?)?,
            0x12 => set_once(&mut p.assigned_client_id, r.str()?)?,
            0x13 => set_once(&mut p.server_keep_alive, r.u16()?)?,
            0x15 => set_once(&mut p.auth_method, r.str()?)?,
            0x16 => set_once(&mut p.auth_data, r.bin()?.to_vec())?,
            0x17 => set_once(&mut p.request_problem_info, byte01(r.u8()?)?)?,
            0x18 => set_once(&mut p.will_delay, r.u32()?)?,
            0x19 => set_once(&mut p.request_response_info, byte01(r.u8()?)?)?,
            0x1A => set_once(&mut p.response_info, r.str()?)?,
            0x1C => set_once(&mut p.server_reference, r.str()?)?,
            0x1F => set_once(&mut p.reason_string, r.str()?)?,
            0x21 => {
                let v = r.u16()?;
                if v == 0 {
                    return Err(WireError::Protocol("receive maximum 0"));
                }
                set_once(&mut p.receive_maximum, v)?;
            }
            0x22 => set_once(&mut p.topic_alias_maximum, r.u16()?)?,
            0x23 => set_once(&mut p.topic_alias, r.u16()?)?,
            0x24 => set_once(&mut p.maximum_qos, byte01(r.u8()?)?)?,
            0x25 => set_once(&mut p.retain_available, byte01(r.u8()?)?)?,
            0x26 => {
                let k = r.str()?;
                let v = r.str()?;
                p.user.push((k, v));
            }
            0x27 => {
                let v = r.u32()?;
                if v == 0 {
                    return Err(WireError::Protocol("maximum packet size 0"));
                }
                set_once(&mut p.maximum_packet_size, v)?;
            }
            0x28 => set_once(&mut p.wildcard_available, byte01(r.u8()?)?)?,
            0x29 => set_once(&mut p.sub_ids_available, byte01(r.u8()?)?)?,
            0x2A => set_once(&mut p.shared_available, byte01(r.u8()?)?)?,
            _ => return Err(mal("unknown property identifier")),
        }
    }
    Ok(p)
}

/// Which properties a packet may carry, as bit `id` of a u64 mask (ids are below 64).
fn allowed_props(kind: u8, will: bool) -> u64 {
    const fn m(ids: &[u8]) -> u64 {
        let mut out = 0u64;
        let mut i = 0;
        while i < ids.len() {
            out |= 1 << ids[i];
            i += 1;
        }
        out
    }
    const USER: u8 = 0x26;
    const REASON: u8 = 0x1F;
    if will {
        return m(&[0x01, 0x02, 0x03, 0x08, 0x09, 0x18, USER]);
    }
    match kind {
        kind::CONNECT => m(&[0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, USER, 0x27]),
        kind::PUBLISH => m(&[0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x23, USER]),
        kind::PUBACK | kind::PUBREC | kind::PUBREL | kind::PUBCOMP => m(&[REASON, USER]),
        kind::SUBSCRIBE => m(&[0x0B, USER]),
        kind::UNSUBSCRIBE => m(&[USER]),
        kind::DISCONNECT => m(&[0x11, 0x1C, REASON, USER]),
        kind::AUTH => m(&[0x15, 0x16, REASON, USER]),
        _ => u64::MAX,
    }
}

fn check_allowed(p: &Props, kind: u8, will: bool) -> R<()> {
    let allowed = allowed_props(kind, will);
    let mut present = 0u64;
    let mut mark = |id: u8, is: bool| {
        if is {
            present |= 1 << id;
        }
    };
    mark(0x01, p.payload_format.is_some());
    mark(0x02, p.message_expiry.is_some());
    mark(0x03, p.content_type.is_some());
    mark(0x08, p.response_topic.is_some());
    mark(0x09, p.correlation_data.is_some());
    mark(0x0B, !p.subscription_ids.is_empty());
    mark(0x11, p.session_expiry.is_some());
    mark(0x12, p.assigned_client_id.is_some());
    mark(0x13, p.server_keep_alive.is_some());
    mark(0x15, p.auth_method.is_some());
    mark(0x16, p.auth_data.is_some());
    mark(0x17, p.request_problem_info.is_some());
    mark(0x18, p.will_delay.is_some());
    mark(0x19, p.request_response_info.is_some());
    mark(0x1A, p.response_info.is_some());
    mark(0x1C, p.server_reference.is_some());
    mark(0x1F, p.reason_string.is_some());
    mark(0x21, p.receive_maximum.is_some());
    mark(0x22, p.topic_alias_maximum.is_some());
    mark(0x23, p.topic_alias.is_some());
    mark(0x24, p.maximum_qos.is_some());
    mark(0x25, p.retain_available.is_some());
    mark(0x26, !p.user.is_empty());
    mark(0x27, p.maximum_packet_size.is_some());
    mark(0x28, p.wildcard_available.is_some());
    mark(0x29, p.sub_ids_available.is_some());
    mark(0x2A, p.shared_available.is_some());
    if present & !allowed != 0 {
        return Err(WireError::Protocol("property not allowed in this packet"));
    }
    if kind == kind::SUBSCRIBE && p.subscription_ids.len() > 1 {
        return Err(WireError::Protocol("more than one subscription identifier"));
    }
    Ok(())
}

fn props_checked(r: &mut Rd<'_>, kind: u8, will: bool) -> R<Props> {
    let p = read_props(r)?;
    check_allowed(&p, kind, will)?;
    Ok(p)
}

fn nonzero_pid(r: &mut Rd<'_>) -> R<u16> {
    let pid = r.u16()?;
    if pid == 0 {
        // [MQTT-2.2.1-3] (5.0) / [MQTT-2.3.1-1] (3.1.1): non-zero packet identifier.
        return Err(WireError::Protocol("packet identifier 0"));
    }
    Ok(pid)
}

/// Outcome of decoding a CONNECT: the protocol level matters even when the rest fails, because
/// it decides whether the refusal is a 5.0 or a 3.1.1 CONNACK.
#[derive(Debug)]
pub enum ConnectError {
    /// Protocol name or level not spoken here: CONNACK 0x84 / return code 0x01.
    UnsupportedVersion(Option<Version>),
    /// The CONNECT is bad; the version is known when the level byte was readable.
    Bad(Option<Version>, WireError),
}

/// Decodes a CONNECT body (the bytes after the fixed header).
pub fn decode_connect(body: &[u8]) -> Result<Connect, ConnectError> {
    let mut r = Rd(body);
    let bad = |v, e| ConnectError::Bad(v, e);
    let name = r.bin().map_err(|e| bad(None, e))?;
    let level = r.u8().map_err(|e| bad(None, e))?;
    let version = match (name, level) {
        (b"MQTT", 4) => Version::V311,
        (b"MQTT", 5) => Version::V5,
        (b"MQTT", _) | (b"MQIsdp", _) => return Err(ConnectError::UnsupportedVersion(None)),
        // [MQTT-3.1.2-1]: another protocol name; the server MAY answer with CONNACK 0x84.
        _ => return Err(ConnectError::Bad(None, mal("protocol name"))),
    };
    let v = Some(version);
    let mut inner = || -> R<Connect> {
        let flags = r.u8()?;
        // [MQTT-3.1.2-3]: the reserved flag must be 0.
        if flags & 1 != 0 {
            return Err(mal("CONNECT reserved flag set"));
        }
        let clean_start = flags & 0x02 != 0;
        let will_flag = flags & 0x04 != 0;
        let will_qos = (flags >> 3) & 3;
        let will_retain = flags & 0x20 != 0;
        let password_flag = flags & 0x40 != 0;
        let username_flag = flags & 0x80 != 0;
        if will_qos == 3 {
            return Err(mal("will QoS 3")); // [MQTT-3.1.2-12]
        }
        if !will_flag && (will_qos != 0 || will_retain) {
            return Err(mal("will QoS/retain without will flag")); // [MQTT-3.1.2-11], [MQTT-3.1.2-13]
        }
        if version == Version::V311 && password_flag && !username_flag {
            return Err(mal("password without user name")); // [MQTT-3.1.2-22] (3.1.1)
        }
        let keep_alive = r.u16()?;
        let props = if version.is_v5() {
            props_checked(&mut r, kind::CONNECT, false)?
        } else {
            Props::default()
        };
        let client_id = r.str()?;
        let will = if will_flag {
            let props = if version.is_v5() {
                props_checked(&mut r, 0, true)?
            } else {
                Props::default()
            };
            let topic = r.str()?;
            let payload = r.bin()?.to_vec();
            Some(WillMsg {
                topic,
                payload,
                qos: will_qos,
                retain: will_retain,
                props,
            })
        } else {
            None
        };
        let username = if username_flag { Some(r.str()?) } else { None };
        let password = if password_flag {
            Some(r.bin()?.to_vec())
        } else {
            None
        };
        r.expect_empty()?;
        Ok(Connect {
            version,
            clean_start,
            keep_alive,
            props,
            client_id,
            will,
            username,
            password,
        })
    };
    inner().map_err(|e| bad(v, e))
}

/// Decodes any packet other than CONNECT, for a connection speaking `version`.
pub fn decode(h: &Header, body: &[u8], version: Version) -> R<Packet> {
    decode_inner(h, body, version, true)
}

fn decode_inner(h: &Header, body: &[u8], version: Version, from_client: bool) -> R<Packet> {
    let mut r = Rd(body);
    let v5 = version.is_v5();
    let p = match h.kind {
        kind::CONNECT => return Err(WireError::Protocol("second CONNECT")), // [MQTT-3.1.0-2]
        kind::PUBLISH => {
            let qos = (h.flags >> 1) & 3;
            let topic = r.str()?;
            let pid = if qos > 0 { nonzero_pid(&mut r)? } else { 0 };
            let props = if v5 {
                props_checked(&mut r, kind::PUBLISH, false)?
            } else {
                Props::default()
            };
            if from_client && !props.subscription_ids.is_empty() {
                // [MQTT-3.3.4-6]: a client must not send a Subscription Identifier.
                return Err(WireError::Protocol(
                    "subscription identifier in client PUBLISH",
                ));
            }
            let payload = Payload::from(r.take(r.0.len())?);
            Packet::Publish(Publish {
                dup: h.flags & 8 != 0,
                qos,
                retain: h.flags & 1 != 0,
                topic,
                pid,
                props,
                payload,
            })
        }
        kind::PUBACK | kind::PUBREC | kind::PUBREL | kind::PUBCOMP => {
            let pid = nonzero_pid(&mut r)?;
            let mut code = 0;
            let mut props = Props::default();
            if v5 {
                if !r.empty() {
                    code = r.u8()?;
                }
                if !r.empty() {
                    props = props_checked(&mut r, h.kind, false)?;
                }
            }
            r.expect_empty()?;
            Packet::Ack {
                kind: h.kind,
                pid,
                code,
                props,
            }
        }
        kind::SUBSCRIBE => {
            let pid = nonzero_pid(&mut r)?;
            let props = if v5 {
                props_checked(&mut r, kind::SUBSCRIBE, false)?
            } else {
                Props::default()
            };
            let mut filters = Vec::new();
            while !r.empty() {
                let f = r.str()?;
                let o = r.u8()?;
                let opts = SubOpts {
                    qos: o & 3,
                    no_local: o & 4 != 0,
                    retain_as_published: o & 8 != 0,
                    retain_handling: (o >> 4) & 3,
                };
                if opts.qos == 3 {
                    return Err(mal("subscription QoS 3")); // [MQTT-3.8.3-4] (3.1.1)
                }
                if v5 {
                    if opts.retain_handling == 3 || o & 0xC0 != 0 {
                        return Err(mal("reserved subscription option bits")); // [MQTT-3.8.3-5]
                    }
                } else if o & 0xFC != 0 {
                    return Err(mal("reserved subscription option bits")); // [MQTT-3-8.3-4]
                }
                filters.push((f, opts));
            }
            if filters.is_empty() {
                return Err(WireError::Protocol("SUBSCRIBE without filters")); // [MQTT-3.8.3-2]
            }
            Packet::Subscribe {
                pid,
                props,
                filters,
            }
        }
        kind::UNSUBSCRIBE => {
            let pid = nonzero_pid(&mut r)?;
            let props = if v5 {
                props_checked(&mut r, kind::UNSUBSCRIBE, false)?
            } else {
                Props::default()
            };
            let mut filters = Vec::new();
            while !r.empty() {
                filters.push(r.str()?);
            }
            if filters.is_empty() {
                return Err(WireError::Protocol("UNSUBSCRIBE without filters")); // [MQTT-3.10.3-2]
            }
            Packet::Unsubscribe {
                pid,
                props,
                filters,
            }
        }
        kind::PINGREQ => {
            r.expect_empty()?;
            Packet::PingReq
        }
        kind::DISCONNECT => {
            let mut code = 0;
            let mut props = Props::default();
            if v5 {
                if !r.empty() {
                    code = r.u8()?;
                }
                if !r.empty() {
                    props = props_checked(&mut r, kind::DISCONNECT, false)?;
                }
            }
            r.expect_empty()?;
            Packet::Disconnect { code, props }
        }
        kind::AUTH => {
            let mut code = 0;
            let mut props = Props::default();
            if !r.empty() {
                code = r.u8()?;
                props = props_checked(&mut r, kind::AUTH, false)?;
            }
            r.expect_empty()?;
            Packet::Auth { code, props }
        }
        // Server-to-client packets sent by a client.
        _ => return Err(WireError::Protocol("packet type not sent by clients")),
    };
    Ok(p)
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

/// Convenience for the engine and tests: decodes one whole packet (header and body).
pub fn decode_full(buf: &[u8], version: Version) -> R<Option<(Packet, usize)>> {
    let Some(h) = parse_header(buf, Some(version))? else {
        return Ok(None);
    };
    if buf.len() < h.total() {
        return Ok(None);
    }
    let body = &buf[h.header_len..h.total()];
    let p = if h.kind == kind::CONNECT {
        Packet::Connect(decode_connect(body).map_err(|e| match e {
            ConnectError::UnsupportedVersion(_) => mal("unsupported protocol version"),
            ConnectError::Bad(_, e) => e,
        })?)
    } else if h.kind == kind::CONNACK
        || h.kind == kind::SUBACK
        || h.kind == kind::UNSUBACK
        || h.kind == kind::PINGRESP
    {
        decode_server_packet(&h, body, version)?
    } else {
        decode_inner(&h, body, version, false)?
    };
    Ok(Some((p, h.total())))
}

/// Decodes the server-to-client packets, for test clients.
fn decode_server_packet(h: &Header, body: &[u8], version: Version) -> R<Packet> {
    let mut r = Rd(body);
    let v5 = version.is_v5();
    Ok(match h.kind {
        kind::CONNACK => {
            let sp = r.u8()? & 1 != 0;
            let code = r.u8()?;
            let props = if v5 {
                read_props(&mut r)?
            } else {
                Props::default()
            };
            Packet::ConnAck {
                session_present: sp,
                code,
                props,
            }
        }
        kind::SUBACK | kind::UNSUBACK => {
            let pid = r.u16()?;
            let props = if v5 {
                read_props(&mut r)?
            } else {
                Props::default()
            };
            let codes = r.take(r.0.len())?.to_vec();
            if h.kind == kind::SUBACK {
                Packet::SubAck { pid, props, codes }
            } else {
                Packet::UnsubAck { pid, props, codes }
            }
        }
        _ => Packet::PingResp,
    })
}
