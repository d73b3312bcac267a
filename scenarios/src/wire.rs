//! Reading the few fields the framework's helpers check (CONNACK code and properties, SUBACK
//! codes, DISCONNECT reason, PUBLISH topic and payload) straight from received frames.
//!
//! Scenarios that need more decode with the core (`Received::packet`); these readers are
//! deliberately small and lenient so that a helper can say precisely what it got even when the
//! frame is malformed.

use std::fmt;

/// Names of the control packet types, by the high nibble of the first byte.
pub fn type_name(first_byte: u8) -> &'static str {
    match first_byte >> 4 {
        0 => "reserved type 0",
        1 => "CONNECT",
        2 => "CONNACK",
        3 => "PUBLISH",
        4 => "PUBACK",
        5 => "PUBREC",
        6 => "PUBREL",
        7 => "PUBCOMP",
        8 => "SUBSCRIBE",
        9 => "SUBACK",
        10 => "UNSUBSCRIBE",
        11 => "UNSUBACK",
        12 => "PINGREQ",
        13 => "PINGRESP",
        14 => "DISCONNECT",
        _ => "AUTH",
    }
}

/// Short description of a frame for "got" messages: type, then hex (at most 32 bytes).
pub fn describe(bytes: &[u8]) -> String {
    match bytes.first() {
        None => "an empty frame".into(),
        Some(&b) => format!("{} [{}]", type_name(b), hex(bytes, 32)),
    }
}

/// Space-separated hex, cut after `max` bytes.
pub fn hex(bytes: &[u8], max: usize) -> String {
    let mut s: Vec<String> = bytes.iter().take(max).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > max {
        s.push(format!("... ({} bytes)", bytes.len()));
    }
    s.join(" ")
}

/// Name of a 5.0 reason code, for messages.
pub fn reason_name(code: u8) -> &'static str {
    mqttref_core::codec::reason::ReasonCode::from_u8(code)
        .map_or("unknown reason code", |r| r.name())
}

/// Name of a 3.1.1 CONNACK return code.
pub fn return_code_name(code: u8) -> &'static str {
    match code {
        0 => "Connection Accepted",
        1 => "unacceptable protocol version",
        2 => "identifier rejected",
        3 => "Server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "reserved return code",
    }
}

/// A CONNACK as read from its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connack {
    /// The acknowledge flags byte (bit 0: Session Present).
    pub flags: u8,
    /// 5.0 Reason Code or 3.1.1 return code.
    pub code: u8,
    /// 5.0 properties as (identifier, value) for the numeric ones and (identifier, bytes) for
    /// strings and binary data; empty for 3.1.1.
    pub properties: Vec<(u8, Prop)>,
}

impl Connack {
    /// Session Present.
    pub fn session_present(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The numeric value of property `id`, if present.
    pub fn property(&self, id: u8) -> Option<u32> {
        self.properties.iter().find_map(|(i, p)| match p {
            Prop::Int(v) if *i == id => Some(*v),
            _ => None,
        })
    }

    /// The string or binary value of property `id`, if present.
    pub fn property_bytes(&self, id: u8) -> Option<&[u8]> {
        self.properties.iter().find_map(|(i, p)| match p {
            Prop::Bytes(v) if *i == id => Some(v.as_slice()),
            _ => None,
        })
    }
}

/// A property value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prop {
    /// Byte, Two or Four Byte Integer, Variable Byte Integer.
    Int(u32),
    /// UTF-8 string or binary data.
    Bytes(Vec<u8>),
    /// User Property.
    Pair(Vec<u8>, Vec<u8>),
}

/// A PUBLISH as read from its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP flag.
    pub dup: bool,
    /// QoS bits.
    pub qos: u8,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name bytes.
    pub topic: Vec<u8>,
    /// Packet identifier (QoS > 0).
    pub packet_id: Option<u16>,
    /// 5.0 properties.
    pub properties: Vec<(u8, Prop)>,
    /// Payload.
    pub payload: Vec<u8>,
}

impl Publish {
    /// Every value of property `id`, in order.
    pub fn props(&self, id: u8) -> Vec<&Prop> {
        self.properties
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, v)| v)
            .collect()
    }

    /// The numeric property `id`, if present.
    pub fn int_prop(&self, id: u8) -> Option<u32> {
        self.properties.iter().find_map(|(i, v)| match v {
            Prop::Int(n) if *i == id => Some(*n),
            _ => None,
        })
    }

    /// One-line description, for "got" messages: every field.
    pub fn show(&self) -> String {
        format!(
            "PUBLISH topic {:?} QoS {} DUP {} RETAIN {} id {:?} payload {:?} properties {:?}",
            String::from_utf8_lossy(&self.topic),
            self.qos,
            u8::from(self.dup),
            u8::from(self.retain),
            self.packet_id,
            String::from_utf8_lossy(&self.payload),
            self.properties
        )
    }
}

