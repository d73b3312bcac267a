//! One-line renderings of frames for the transcript, and the core's verdict on each frame.
//!
//! Validity is the core's call: every frame goes through `mqttref_core`'s decoder with the
//! connection's version, and its [`DecodeError`] is kept. The rendering is deliberately *not*
//! the core's decoded view: it reads the fields leniently, straight from the bytes, so that a
//! malformed frame still shows what was on the wire (`PUBLISH(qos=3, topic=b"a/\xff", ...)
//! [malformed packet: PUBLISH with QoS 3]`), which is what a report needs as evidence.

use std::fmt::Write as _;

use mqttref_core::codec::{self as core, ReasonCode};

use crate::build::prop;
use crate::{DecodeError, PacketType, ProtocolVersion};

/// What [`describe`] found out about one frame.
pub(crate) struct Decoded {
    pub(crate) kind: Option<PacketType>,
    pub(crate) error: Option<DecodeError>,
    pub(crate) line: String,
}

/// The core's verdict and a one-line rendering of `frame` (a whole frame, or whatever bytes
/// could not be framed).
pub(crate) fn describe(frame: &[u8], version: ProtocolVersion) -> Decoded {
    let Some(&first) = frame.first() else {
        return Decoded {
            kind: None,
            error: None,
            line: "(no bytes)".to_owned(),
        };
    };
    let kind = PacketType::from_u8(first >> 4);
    let error = match core::decode(frame, version, u32::MAX) {
        Ok(core::Decoded::Complete { consumed, .. }) if consumed == frame.len() => None,
        Ok(_) => None,
        Err(e) => Some(e),
    };
    let mut line = render(frame, version);
    if let Some(e) = &error {
        let _ = write!(line, " [{e}]");
    }
    Decoded { kind, error, line }
}

/// The body after the fixed header, or empty if the header is not whole.
pub(crate) fn body(frame: &[u8]) -> &[u8] {
    for i in 0..4 {
        match frame.get(1 + i) {
            Some(b) if b & 0x80 == 0 => return frame.get(2 + i..).unwrap_or(&[]),
            Some(_) => {}
            None => return &[],
        }
    }
    &[]
}

/// See [`Received::reason_code`](crate::Received::reason_code).
pub(crate) fn reason_code(kind: PacketType, version: ProtocolVersion, body: &[u8]) -> Option<u8> {
    let v5 = version == ProtocolVersion::V5;
    match kind {
        PacketType::ConnAck => body.get(1).copied(),
        PacketType::PubAck | PacketType::PubRec | PacketType::PubRel | PacketType::PubComp
            if v5 =>
        {
            if body.len() < 2 {
                None
            } else {
                Some(body.get(2).copied().unwrap_or(0))
            }
        }
        PacketType::Disconnect | PacketType::Auth if v5 => Some(body.first().copied().unwrap_or(0)),
        _ => None,
    }
}

/// A lenient cursor: every read is `None` past the end, nothing is validated.
struct Lax<'a>(&'a [u8]);

impl<'a> Lax<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn vbi(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for i in 0..4 {
            let b = self.u8()?;
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// A string field: quoted if valid UTF-8 (escapes shown, e.g. `\0`), else as escaped bytes.
fn q(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => format!("{s:?}"),
        Err(_) => format!("b\"{}\"", bytes.escape_ascii()),
    }
}

/// A payload: its size, and the text if short and UTF-8.
fn payload(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if !bytes.is_empty() && bytes.len() <= 64 => {
            format!("payload={} bytes {s:?}", bytes.len())
        }
        _ => format!("payload={} bytes", bytes.len()),
    }
}

fn reason(code: u8) -> String {
    match ReasonCode::from_u8(code) {
        Some(rc) => format!("0x{code:02x} {}", rc.name()),
        None => format!("0x{code:02x} (unknown)"),
    }
}

fn connack_return_code(code: u8) -> String {
    let name = match code {
        0 => "Connection Accepted",
        1 => "unacceptable protocol version",
        2 => "identifier rejected",
        3 => "Server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "(unknown)",
    };
    format!("0x{code:02x} {name}")
}

