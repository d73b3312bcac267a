//! The `sub -F` output format, a subset of `mosquitto_sub`'s.
//!
//! `%` sequences: `%%` a literal `%`; `%t` topic; `%p` payload (raw bytes); `%q` QoS; `%r` retain
//! flag (0/1); `%l` payload length; `%m` message id (packet identifier, 0 for QoS 0); `%x` / `%X`
//! payload as lower / upper case hex; `%C` content type; `%D` correlation data; `%E` message
//! expiry interval; `%F` payload format indicator; `%R` response topic; `%S` subscription
//! identifiers; `%P` user properties as `key:value` separated by spaces; `%U` Unix time with
//! nanoseconds (`seconds.nanoseconds`); `%I` ISO-8601 time (UTC). `\` escapes: `\\`, `\0`, `\a`,
//! `\e`, `\n`, `\r`, `\t`, `\v`. Mosquitto's field widths, `@` strftime sequences and the JSON
//! formats are not supported; an unknown sequence is printed as is.

use std::time::{SystemTime, UNIX_EPOCH};

use mqttref_client::Message;

/// Formats `m` by `format`, appending to `out`. `now` is the wall-clock time for `%U` / `%I`.
pub fn render(format: &str, m: &Message, now: SystemTime, out: &mut Vec<u8>) {
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '%' => match chars.next() {
                Some('%') => out.push(b'%'),
                Some('t') => out.extend_from_slice(m.topic.as_bytes()),
                Some('p') => out.extend_from_slice(&m.payload),
                Some('q') => out.extend_from_slice(m.qos.as_u8().to_string().as_bytes()),
                Some('r') => out.push(if m.retain { b'1' } else { b'0' }),
                Some('l') => out.extend_from_slice(m.payload.len().to_string().as_bytes()),
                Some('m') => out.extend_from_slice(m.packet_id.unwrap_or(0).to_string().as_bytes()),
                Some('x') => out.extend(
                    m.payload
                        .iter()
                        .flat_map(|b| format!("{b:02x}").into_bytes()),
                ),
                Some('X') => out.extend(
                    m.payload
                        .iter()
                        .flat_map(|b| format!("{b:02X}").into_bytes()),
                ),
                Some('C') => out.extend_from_slice(
                    m.properties
                        .content_type
                        .as_deref()
                        .unwrap_or("")
                        .as_bytes(),
                ),
                Some('D') => {
                    out.extend_from_slice(m.properties.correlation_data.as_deref().unwrap_or(&[]))
                }
                Some('E') => {
                    if let Some(e) = m.properties.message_expiry_interval {
                        out.extend_from_slice(e.to_string().as_bytes());
                    }
                }
                Some('F') => {
                    if let Some(f) = m.properties.payload_format_indicator {
                        out.extend_from_slice(f.to_string().as_bytes());
                    }
                }
                Some('R') => out.extend_from_slice(
                    m.properties
                        .response_topic
                        .as_deref()
                        .unwrap_or("")
                        .as_bytes(),
                ),
                Some('S') => {
                    let ids: Vec<String> = m
                        .properties
                        .subscription_identifiers
                        .iter()
                        .map(u32::to_string)
                        .collect();
                    out.extend_from_slice(ids.join(",").as_bytes());
                }
                Some('P') => {
                    let kv: Vec<String> = m
                        .properties
                        .user_properties
                        .iter()
                        .map(|(k, v)| format!("{k}:{v}"))
                        .collect();
                    out.extend_from_slice(kv.join(" ").as_bytes());
                }
                Some('U') => {
                    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
                    out.extend_from_slice(
                        format!("{}.{:09}", d.as_secs(), d.subsec_nanos()).as_bytes(),
                    );
                }
                Some('I') => out.extend_from_slice(iso8601(now).as_bytes()),
                Some(other) => {
                    out.push(b'%');
                    let mut b = [0u8; 4];
                    out.extend_from_slice(other.encode_utf8(&mut b).as_bytes());
                }
                None => out.push(b'%'),
            },
            '\\' => match chars.next() {
                Some('\\') => out.push(b'\\'),
                Some('0') => out.push(0),
                Some('a') => out.push(0x07),
                Some('e') => out.push(0x1b),
                Some('n') => out.push(b'\n'),
                Some('r') => out.push(b'\r'),
                Some('t') => out.push(b'\t'),
                Some('v') => out.push(0x0b),
                Some(other) => {
                    out.push(b'\\');
                    let mut b = [0u8; 4];
                    out.extend_from_slice(other.encode_utf8(&mut b).as_bytes());
                }
                None => out.push(b'\\'),
            },
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC.
fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 to (year, month, day) — Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mqttref_client::{PublishProperties, QoS};

    use super::*;

    fn msg() -> Message {
        Message {
            topic: "a/b".into(),
            payload: b"hi".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
            dup: false,
            packet_id: Some(7),
            properties: PublishProperties {
                user_properties: vec![("k".into(), "v".into())],
                content_type: Some("text/plain".into()),
                ..PublishProperties::default()
            },
        }
    }

    fn fmt(f: &str) -> String {
        let mut out = Vec::new();
        render(
            f,
            &msg(),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            &mut out,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn message_fields() {
        assert_eq!(fmt("%t %p %q %r %l %m %%"), "a/b hi 1 1 2 7 %");
        assert_eq!(fmt("%x|%X|%C|%P"), "6869|6869|text/plain|k:v");
        assert_eq!(fmt("[%t]\\t%p\\n"), "[a/b]\thi\n");
        assert_eq!(fmt("%Z %"), "%Z %");
    }

    #[test]
    fn times() {
        assert_eq!(fmt("%I"), "2023-11-14T22:13:20.000000Z");
        assert_eq!(fmt("%U"), "1700000000.000000000");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