/// The [`Publish::show`] lines of `ps` as one debug-formatted list, for "got" messages.
pub fn show_all(ps: &[Publish]) -> String {
    format!("{:?}", ps.iter().map(Publish::show).collect::<Vec<_>>())
}

/// 5.0 subscription options byte: QoS (bits 0-1), Retain As Published (bit 3), Retain Handling
/// (bits 4-5); No Local stays 0.
pub fn options(qos: u8, rap: bool, retain_handling: u8) -> u8 {
    qos | (u8::from(rap) << 3) | (retain_handling << 4)
}

/// A Variable Byte Integer at `at`: (value, number of bytes, whether the encoding is minimal).
pub fn read_vbi(b: &[u8], at: usize) -> Result<(u32, usize, bool), String> {
    let mut v: u32 = 0;
    for i in 0..4 {
        let byte = *b
            .get(at + i)
            .ok_or_else(|| format!("Variable Byte Integer cut short at byte {}", at + i))?;
        v |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let len = i + 1;
            let minimal = len == 1 || byte != 0;
            return Ok((v, len, minimal));
        }
    }
    Err("Variable Byte Integer longer than 4 bytes".into())
}

/// The identifiers of the properties in a 5.0 property block body (without its length), in
/// order; an unknown identifier or a value cut short is an error.
pub fn prop_ids(block: &[u8]) -> Result<Vec<u8>, String> {
    let mut ids = Vec::new();
    let mut at = 0;
    let lp = |at: usize| -> Result<usize, String> {
        let hi = block.get(at).ok_or("string cut short")?;
        let lo = block.get(at + 1).ok_or("string cut short")?;
        Ok(2 + usize::from(u16::from_be_bytes([*hi, *lo])))
    };
    while at < block.len() {
        let id = block[at];
        at += 1;
        let size = match id {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => 1,
            0x13 | 0x21 | 0x22 | 0x23 => 2,
            0x02 | 0x11 | 0x18 | 0x27 => 4,
            0x0B => read_vbi(block, at)?.1,
            0x03 | 0x08 | 0x09 | 0x12 | 0x15 | 0x16 | 0x1A | 0x1C | 0x1F => lp(at)?,
            0x26 => {
                let k = lp(at)?;
                k + lp(at + k)?
            }
            other => return Err(format!("unknown property identifier 0x{other:02x}")),
        };
        if at + size > block.len() {
            return Err(format!("property 0x{id:02x} cut short"));
        }
        at += size;
        ids.push(id);
    }
    Ok(ids)
}

/// The property identifiers of a received 5.0 PUBACK / PUBREC / PUBREL / PUBCOMP
/// (`has_reason`) or SUBACK / UNSUBACK (`!has_reason`): the block after the packet identifier
/// (and reason code).
pub fn ack_prop_ids(bytes: &[u8], has_reason: bool) -> Result<Vec<u8>, String> {
    let (len, n, _) = read_vbi(bytes, 1)?;
    let body = bytes
        .get(1 + n..1 + n + len as usize)
        .ok_or("frame shorter than its Remaining Length")?;
    let start = if has_reason { 3 } else { 2 };
    if body.len() <= start {
        return Ok(Vec::new());
    }
    let (plen, pn, _) = read_vbi(body, start)?;
    let block = body
        .get(start + pn..start + pn + plen as usize)
        .ok_or("property block longer than the packet")?;
    prop_ids(block)
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError(pub String);

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Result<u8, ReadError> {
        let v = *self
            .b
            .get(self.at)
            .ok_or_else(|| ReadError(format!("truncated at byte {}", self.at)))?;
        self.at += 1;
        Ok(v)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end =
            end.ok_or_else(|| ReadError(format!("truncated: {n} bytes needed at {}", self.at)))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, ReadError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, ReadError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn vbi(&mut self) -> Result<u32, ReadError> {
        let mut v: u32 = 0;
        for i in 0..4 {
            let b = self.u8()?;
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ReadError(
            "Variable Byte Integer longer than 4 bytes".into(),
        ))
    }
    fn lp(&mut self) -> Result<&'a [u8], ReadError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = &self.b[self.at.min(self.b.len())..];
        self.at = self.b.len();
        s
    }
    fn properties(&mut self) -> Result<Vec<(u8, Prop)>, ReadError> {
        let len = self.vbi()? as usize;
        let body = self.take(len)?;
        let mut c = Cursor { b: body, at: 0 };
        let mut out = Vec::new();
        while c.at < body.len() {
            let id = c.u8()?;
            let v = match id {
                0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => Prop::Int(c.u8()?.into()),
                0x13 | 0x21 | 0x22 | 0x23 => Prop::Int(c.u16()?.into()),
                0x02 | 0x11 | 0x18 | 0x27 => Prop::Int(c.u32()?),
                0x0B => Prop::Int(c.vbi()?),
                0x03 | 0x08 | 0x12 | 0x15 | 0x1A | 0x1C | 0x1F | 0x09 | 0x16 => {
                    Prop::Bytes(c.lp()?.to_vec())
                }
                0x26 => Prop::Pair(c.lp()?.to_vec(), c.lp()?.to_vec()),
                other => {
                    return Err(ReadError(format!(
                        "unknown property identifier 0x{other:02x}"
                    )))
                }
            };
            out.push((id, v));
        }
        Ok(out)
    }
}