/// A property block, `props{name=value, ...}`; `None` if it runs past the end.
fn props(r: &mut Lax<'_>) -> Option<String> {
    let len = r.vbi()?;
    let block = match r.take(len as usize) {
        Some(b) => b,
        None => {
            let rest = r.rest();
            return Some(format!("props{{len={len}, only {} bytes}}", rest.len()));
        }
    };
    let mut p = Lax(block);
    let mut items = Vec::new();
    while !p.0.is_empty() {
        let Some(id) = p.vbi() else {
            items.push("…".to_owned());
            break;
        };
        let id8 = u8::try_from(id).unwrap_or(0);
        let name = prop::name(id8).map_or_else(|| format!("0x{id:02x}"), str::to_owned);
        let value = match id8 {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2a => p.u8().map(|v| v.to_string()),
            0x13 | 0x21 | 0x22 | 0x23 => p.u16().map(|v| v.to_string()),
            0x02 | 0x11 | 0x18 | 0x27 => p.u32().map(|v| v.to_string()),
            0x0b => p.vbi().map(|v| v.to_string()),
            0x03 | 0x08 | 0x12 | 0x15 | 0x1a | 0x1c | 0x1f => p.string().map(q),
            0x09 | 0x16 => p.string().map(|b| format!("{} bytes", b.len())),
            0x26 => p
                .string()
                .and_then(|k| Some(format!("({}, {})", q(k), q(p.string()?)))),
            _ => {
                // Unknown identifier: its value's length is unknowable; show the rest raw.
                let rest = p.rest();
                Some(format!("? {}", crate::transcript::hex(rest)))
            }
        };
        match value {
            Some(v) => items.push(format!("{name}={v}")),
            None => {
                items.push(format!("{name}=…"));
                break;
            }
        }
    }
    Some(format!("props{{{}}}", items.join(", ")))
}

/// The one-line rendering of a frame: `TYPE(field=value, ...)`.
pub(crate) fn render(frame: &[u8], version: ProtocolVersion) -> String {
    let first = frame[0];
    let (type_bits, flags) = (first >> 4, first & 0x0f);
    let Some(kind) = PacketType::from_u8(type_bits) else {
        return format!(
            "RESERVED-TYPE-{type_bits}(flags=0x{flags:x}, {} bytes)",
            frame.len()
        );
    };
    let mut f = Vec::new();
    if let Some(required) = kind.required_flags() {
        if flags != required {
            f.push(format!("flags=0b{flags:04b}"));
        }
    }
    let b = body(frame);
    let complete = fields(kind, flags, b, version, &mut f).is_some();
    if !complete {
        f.push("…(cut short)".to_owned());
    }
    if f.is_empty() {
        kind.name().to_owned()
    } else {
        format!("{}({})", kind.name(), f.join(", "))
    }
}