/// Splits a frame into (first byte, body) after checking the remaining length.
fn frame(bytes: &[u8]) -> Result<(u8, Cursor<'_>), ReadError> {
    let mut c = Cursor { b: bytes, at: 0 };
    let first = c.u8()?;
    let len = c.vbi()? as usize;
    let body = c.take(len)?;
    Ok((first, Cursor { b: body, at: 0 }))
}

fn expect_type(first: u8, ty: u8) -> Result<(), ReadError> {
    if first >> 4 == ty {
        Ok(())
    } else {
        Err(ReadError(format!(
            "a {} where a {} was expected",
            type_name(first),
            type_name(ty << 4)
        )))
    }
}

/// Reads a CONNACK of `v5` (properties) or 3.1.1.
pub fn connack(bytes: &[u8], v5: bool) -> Result<Connack, ReadError> {
    let (first, mut c) = frame(bytes)?;
    expect_type(first, 2)?;
    let flags = c.u8()?;
    let code = c.u8()?;
    let properties = if v5 && c.at < c.b.len() {
        c.properties()?
    } else {
        Vec::new()
    };
    Ok(Connack {
        flags,
        code,
        properties,
    })
}

/// An AUTH as read from its bytes (5.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// The first byte (0xF0 unless the sender set reserved flags).
    pub first_byte: u8,
    /// Reason Code (0x00 when the body is empty, as the spec says).
    pub code: u8,
    /// Properties as in [`Connack::properties`].
    pub properties: Vec<(u8, Prop)>,
}

impl Auth {
    /// The string or binary value of property `id`, if present.
    pub fn property_bytes(&self, id: u8) -> Option<&[u8]> {
        self.properties.iter().find_map(|(i, p)| match p {
            Prop::Bytes(v) if *i == id => Some(v.as_slice()),
            _ => None,
        })
    }
}

/// Reads an AUTH.
pub fn auth(bytes: &[u8]) -> Result<Auth, ReadError> {
    let (first, mut c) = frame(bytes)?;
    expect_type(first, 15)?;
    let code = if c.b.is_empty() { 0 } else { c.u8()? };
    let properties = if c.at < c.b.len() {
        c.properties()?
    } else {
        Vec::new()
    };
    Ok(Auth {
        first_byte: first,
        code,
        properties,
    })
}

/// Reads the reason code of a DISCONNECT (0 when the body is empty, as the spec says).
pub fn disconnect_reason(bytes: &[u8]) -> Result<u8, ReadError> {
    let (first, mut c) = frame(bytes)?;
    expect_type(first, 14)?;
    if c.b.is_empty() {
        Ok(0)
    } else {
        c.u8()
    }
}

/// Reads a SUBACK (or UNSUBACK): packet identifier and the codes of its payload.
pub fn suback(bytes: &[u8], v5: bool) -> Result<(u16, Vec<u8>), ReadError> {
    let (_, mut c) = frame(bytes)?;
    let id = c.u16()?;
    if v5 {
        c.properties()?;
    }
    Ok((id, c.rest().to_vec()))
}

/// Reads a PUBACK/PUBREC/PUBREL/PUBCOMP: packet identifier and reason code (0 when absent).
pub fn ack(bytes: &[u8]) -> Result<(u16, u8), ReadError> {
    let (_, mut c) = frame(bytes)?;
    let id = c.u16()?;
    let code = if c.at < c.b.len() { c.u8()? } else { 0 };
    Ok((id, code))
}

/// Reads a PUBLISH.
pub fn publish(bytes: &[u8], v5: bool) -> Result<Publish, ReadError> {
    let (first, mut c) = frame(bytes)?;
    expect_type(first, 3)?;
    let qos = (first >> 1) & 3;
    let topic = c.lp()?.to_vec();
    let packet_id = if qos > 0 { Some(c.u16()?) } else { None };
    let properties = if v5 { c.properties()? } else { Vec::new() };
    Ok(Publish {
        dup: first & 8 != 0,
        qos,
        retain: first & 1 != 0,
        topic,
        packet_id,
        properties,
        payload: c.rest().to_vec(),
    })
}