/// Appends the fields of the body; `None` when the body ends early.
fn fields(
    kind: PacketType,
    flags: u8,
    body: &[u8],
    version: ProtocolVersion,
    f: &mut Vec<String>,
) -> Option<()> {
    let v5 = version == ProtocolVersion::V5;
    let mut r = Lax(body);
    match kind {
        PacketType::Connect => {
            let name = r.string()?;
            let level = r.u8()?;
            f.push(match level {
                5 => "v5".to_owned(),
                4 => "v3.1.1".to_owned(),
                l => format!("level={l}"),
            });
            if name != b"MQTT" {
                f.push(format!("protocol_name={}", q(name)));
            }
            let cf = r.u8()?;
            let keep_alive = r.u16()?;
            let v5 = level == 5;
            let cprops = if v5 { Some(props(&mut r)?) } else { None };
            f.push(format!("client_id={}", q(r.string()?)));
            f.push(format!("clean_start={}", (cf >> 1) & 1));
            f.push(format!("keep_alive={keep_alive}"));
            if cf & 0x01 != 0 {
                f.push("reserved_flag=1".to_owned());
            }
            if cf & 0x04 != 0 {
                let wp = if v5 { Some(props(&mut r)?) } else { None };
                let topic = q(r.string()?);
                let pl = r.string()?.len();
                let mut w = format!(
                    "will(topic={topic}, qos={}, retain={}, payload={pl} bytes",
                    (cf >> 3) & 3,
                    (cf >> 5) & 1
                );
                if let Some(wp) = wp.filter(|p| p != "props{}") {
                    let _ = write!(w, ", {wp}");
                }
                w.push(')');
                f.push(w);
            } else if cf & 0x38 != 0 {
                f.push(format!("will_bits=0x{:02x}", cf & 0x38));
            }
            if cf & 0x80 != 0 {
                f.push(format!("username={}", q(r.string()?)));
            }
            if cf & 0x40 != 0 {
                f.push(format!("password={} bytes", r.string()?.len()));
            }
            if let Some(p) = cprops.filter(|p| p != "props{}") {
                f.push(p);
            }
        }
        PacketType::ConnAck => {
            let ack = r.u8()?;
            f.push(format!("session_present={}", ack & 1));
            if ack & 0xfe != 0 {
                f.push(format!("ack_flags=0x{ack:02x}"));
            }
            let code = r.u8()?;
            f.push(if v5 {
                format!("reason={}", reason(code))
            } else {
                connack_return_code(code)
            });
            if v5 {
                f.push(props(&mut r)?);
            }
        }
        PacketType::Publish => {
            let qos = (flags >> 1) & 3;
            f.push(format!("topic={}", q(r.string()?)));
            f.push(format!("qos={qos}"));
            if qos > 0 {
                f.push(format!("packet_id={}", r.u16()?));
            }
            if flags & 0x08 != 0 {
                f.push("dup=1".to_owned());
            }
            if flags & 0x01 != 0 {
                f.push("retain=1".to_owned());
            }
            if v5 {
                let p = props(&mut r)?;
                if p != "props{}" {
                    f.push(p);
                }
            }
            f.push(payload(r.rest()));
            return Some(());
        }
        PacketType::PubAck | PacketType::PubRec | PacketType::PubRel | PacketType::PubComp => {
            f.push(format!("packet_id={}", r.u16()?));
            if v5 {
                if let Some(code) = r.u8() {
                    f.push(format!("reason={}", reason(code)));
                    if !r.0.is_empty() {
                        f.push(props(&mut r)?);
                    }
                }
            }
        }
        PacketType::Subscribe | PacketType::Unsubscribe => {
            f.push(format!("packet_id={}", r.u16()?));
            if v5 {
                let p = props(&mut r)?;
                if p != "props{}" {
                    f.push(p);
                }
            }
            let mut filters = Vec::new();
            while !r.0.is_empty() {
                let filter = q(r.string()?);
                if kind == PacketType::Subscribe {
                    filters.push(format!("{filter} options=0x{:02x}", r.u8()?));
                } else {
                    filters.push(filter);
                }
            }
            f.push(format!("filters=[{}]", filters.join(", ")));
        }
        PacketType::SubAck | PacketType::UnsubAck => {
            f.push(format!("packet_id={}", r.u16()?));
            if v5 {
                let p = props(&mut r)?;
                if p != "props{}" {
                    f.push(p);
                }
            }
            let codes: Vec<String> = r.rest().iter().map(|c| format!("0x{c:02x}")).collect();
            if v5 || kind == PacketType::SubAck {
                f.push(format!("reasons=[{}]", codes.join(", ")));
            } else if !codes.is_empty() {
                f.push(format!("unexpected=[{}]", codes.join(", ")));
            }
        }
        PacketType::PingReq | PacketType::PingResp => {}
        PacketType::Disconnect | PacketType::Auth => {
            if v5 {
                if let Some(code) = r.u8() {
                    f.push(format!("reason={}", reason(code)));
                    if !r.0.is_empty() {
                        f.push(props(&mut r)?);
                    }
                }
            }
        }
    }
    if !r.0.is_empty() {
        f.push(format!("trailing={}", crate::transcript::hex(r.0)));
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{self, malformed, prop};
    use ProtocolVersion::{V3_1_1, V5};

    fn line(bytes: &[u8], v: ProtocolVersion) -> String {
        describe(bytes, v).line
    }

    #[test]
    fn renders_valid_packets() {
        assert_eq!(
            line(&build::Connect::v5("c1").keep_alive(10).build(), V5),
            r#"CONNECT(v5, client_id="c1", clean_start=1, keep_alive=10)"#
        );
        assert_eq!(
            line(
                &build::Connect::v311("c")
                    .will(build::Will::new("w", "x").qos(1))
                    .username("u")
                    .password("p")
                    .build(),
                V3_1_1
            ),
            r#"CONNECT(v3.1.1, client_id="c", clean_start=1, keep_alive=30, will(topic="w", qos=1, retain=0, payload=1 bytes), username="u", password=1 bytes)"#
        );
        assert_eq!(
            line(&[0x20, 0x03, 0x00, 0x00, 0x00], V5),
            "CONNACK(session_present=0, reason=0x00 Success, props{})"
        );
        assert_eq!(
            line(&[0x20, 0x02, 0x01, 0x00], V3_1_1),
            "CONNACK(session_present=1, 0x00 Connection Accepted)"
        );
        assert_eq!(
            line(
                &build::Publish::v5("a/b", "hi")
                    .qos(1)
                    .property(prop::user_property("k", "v"))
                    .build(),
                V5
            ),
            r#"PUBLISH(topic="a/b", qos=1, packet_id=1, props{user_property=("k", "v")}, payload=2 bytes "hi")"#
        );
        assert_eq!(
            line(&build::Subscribe::v5(3).filter("a/#", 1).build(), V5),
            r#"SUBSCRIBE(packet_id=3, filters=["a/#" options=0x01])"#
        );
        assert_eq!(
            line(&[0x90, 0x04, 0x00, 0x03, 0x00, 0x80], V5),
            "SUBACK(packet_id=3, reasons=[0x80])"
        );
        assert_eq!(line(&[0xd0, 0x00], V5), "PINGRESP");
        assert_eq!(
            line(
                &build::Disconnect::v5()
                    .reason(0x81)
                    .property(prop::reason_string("bad"))
                    .build(),
                V5
            ),
            r#"DISCONNECT(reason=0x81 Malformed Packet, props{reason_string="bad"})"#
        );
        assert_eq!(
            line(&build::Puback::v5(7).reason(0x10).build(), V5),
            "PUBACK(packet_id=7, reason=0x10 No matching subscribers)"
        );
    }

    #[test]
    fn renders_malformed_packets_with_the_core_verdict() {
        let d = describe(&malformed::publish_qos3(V5, "t"), V5);
        assert!(d.error.is_some());
        assert!(
            d.line
                .starts_with(r#"PUBLISH(topic="t", qos=3, packet_id=1, payload=1 bytes "x") ["#),
            "{}",
            d.line
        );
        let d = describe(&malformed::publish_invalid_utf8_topic(V3_1_1), V3_1_1);
        assert!(
            d.line
                .starts_with(r#"PUBLISH(topic=b"a/\xff", qos=0, payload=1 bytes "x") ["#),
            "{}",
            d.line
        );
        let d = describe(&malformed::connect_reserved_header_flags(V5, "c"), V5);
        assert!(
            d.line.starts_with("CONNECT(flags=0b0001, v5, "),
            "{}",
            d.line
        );
        let d = describe(&[0x00, 0x00], V5);
        assert_eq!(d.kind, None);
        assert!(
            d.line.starts_with("RESERVED-TYPE-0(flags=0x0, 2 bytes) ["),
            "{}",
            d.line
        );
        let d = describe(&[0x40, 0x01, 0x00], V5);
        assert!(d.line.starts_with("PUBACK(…(cut short)) ["), "{}", d.line);
        let d = describe(
            &build::Connect::v5("c")
                .property(prop::topic_alias(1))
                .property(build::Property::raw(0x7f, [1, 2]))
                .build(),
            V5,
        );
        assert!(
            d.line.contains("props{topic_alias=1, 0x7f=? 01 02}"),
            "{}",
            d.line
        );
    }

    #[test]
    fn reason_codes_from_bytes() {
        assert_eq!(reason_code(PacketType::ConnAck, V3_1_1, &[0, 5]), Some(5));
        assert_eq!(reason_code(PacketType::PubAck, V5, &[0, 1]), Some(0));
        assert_eq!(
            reason_code(PacketType::PubAck, V5, &[0, 1, 0x10]),
            Some(0x10)
        );
        assert_eq!(reason_code(PacketType::PubAck, V3_1_1, &[0, 1]), None);
        assert_eq!(reason_code(PacketType::Disconnect, V5, &[]), Some(0));
        assert_eq!(reason_code(PacketType::Disconnect, V5, &[0x8e]), Some(0x8e));
        assert_eq!(reason_code(PacketType::Disconnect, V3_1_1, &[]), None);
    }
}