/// The topic filters of a SUBSCRIBE frame (shared ones as given, `$share/g/f`), read leniently:
/// the filters up to the first entry that does not parse. Not a SUBSCRIBE: empty.
pub fn subscribe_filters(bytes: &[u8], v5: bool) -> Vec<String> {
    let mut out = Vec::new();
    let Ok((first, mut c)) = frame(bytes) else {
        return out;
    };
    if first >> 4 != 8 || c.u16().is_err() {
        return out;
    }
    if v5 {
        let Ok(n) = c.vbi() else { return out };
        if c.take(n as usize).is_err() {
            return out;
        }
    }
    while let Ok(f) = c.lp() {
        out.push(String::from_utf8_lossy(f).into_owned());
        if c.u8().is_err() {
            break;
        }
    }
    out
}

/// Whether a topic name matches filter `filter` by the 4.7 rules; a shared subscription
/// (`$share/<group>/<filter>`) matches as its inner filter.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let inner = filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/').map(|(_, f)| f))
        .unwrap_or(filter);
    mqttref_core::topic::matches(inner, topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_v5_connack_with_properties() {
        // CONNACK, session present 0, success, props: Receive Maximum 20, Retain Available 0,
        // Assigned Client Identifier "ab".
        let b = [
            0x20, 0x0c, 0x00, 0x00, 0x0a, 0x21, 0x00, 0x14, 0x25, 0x00, 0x12, 0x00, 0x02, b'a',
            b'b',
        ];
        let mut b = b.to_vec();
        b[1] = (b.len() - 2) as u8;
        let c = connack(&b, true).unwrap();
        assert_eq!(c.code, 0);
        assert!(!c.session_present());
        assert_eq!(c.property(0x21), Some(20));
        assert_eq!(c.property(0x25), Some(0));
        assert_eq!(c.property_bytes(0x12), Some(&b"ab"[..]));
    }

    #[test]
    fn reads_v311_frames() {
        assert_eq!(connack(&[0x20, 0x02, 0x01, 0x05], false).unwrap().code, 5);
        assert_eq!(
            suback(&[0x90, 0x03, 0x00, 0x07, 0x01], false).unwrap(),
            (7, vec![1])
        );
        let p = publish(
            &[0x33, 0x07, 0x00, 0x01, b't', 0x00, 0x05, b'h', b'i'],
            false,
        )
        .unwrap();
        assert_eq!((p.qos, p.retain, p.packet_id), (1, true, Some(5)));
        assert_eq!(p.payload, b"hi");
        assert!(connack(&[0xd0, 0x00], false)
            .unwrap_err()
            .0
            .contains("PINGRESP"));
        assert_eq!(disconnect_reason(&[0xe0, 0x00]).unwrap(), 0);
        assert_eq!(disconnect_reason(&[0xe0, 0x01, 0x82]).unwrap(), 0x82);
    }

    #[test]
    fn subscribe_filters_and_matching() {
        let v5 = raw_client::build::Subscribe::new(raw_client::ProtocolVersion::V5, 7)
            .filter("a/+", 1)
            .filter("$share/g/b/#", 0)
            .build();
        assert_eq!(subscribe_filters(&v5, true), ["a/+", "$share/g/b/#"]);
        let v311 = raw_client::build::Subscribe::new(raw_client::ProtocolVersion::V3_1_1, 7)
            .filter("#", 0)
            .build();
        assert_eq!(subscribe_filters(&v311, false), ["#"]);
        assert!(subscribe_filters(&[0xc0, 0], false).is_empty());
        assert!(topic_matches("$share/g/b/#", "b/c"));
        assert!(topic_matches("a/+", "a/x"));
        assert!(!topic_matches("#", "$SYS/x"));
    }

    #[test]
    fn vbi_and_props() {
        assert_eq!(read_vbi(&[0x00], 0), Ok((0, 1, true)));
        assert_eq!(read_vbi(&[0x80, 0x00], 0), Ok((0, 2, false)));
        assert_eq!(read_vbi(&[0xc8, 0x01], 0), Ok((200, 2, true)));
        assert_eq!(
            prop_ids(&[0x1f, 0x00, 0x01, b'x', 0x26, 0, 1, b'a', 0, 0, 0x21, 0, 5]),
            Ok(vec![0x1f, 0x26, 0x21])
        );
        // PUBACK id 1, reason 0x10, properties: reason string "r".
        assert_eq!(
            ack_prop_ids(&[0x40, 0x08, 0, 1, 0x10, 4, 0x1f, 0, 1, b'r'], true),
            Ok(vec![0x1f])
        );
        assert_eq!(ack_prop_ids(&[0x40, 0x02, 0, 1], true), Ok(vec![]));
    }
}
