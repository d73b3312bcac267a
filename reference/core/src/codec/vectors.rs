//! The codec's test vectors, shared by the host tests and the embedded runner
//! (`reference/core-embedded-tests`, `cargo xtask qemu`): the golden packets of every packet
//! module (their bytes, byte-annotated; each module's own test also checks the decoded value)
//! and the malformed inputs with the exact error and reason code each must give.
//!
//! The checks return a [`Mismatch`] instead of panicking, so a runner without unwinding can
//! count failures and go on. They need no `alloc`.

use super::*;
use crate::topic::TopicError;
use core::fmt;

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;
const BOTH: [ProtocolVersion; 2] = [V3, V5];

const fn malformed(m: Malformed) -> DecodeError {
    DecodeError::Malformed(m)
}

const fn protocol(p: ProtocolViolation) -> DecodeError {
    DecodeError::Protocol(p)
}

/// A packet's canonical encoding in one protocol version.
#[derive(Debug, Clone, Copy)]
pub struct Golden {
    /// The packet module and test that own the bytes.
    pub name: &'static str,
    /// The version the bytes are decoded and encoded in.
    pub version: ProtocolVersion,
    /// The exact bytes: decoding them and encoding the result gives them back.
    pub bytes: &'static [u8],
}

/// An input that must fail to decode with one error and one reason code.
#[derive(Debug, Clone, Copy)]
pub struct MalformedCase {
    /// The host test it came from (`#2`, `#3` for its later cases).
    pub name: &'static str,
    /// The input.
    pub bytes: &'static [u8],
    /// Every version it is checked in.
    pub versions: &'static [ProtocolVersion],
    /// The error decoding must give.
    pub error: DecodeError,
    /// The reason code that error maps to.
    pub reason: ReasonCode,
}

/// What a check found wrong, and in which version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// The version being checked.
    pub version: ProtocolVersion,
    /// What differed from the expectation.
    pub what: &'static str,
    /// The error decoding or encoding gave instead, if any.
    pub got: Option<DecodeError>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.version, self.what)?;
        if let Some(got) = self.got {
            write!(f, " (got {got:?})")?;
        }
        Ok(())
    }
}

/// Decodes `case.bytes` to one complete packet that encodes back to the same bytes (with the
/// same `encoded_len`), and checks that every strict prefix is `Incomplete`.
pub fn check_golden(case: &Golden) -> Result<(), Mismatch> {
    let version = case.version;
    let bytes = case.bytes;
    let fail = |what, got| Mismatch { version, what, got };
    let packet = match decode(bytes, version, u32::MAX) {
        Ok(Decoded::Complete { value, consumed }) if consumed == bytes.len() => value,
        Ok(_) => return Err(fail("not exactly one complete packet", None)),
        Err(e) => return Err(fail("golden bytes do not decode", Some(e))),
    };
    if packet.encoded_len(version) != Ok(bytes.len()) {
        return Err(fail("encoded_len differs from the golden length", None));
    }
    let mut out = [0u8; 1024];
    match packet.encode(version, &mut out) {
        Ok(n) if out.get(..n) == Some(bytes) => {}
        Ok(_) => return Err(fail("re-encoding differs from the golden bytes", None)),
        Err(_) => return Err(fail("the decoded packet does not encode", None)),
    }
    for cut in 0..bytes.len() {
        match decode(&bytes[..cut], version, u32::MAX) {
            Ok(Decoded::Incomplete(n)) if n >= 1 && n <= bytes.len() - cut => {}
            Ok(Decoded::Incomplete(_)) => {
                return Err(fail("a prefix asks for a wrong number of bytes", None))
            }
            Ok(Decoded::Complete { .. }) => return Err(fail("a prefix decodes", None)),
            Err(e) => return Err(fail("a prefix is an error, not Incomplete", Some(e))),
        }
    }
    Ok(())
}

/// Decoding `case.bytes` in each of its versions gives exactly `case.error`, which maps to
/// `case.reason`.
pub fn check_malformed(case: &MalformedCase) -> Result<(), Mismatch> {
    for &version in case.versions {
        let fail = |what, got| Mismatch { version, what, got };
        match decode(case.bytes, version, u32::MAX) {
            Ok(_) => return Err(fail("decoded without an error", None)),
            Err(e) if e != case.error => return Err(fail("a different error", Some(e))),
            Err(e) if e.reason_code() != case.reason || ReasonCode::from(e) != case.reason => {
                return Err(fail("the error maps to a different reason code", Some(e)))
            }
            Err(_) => {}
        }
    }
    Ok(())
}

// ---- Golden packets: each constant is used by the packet module's test of the same name ----

/// The bytes of the packet module's golden test of this name.
pub const AUTH_GOLDEN_V5: &[u8] = &[
    0xF0, // AUTH (15 << 4), flags 0 [MQTT-3.15.1-1]
    0x0B, // Remaining Length 11
    0x18, // Continue authentication
    0x09, // Property Length 9
    0x15, 0x00, 0x01, b'm', // Authentication Method "m"
    0x16, 0x00, 0x02, 0x01, 0x02, // Authentication Data 01 02
];
/// The bytes of the packet module's golden test of this name.
pub const CONNACK_GOLDEN_V311_ACCEPTED_SESSION_PRESENT: &[u8] = &[
    0x20, // CONNACK (2 << 4)
    0x02, // Remaining Length 2
    0x01, // Acknowledge Flags: Session Present
    0x00, // Return Code 0 (accepted)
];
/// The bytes of the packet module's golden test of this name.
pub const CONNACK_GOLDEN_V5_WITH_PROPERTIES: &[u8] = &[
    0x20, // CONNACK
    0x11, // Remaining Length 17
    0x00, // Acknowledge Flags: no Session Present
    0x00, // Reason Code Success
    0x0E, // Property Length 14
    0x24, 0x01, // Maximum QoS 1
    0x12, 0x00, 0x02, b'i', b'd', // Assigned Client Identifier "id"
    0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property ("k", "v")
];
/// The bytes of the packet module's golden test of this name.
pub const CONNACK_GOLDEN_V5_REFUSED: &[u8] = &[
    0x20, // CONNACK
    0x03, // Remaining Length 3
    0x00, // no Session Present
    0x84, // Reason Code Unsupported Protocol Version
    0x00, // Property Length 0
];
/// The bytes of the packet module's golden test of this name.
pub const CONNECT_GOLDEN_V311_MINIMAL: &[u8] = &[
    0x10, // CONNECT (1 << 4), flags 0
    0x0E, // Remaining Length 14
    0x00, 0x04, b'M', b'Q', b'T', b'T', // Protocol Name "MQTT"
    0x04, // Protocol Level 4 (3.1.1)
    0x02, // Connect Flags: Clean Session
    0x00, 0x3C, // Keep Alive 60
    0x00, 0x02, b'c', b'1', // Client Identifier "c1"
];
/// The bytes of the packet module's golden test of this name.
pub const CONNECT_GOLDEN_V311_FULL: &[u8] = &[
    0x10, // CONNECT
    0x1D, // Remaining Length 29
    0x00, 0x04, b'M', b'Q', b'T', b'T', // Protocol Name
    0x04, // Protocol Level 4
    0xF4, // Flags: User Name, Password, Will Retain, Will QoS 2 (0b10 << 3), Will; Clean 0
    0x00, 0x0A, // Keep Alive 10
    0x00, 0x01, b'c', // Client Identifier "c"
    0x00, 0x03, b'w', b'/', b't', // Will Topic "w/t"
    0x00, 0x02, b'b', b'y', // Will Payload "by"
    0x00, 0x01, b'u', // User Name "u"
    0x00, 0x02, 0xFF, 0x00, // Password (binary) FF 00
];
/// The bytes of the packet module's golden test of this name.
pub const CONNECT_GOLDEN_V5_WITH_PROPERTIES_AND_WILL: &[u8] = &[
    0x10, // CONNECT
    0x23, // Remaining Length 35
    0x00, 0x04, b'M', b'Q', b'T', b'T', // Protocol Name
    0x05, // Protocol Level 5
    0x4E, // Flags: Password, Will QoS 1 (0b01 << 3), Will, Clean Start; no User Name (allowed in 5.0)
    0x00, 0x00, // Keep Alive 0
    0x08, // Property Length 8
    0x11, 0x00, 0x00, 0x00, 0x78, // Session Expiry Interval 120
    0x21, 0x00, 0x14, // Receive Maximum 20
    0x00, 0x00, // Client Identifier "" (empty)
    0x05, // Will Property Length 5
    0x18, 0x00, 0x00, 0x00, 0x05, // Will Delay Interval 5
    0x00, 0x01, b'w', // Will Topic "w"
    0x00, 0x00, // Will Payload (empty)
    0x00, 0x01, b'p', // Password "p"
];
/// The bytes of the packet module's golden test of this name.
pub const DISCONNECT_GOLDEN_V311: &[u8] = &[
    0xE0, // DISCONNECT (14 << 4), flags 0 [MQTT-3.14.1-1] (3.1.1)
    0x00, // Remaining Length 0
];
/// The bytes of the packet module's golden test of this name.
pub const DISCONNECT_GOLDEN_V5_FORMS: &[u8] = &[
    0xE0, // DISCONNECT
    0x01, // Remaining Length 1: Reason Code only, no Property Length
    0x04, // Disconnect with Will Message
];
/// The bytes of the packet module's golden test of this name.
pub const DISCONNECT_GOLDEN_V5_FORMS_2: &[u8] = &[
    0xE0, // DISCONNECT
    0x07, // Remaining Length 7
    0x00, // Normal disconnection
    0x05, // Property Length 5
    0x11, 0x00, 0x00, 0x00, 0x00, // Session Expiry Interval 0
];
/// The bytes of the packet module's golden test of this name.
pub const PINGREQ_GOLDEN_BOTH_VERSIONS: &[u8] = &[
    0xC0, // PINGREQ, flags 0
    0x00, // Remaining Length 0
];
/// The bytes of the packet module's golden test of this name.
pub const PINGRESP_GOLDEN_BOTH_VERSIONS: &[u8] = &[
    0xD0, // PINGRESP, flags 0
    0x00, // Remaining Length 0
];
/// The bytes of the packet module's golden test of this name.
pub const PUBACK_GOLDEN_V311: &[u8] = &[
    0x40, // PUBACK (PubAck type << 4, flags 0)
    0x02, // Remaining Length 2
    0x00, 0x07, // Packet Identifier 7
];
/// The bytes of the packet module's golden test of this name.
pub const PUBACK_GOLDEN_V5_SHORT_FORM_SUCCESS: &[u8] = &[
    0x40, // PUBACK
    0x02, // Remaining Length 2: Reason Code Success and no properties are left out
    0x00, 0x07, // Packet Identifier 7
];
/// The bytes of the packet module's golden test of this name.
pub const PUBACK_GOLDEN_V5_REASON_CODE_ONLY: &[u8] = &[
    0x40, // PUBACK
    0x03, // Remaining Length 3: no Property Length
    0x00, 0x07, // Packet Identifier 7
    0x10, // Reason Code NoMatchingSubscribers
];
/// The bytes of the packet module's golden test of this name.
pub const PUBACK_GOLDEN_V5_WITH_REASON_STRING: &[u8] = &[
    0x40, // PUBACK
    0x09, // Remaining Length 9
    0x00, 0x07, // Packet Identifier 7
    0x00, // Reason Code Success
    0x05, // Property Length 5
    0x1F, 0x00, 0x02, b'n', b'o', // Reason String "no"
];
/// The bytes of the packet module's golden test of this name.
pub const PUBCOMP_GOLDEN_V311: &[u8] = &[
    0x70, // PUBCOMP (PubComp type << 4, flags 0)
    0x02, // Remaining Length 2
    0x00, 0x07, // Packet Identifier 7
];
/// The bytes of the packet module's golden test of this name.
pub const PUBCOMP_GOLDEN_V5_SHORT_FORM_SUCCESS: &[u8] = &[
    0x70, // PUBCOMP
    0x02, // Remaining Length 2: Reason Code Success and no properties are left out
    0x00, 0x07, // Packet Identifier 7
];
/// The bytes of the packet module's golden test of this name.
pub const PUBCOMP_GOLDEN_V5_REASON_CODE_ONLY: &[u8] = &[
    0x70, // PUBCOMP
    0x03, // Remaining Length 3: no Property Length
    0x00, 0x07, // Packet Identifier 7
    0x92, // Reason Code PacketIdentifierNotFound
];
/// The bytes of the packet module's golden test of this name.
pub const PUBCOMP_GOLDEN_V5_WITH_REASON_STRING: &[u8] = &[
    0x70, // PUBCOMP
    0x09, // Remaining Length 9
    0x00, 0x07, // Packet Identifier 7
    0x00, // Reason Code Success
    0x05, // Property Length 5
    0x1F, 0x00, 0x02, b'n', b'o', // Reason String "no"
];
/// The bytes of the packet module's golden test of this name.
pub const PUBLISH_GOLDEN_V311_QOS1: &[u8] = &[
    0x32, // PUBLISH (3 << 4), DUP 0, QoS 1 (0b01 << 1), RETAIN 0
    0x09, // Remaining Length 9
    0x00, 0x03, b'a', b'/', b'b', // Topic Name "a/b"
    0x00, 0x0A, // Packet Identifier 10
    b'h', b'i', // Payload "hi"
];
/// The bytes of the packet module's golden test of this name.
pub const PUBLISH_GOLDEN_V311_QOS0_RETAIN_EMPTY_PAYLOAD: &[u8] = &[
    0x31, // PUBLISH, QoS 0, RETAIN 1
    0x03, // Remaining Length 3
    0x00, 0x01, b't', // Topic Name "t"; no Packet Identifier with QoS 0
];
/// The bytes of the packet module's golden test of this name.
pub const PUBLISH_GOLDEN_V5_QOS2_DUP_WITH_PROPERTIES: &[u8] = &[
    0x3C, // PUBLISH, DUP 1, QoS 2 (0b10 << 1), RETAIN 0
    0x14, // Remaining Length 20
    0x00, 0x03, b'a', b'/', b'b', // Topic Name "a/b"
    0x12, 0x34, // Packet Identifier 0x1234
    0x0A, // Property Length 10
    0x01, 0x01, // Payload Format Indicator = 1 (UTF-8)
    0x23, 0x00, 0x05, // Topic Alias = 5
    0x0B, 0xC8, 0x01, // Subscription Identifier = 200 (VBI 0xC8 0x01)
    0x0B, 0x03, // Subscription Identifier = 3 (may repeat in PUBLISH)
    b'h', b'i', // Payload "hi"
];
/// The bytes of the packet module's golden test of this name.
pub const PUBLISH_GOLDEN_V5_EMPTY_TOPIC_WITH_ALIAS: &[u8] = &[
    0x30, // PUBLISH, QoS 0
    0x07, // Remaining Length 7
    0x00, 0x00, // Topic Name "" (allowed with a Topic Alias)
    0x03, // Property Length 3
    0x23, 0x00, 0x01, // Topic Alias = 1
    b'x', // Payload
];
/// The bytes of the packet module's golden test of this name.
pub const PUBREC_GOLDEN_V311: &[u8] = &[
    0x50, // PUBREC (PubRec type << 4, flags 0)
    0x02, // Remaining Length 2
    0x00, 0x07, // Packet Identifier 7
];
/// The bytes of the packet module's golden test of this name.
pub const PUBREC_GOLDEN_V5_SHORT_FORM_SUCCESS: &[u8] = &[
    0x50, // PUBREC
    0x02, // Remaining Length 2: Reason Code Success and no properties are left out
    0x00, 0x07, // Packet Identifier 7
];
/// The bytes of the packet module's golden test of this name.
pub const PUBREC_GOLDEN_V5_REASON_CODE_ONLY: &[u8] = &[
    0x50, // PUBREC
    0x03, // Remaining Length 3: no Property Length
    0x00, 0x07, // Packet Identifier 7
    0x10, // Reason Code NoMatchingSubscribers
];
/// The bytes of the packet module's golden test of this name.
pub const PUBREC_GOLDEN_V5_WITH_REASON_STRING: &[u8] = &[
    0x50, // PUBREC
    0x09, // Remaining Length 9
    0x00, 0x07, // Packet Identifier 7
    0x00, // Reason Code Success
    0x05, // Property Length 5
    0x1F, 0x00, 0x02, b'n', b'o', // Reason String "no"
];
/// The bytes of the packet module's golden test of this name.
pub const PUBREL_GOLDEN_V311: &[u8] = &[
    0x62, // PUBREL (PubRel type << 4, flags 0b0010 [MQTT-3.6.1-1] (both))
    0x02, // Remaining Length 2
    0x00, 0x07, // Packet Identifier 7
];
/// The bytes of the packet module's golden test of this name.
pub const PUBREL_GOLDEN_V5_SHORT_FORM_SUCCESS: &[u8] = &[
    0x62, // PUBREL
    0x02, // Remaining Length 2: Reason Code Success and no properties are left out
    0x00, 0x07, // Packet Identifier 7
];
/// The bytes of the packet module's golden test of this name.
pub const PUBREL_GOLDEN_V5_REASON_CODE_ONLY: &[u8] = &[
    0x62, // PUBREL
    0x03, // Remaining Length 3: no Property Length
    0x00, 0x07, // Packet Identifier 7
    0x92, // Reason Code PacketIdentifierNotFound
];
/// The bytes of the packet module's golden test of this name.
pub const PUBREL_GOLDEN_V5_WITH_REASON_STRING: &[u8] = &[
    0x62, // PUBREL
    0x09, // Remaining Length 9
    0x00, 0x07, // Packet Identifier 7
    0x00, // Reason Code Success
    0x05, // Property Length 5
    0x1F, 0x00, 0x02, b'n', b'o', // Reason String "no"
];
/// The bytes of the packet module's golden test of this name.
pub const SUBACK_GOLDEN_V311: &[u8] = &[
    0x90, // SUBACK (9 << 4)
    0x05, // Remaining Length 5
    0x00, 0x01, // Packet Identifier 1
    0x00, // Return Code: Success - Maximum QoS 0
    0x02, // Return Code: Success - Maximum QoS 2
    0x80, // Return Code: Failure
];
/// The bytes of the packet module's golden test of this name.
pub const SUBACK_GOLDEN_V5: &[u8] = &[
    0x90, // SUBACK
    0x09, // Remaining Length 9
    0x00, 0x02, // Packet Identifier 2
    0x04, // Property Length 4
    0x1F, 0x00, 0x01, b'x', // Reason String "x"
    0x01, // Granted QoS 1
    0x9E, // Shared Subscriptions not supported
];
/// The bytes of the packet module's golden test of this name.
pub const SUBSCRIBE_GOLDEN_V311: &[u8] = &[
    0x82, // SUBSCRIBE (8 << 4), flags 0b0010 [MQTT-3.8.1-1] (both)
    0x0C, // Remaining Length 12
    0x00, 0x01, // Packet Identifier 1
    0x00, 0x03, b'a', b'/', b'+', // Topic Filter "a/+"
    0x01, // Requested QoS 1
    0x00, 0x01, b'#', // Topic Filter "#"
    0x02, // Requested QoS 2
];
/// The bytes of the packet module's golden test of this name.
pub const SUBSCRIBE_GOLDEN_V5_OPTIONS_AND_SUBSCRIPTION_IDENTIFIER: &[u8] = &[
    0x82, // SUBSCRIBE, flags 0b0010
    0x13, // Remaining Length 19
    0x00, 0x02, // Packet Identifier 2
    0x03, // Property Length 3
    0x0B, 0x80, 0x01, // Subscription Identifier 128 (VBI 0x80 0x01)
    0x00, 0x0A, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/', b't', // "$share/g/t"
    0x29, // Options: Retain Handling 2 (0b10 << 4), RAP 1 (bit 3), NL 0, QoS 1
];
/// The bytes of the packet module's golden test of this name.
pub const UNSUBACK_GOLDEN_V311: &[u8] = &[
    0xB0, // UNSUBACK (11 << 4)
    0x02, // Remaining Length 2
    0x00, 0x03, // Packet Identifier 3
];
/// The bytes of the packet module's golden test of this name.
pub const UNSUBACK_GOLDEN_V5: &[u8] = &[
    0xB0, // UNSUBACK
    0x05, // Remaining Length 5
    0x00, 0x03, // Packet Identifier 3
    0x00, // Property Length 0
    0x00, // Success
    0x11, // No subscription existed
];
/// The bytes of the packet module's golden test of this name.
pub const UNSUBSCRIBE_GOLDEN_V311: &[u8] = &[
    0xA2, // UNSUBSCRIBE (10 << 4), flags 0b0010 [MQTT-3.10.1-1] (both)
    0x0A, // Remaining Length 10
    0x00, 0x03, // Packet Identifier 3
    0x00, 0x03, b'a', b'/', b'#', // Topic Filter "a/#"
    0x00, 0x01, b'b', // Topic Filter "b"
];
/// The bytes of the packet module's golden test of this name.
pub const UNSUBSCRIBE_GOLDEN_V5: &[u8] = &[
    0xA2, // UNSUBSCRIBE
    0x0D, // Remaining Length 13
    0x00, 0x03, // Packet Identifier 3
    0x07, // Property Length 7
    0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b', // User Property ("a", "b")
    0x00, 0x01, b't', // Topic Filter "t"
];

/// Every golden packet, in the version its module checks it in.
pub const GOLDEN: &[Golden] = &[
    Golden {
        name: "auth::golden_v5",
        version: V5,
        bytes: AUTH_GOLDEN_V5,
    },
    Golden {
        name: "connack::golden_v311_accepted_session_present",
        version: V3,
        bytes: CONNACK_GOLDEN_V311_ACCEPTED_SESSION_PRESENT,
    },
    Golden {
        name: "connack::golden_v5_with_properties",
        version: V5,
        bytes: CONNACK_GOLDEN_V5_WITH_PROPERTIES,
    },
    Golden {
        name: "connack::golden_v5_refused",
        version: V5,
        bytes: CONNACK_GOLDEN_V5_REFUSED,
    },
    Golden {
        name: "connect::golden_v311_minimal",
        version: V3,
        bytes: CONNECT_GOLDEN_V311_MINIMAL,
    },
    Golden {
        name: "connect::golden_v311_full",
        version: V3,
        bytes: CONNECT_GOLDEN_V311_FULL,
    },
    Golden {
        name: "connect::golden_v5_with_properties_and_will",
        version: V5,
        bytes: CONNECT_GOLDEN_V5_WITH_PROPERTIES_AND_WILL,
    },
    Golden {
        name: "connect::golden_v5_with_properties_and_will",
        version: V3,
        bytes: CONNECT_GOLDEN_V5_WITH_PROPERTIES_AND_WILL,
    },
    Golden {
        name: "disconnect::golden_v311",
        version: V3,
        bytes: DISCONNECT_GOLDEN_V311,
    },
    Golden {
        name: "disconnect::golden_v5_forms",
        version: V5,
        bytes: DISCONNECT_GOLDEN_V5_FORMS,
    },
    Golden {
        name: "disconnect::golden_v5_forms",
        version: V5,
        bytes: DISCONNECT_GOLDEN_V5_FORMS,
    },
    Golden {
        name: "disconnect::golden_v5_forms",
        version: V5,
        bytes: DISCONNECT_GOLDEN_V5_FORMS_2,
    },
    Golden {
        name: "pingreq::golden_both_versions",
        version: V3,
        bytes: PINGREQ_GOLDEN_BOTH_VERSIONS,
    },
    Golden {
        name: "pingreq::golden_both_versions",
        version: V5,
        bytes: PINGREQ_GOLDEN_BOTH_VERSIONS,
    },
    Golden {
        name: "pingresp::golden_both_versions",
        version: V3,
        bytes: PINGRESP_GOLDEN_BOTH_VERSIONS,
    },
    Golden {
        name: "pingresp::golden_both_versions",
        version: V5,
        bytes: PINGRESP_GOLDEN_BOTH_VERSIONS,
    },
    Golden {
        name: "puback::golden_v311",
        version: V3,
        bytes: PUBACK_GOLDEN_V311,
    },
    Golden {
        name: "puback::golden_v5_short_form_success",
        version: V5,
        bytes: PUBACK_GOLDEN_V5_SHORT_FORM_SUCCESS,
    },
    Golden {
        name: "puback::golden_v5_reason_code_only",
        version: V5,
        bytes: PUBACK_GOLDEN_V5_REASON_CODE_ONLY,
    },
    Golden {
        name: "puback::golden_v5_with_reason_string",
        version: V5,
        bytes: PUBACK_GOLDEN_V5_WITH_REASON_STRING,
    },
    Golden {
        name: "pubcomp::golden_v311",
        version: V3,
        bytes: PUBCOMP_GOLDEN_V311,
    },
    Golden {
        name: "pubcomp::golden_v5_short_form_success",
        version: V5,
        bytes: PUBCOMP_GOLDEN_V5_SHORT_FORM_SUCCESS,
    },
    Golden {
        name: "pubcomp::golden_v5_reason_code_only",
        version: V5,
        bytes: PUBCOMP_GOLDEN_V5_REASON_CODE_ONLY,
    },
    Golden {
        name: "pubcomp::golden_v5_with_reason_string",
        version: V5,
        bytes: PUBCOMP_GOLDEN_V5_WITH_REASON_STRING,
    },
    Golden {
        name: "publish::golden_v311_qos1",
        version: V3,
        bytes: PUBLISH_GOLDEN_V311_QOS1,
    },
    Golden {
        name: "publish::golden_v311_qos0_retain_empty_payload",
        version: V3,
        bytes: PUBLISH_GOLDEN_V311_QOS0_RETAIN_EMPTY_PAYLOAD,
    },
    Golden {
        name: "publish::golden_v5_qos2_dup_with_properties",
        version: V5,
        bytes: PUBLISH_GOLDEN_V5_QOS2_DUP_WITH_PROPERTIES,
    },
    Golden {
        name: "publish::golden_v5_empty_topic_with_alias",
        version: V5,
        bytes: PUBLISH_GOLDEN_V5_EMPTY_TOPIC_WITH_ALIAS,
    },
    Golden {
        name: "pubrec::golden_v311",
        version: V3,
        bytes: PUBREC_GOLDEN_V311,
    },
    Golden {
        name: "pubrec::golden_v5_short_form_success",
        version: V5,
        bytes: PUBREC_GOLDEN_V5_SHORT_FORM_SUCCESS,
    },
    Golden {
        name: "pubrec::golden_v5_reason_code_only",
        version: V5,
        bytes: PUBREC_GOLDEN_V5_REASON_CODE_ONLY,
    },
    Golden {
        name: "pubrec::golden_v5_with_reason_string",
        version: V5,
        bytes: PUBREC_GOLDEN_V5_WITH_REASON_STRING,
    },
    Golden {
        name: "pubrel::golden_v311",
        version: V3,
        bytes: PUBREL_GOLDEN_V311,
    },
    Golden {
        name: "pubrel::golden_v5_short_form_success",
        version: V5,
        bytes: PUBREL_GOLDEN_V5_SHORT_FORM_SUCCESS,
    },
    Golden {
        name: "pubrel::golden_v5_reason_code_only",
        version: V5,
        bytes: PUBREL_GOLDEN_V5_REASON_CODE_ONLY,
    },
    Golden {
        name: "pubrel::golden_v5_with_reason_string",
        version: V5,
        bytes: PUBREL_GOLDEN_V5_WITH_REASON_STRING,
    },
    Golden {
        name: "suback::golden_v311",
        version: V3,
        bytes: SUBACK_GOLDEN_V311,
    },
    Golden {
        name: "suback::golden_v5",
        version: V5,
        bytes: SUBACK_GOLDEN_V5,
    },
    Golden {
        name: "subscribe::golden_v311",
        version: V3,
        bytes: SUBSCRIBE_GOLDEN_V311,
    },
    Golden {
        name: "subscribe::golden_v5_options_and_subscription_identifier",
        version: V5,
        bytes: SUBSCRIBE_GOLDEN_V5_OPTIONS_AND_SUBSCRIPTION_IDENTIFIER,
    },
    Golden {
        name: "unsuback::golden_v311",
        version: V3,
        bytes: UNSUBACK_GOLDEN_V311,
    },
    Golden {
        name: "unsuback::golden_v5",
        version: V5,
        bytes: UNSUBACK_GOLDEN_V5,
    },
    Golden {
        name: "unsubscribe::golden_v311",
        version: V3,
        bytes: UNSUBSCRIBE_GOLDEN_V311,
    },
    Golden {
        name: "unsubscribe::golden_v5",
        version: V5,
        bytes: UNSUBSCRIBE_GOLDEN_V5,
    },
];

// ---- Malformed input: each names the statement it checks, like the tests it came from ----

/// Every malformed-input case with its error and reason code.
pub const MALFORMED: &[MalformedCase] = &[
    // Remaining Length 0 encoded in two bytes (0x80 0x00).
    MalformedCase {
        name: "mqtt_1_5_5_1_non_minimal_remaining_length",
        bytes: &[0xC0, 0x80, 0x00],
        versions: &BOTH,
        error: malformed(Malformed::VarIntNonMinimal),
        reason: ReasonCode::MalformedPacket,
    },
    // 127 in three bytes.
    MalformedCase {
        name: "mqtt_1_5_5_1_non_minimal_remaining_length#2",
        bytes: &[0x30, 0xFF, 0x80, 0x00],
        versions: &BOTH,
        error: malformed(Malformed::VarIntNonMinimal),
        reason: ReasonCode::MalformedPacket,
    },
    // PUBACK with Property Length 0 as 0x80 0x00.
    MalformedCase {
        name: "mqtt_1_5_5_1_non_minimal_property_length_and_subscription_identifier",
        bytes: &[0x40, 0x05, 0x00, 0x01, 0x00, 0x80, 0x00],
        versions: &[V5],
        error: malformed(Malformed::VarIntNonMinimal),
        reason: ReasonCode::MalformedPacket,
    },
    // PUBLISH with Subscription Identifier 1 as 0x81 0x00.
    MalformedCase {
        name: "mqtt_1_5_5_1_non_minimal_property_length_and_subscription_identifier#2",
        bytes: &[0x30, 0x07, 0x00, 0x01, b't', 0x03, 0x0B, 0x81, 0x00],
        versions: &[V5],
        error: malformed(Malformed::VarIntNonMinimal),
        reason: ReasonCode::MalformedPacket,
    },
    MalformedCase {
        name: "vbi_five_bytes_is_malformed",
        bytes: &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        versions: &BOTH,
        error: malformed(Malformed::VarIntTooLong),
        reason: ReasonCode::MalformedPacket,
    },
    // Reported as soon as the fourth byte shows a continuation, before more input.
    MalformedCase {
        name: "vbi_five_bytes_is_malformed#2",
        bytes: &[0x30, 0xFF, 0xFF, 0xFF, 0xFF],
        versions: &BOTH,
        error: malformed(Malformed::VarIntTooLong),
        reason: ReasonCode::MalformedPacket,
    },
    MalformedCase {
        name: "reserved_packet_type_0_is_malformed",
        bytes: &[0x00, 0x00],
        versions: &BOTH,
        error: malformed(Malformed::ReservedPacketType(0)),
        reason: ReasonCode::MalformedPacket,
    },
    // [MQTT-3.3.1-4] (5.0) / [MQTT-3.3.1-4] (3.1.1).
    MalformedCase {
        name: "mqtt_3_3_1_4_publish_qos_3_is_malformed",
        bytes: &[0x36, 0x03, 0x00, 0x01, b't'],
        versions: &BOTH,
        error: malformed(Malformed::PublishQoS3),
        reason: ReasonCode::MalformedPacket,
    },
    // [MQTT-3.3.1-2] (5.0) / [MQTT-3.3.1-2] (3.1.1).
    MalformedCase {
        name: "mqtt_3_3_1_2_dup_with_qos_0_is_malformed",
        bytes: &[0x38, 0x03, 0x00, 0x01, b't'],
        versions: &BOTH,
        error: malformed(Malformed::PublishDupWithQoS0),
        reason: ReasonCode::MalformedPacket,
    },
    // PUBLISH whose topic length (3) runs past a Remaining Length of 3.
    MalformedCase {
        name: "remaining_length_too_short_is_malformed",
        bytes: &[0x30, 0x03, 0x00, 0x03, b'a', b'b', b'c'],
        versions: &BOTH,
        error: malformed(Malformed::UnexpectedEnd),
        reason: ReasonCode::MalformedPacket,
    },
    // PUBACK with Remaining Length 1.
    MalformedCase {
        name: "remaining_length_too_short_is_malformed#2",
        bytes: &[0x40, 0x01, 0x00],
        versions: &BOTH,
        error: malformed(Malformed::UnexpectedEnd),
        reason: ReasonCode::MalformedPacket,
    },
    // 5.0 property list running past the Property Length.
    MalformedCase {
        name: "remaining_length_too_short_is_malformed#3",
        bytes: &[0x40, 0x05, 0x00, 0x01, 0x00, 0x01, 0x1F],
        versions: &[V5],
        error: malformed(Malformed::UnexpectedEnd),
        reason: ReasonCode::MalformedPacket,
    },
    // CONNACK with an extra byte (3.1.1), SUBSCRIBE can't have trailing bytes (they would be
    // parsed as a filter), so CONNECT with a byte after the Client Identifier.
    MalformedCase {
        name: "remaining_length_too_long_is_malformed",
        bytes: &[0x20, 0x03, 0x00, 0x00, 0x00],
        versions: &[V3],
        error: malformed(Malformed::TrailingBytes),
        reason: ReasonCode::MalformedPacket,
    },
    MalformedCase {
        name: "remaining_length_too_long_is_malformed#2",
        bytes: &[
            0x10, 0x0D, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x00, 0x00, 0x00,
            0xAA,
        ],
        versions: &BOTH,
        error: malformed(Malformed::TrailingBytes),
        reason: ReasonCode::MalformedPacket,
    },
    MalformedCase {
        name: "mqtt_1_5_4_1_invalid_utf8",
        bytes: &[0x30, 0x03, 0x00, 0x01, 0xFF],
        versions: &BOTH,
        error: malformed(Malformed::InvalidUtf8),
        reason: ReasonCode::MalformedPacket,
    },
    // Overlong encoding of '/'.
    MalformedCase {
        name: "mqtt_1_5_4_1_invalid_utf8#2",
        bytes: &[0x30, 0x04, 0x00, 0x02, 0xC0, 0xAF],
        versions: &BOTH,
        error: malformed(Malformed::InvalidUtf8),
        reason: ReasonCode::MalformedPacket,
    },
    // U+D800 encoded as ED A0 80.
    MalformedCase {
        name: "mqtt_1_5_4_1_surrogate",
        bytes: &[0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80],
        versions: &BOTH,
        error: malformed(Malformed::Surrogate),
        reason: ReasonCode::MalformedPacket,
    },
    MalformedCase {
        name: "mqtt_1_5_4_2_null_character",
        bytes: &[0x30, 0x05, 0x00, 0x03, b'a', 0x00, b'b'],
        versions: &BOTH,
        error: malformed(Malformed::NullCharacter),
        reason: ReasonCode::MalformedPacket,
    },
    // Also in a Client Identifier.
    MalformedCase {
        name: "mqtt_1_5_4_2_null_character#2",
        bytes: &[
            0x10, 0x0D, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x00, 0x00, 0x01,
            0x00,
        ],
        versions: &BOTH,
        error: malformed(Malformed::NullCharacter),
        reason: ReasonCode::MalformedPacket,
    },
    // PUBLISH with Topic Alias twice.
    MalformedCase {
        name: "duplicate_property_is_protocol_error",
        bytes: &[
            0x30, 0x0A, 0x00, 0x01, b't', 0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02,
        ],
        versions: &[V5],
        error: protocol(ProtocolViolation::DuplicateProperty(PropertyId::TopicAlias)),
        reason: ReasonCode::ProtocolError,
    },
    // SUBSCRIBE with Subscription Identifier twice (may repeat only in PUBLISH).
    MalformedCase {
        name: "duplicate_property_is_protocol_error#2",
        bytes: &[
            0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, b't', 0x00,
        ],
        versions: &[V5],
        error: protocol(ProtocolViolation::DuplicateProperty(
            PropertyId::SubscriptionIdentifier,
        )),
        reason: ReasonCode::ProtocolError,
    },
    // Session Expiry Interval in PUBLISH.
    MalformedCase {
        name: "property_not_allowed_in_packet_is_protocol_error",
        bytes: &[
            0x30, 0x09, 0x00, 0x01, b't', 0x05, 0x11, 0x00, 0x00, 0x00, 0x01,
        ],
        versions: &[V5],
        error: protocol(ProtocolViolation::PropertyNotAllowed {
            property: PropertyId::SessionExpiryInterval,
            context: PropertyContext::Packet(PacketType::Publish),
        }),
        reason: ReasonCode::ProtocolError,
    },
    MalformedCase {
        name: "unknown_property_is_malformed",
        bytes: &[0x40, 0x05, 0x00, 0x01, 0x00, 0x01, 0x7F],
        versions: &[V5],
        error: malformed(Malformed::UnknownProperty(0x7F)),
        reason: ReasonCode::MalformedPacket,
    },
    // Payload Format Indicator 2 in PUBLISH.
    MalformedCase {
        name: "property_values_out_of_range_are_protocol_errors",
        bytes: &[0x30, 0x06, 0x00, 0x01, b't', 0x02, 0x01, 0x02],
        versions: &[V5],
        error: protocol(ProtocolViolation::InvalidPropertyValue(
            PropertyId::PayloadFormatIndicator,
        )),
        reason: ReasonCode::ProtocolError,
    },
    MalformedCase {
        name: "mqtt_3_3_2_8_topic_alias_zero",
        bytes: &[0x30, 0x07, 0x00, 0x01, b't', 0x03, 0x23, 0x00, 0x00],
        versions: &[V5],
        error: DecodeError::TopicAliasInvalid,
        reason: ReasonCode::TopicAliasInvalid,
    },
    MalformedCase {
        name: "mqtt_3_3_2_14_response_topic_with_wildcard",
        bytes: &[0x30, 0x08, 0x00, 0x01, b't', 0x04, 0x08, 0x00, 0x01, b'#'],
        versions: &[V5],
        error: protocol(ProtocolViolation::InvalidPropertyValue(
            PropertyId::ResponseTopic,
        )),
        reason: ReasonCode::ProtocolError,
    },
    // [MQTT-3.3.2-2] (5.0) / [MQTT-3.3.2-2] (3.1.1).
    MalformedCase {
        name: "mqtt_3_3_2_2_wildcard_in_publish_topic",
        bytes: &[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+'],
        versions: &[V3],
        error: DecodeError::TopicNameInvalid(TopicError::WildcardInName),
        reason: ReasonCode::TopicNameInvalid,
    },
    MalformedCase {
        name: "mqtt_3_3_2_2_wildcard_in_publish_topic#2",
        bytes: &[0x30, 0x06, 0x00, 0x03, b'a', b'/', b'#', 0x00],
        versions: &[V5],
        error: DecodeError::TopicNameInvalid(TopicError::WildcardInName),
        reason: ReasonCode::TopicNameInvalid,
    },
    // [MQTT-4.7.3-1] (3.1.1): a topic name has at least one character.
    MalformedCase {
        name: "empty_publish_topic",
        bytes: &[0x30, 0x02, 0x00, 0x00],
        versions: &[V3],
        error: DecodeError::TopicNameInvalid(TopicError::Empty),
        reason: ReasonCode::TopicNameInvalid,
    },
    // 5.0 §3.3.2.1: empty topic without a Topic Alias is a Protocol Error.
    MalformedCase {
        name: "empty_publish_topic#2",
        bytes: &[0x30, 0x03, 0x00, 0x00, 0x00],
        versions: &[V5],
        error: protocol(ProtocolViolation::EmptyTopicWithoutAlias),
        reason: ReasonCode::ProtocolError,
    },
    MalformedCase {
        name: "invalid_subscribe_filter",
        bytes: &[0x82, 0x08, 0x00, 0x01, 0x00, 0x03, b'a', b'#', b'b', 0x00],
        versions: &[V3],
        error: DecodeError::TopicFilterInvalid(TopicError::WildcardNotAlone),
        reason: ReasonCode::TopicFilterInvalid,
    },
    MalformedCase {
        name: "mqtt_3_8_3_5_subscription_options_reserved_bits",
        bytes: &[0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b't', 0x80],
        versions: &[V5],
        error: malformed(Malformed::SubscriptionOptionsReserved(0x80)),
        reason: ReasonCode::MalformedPacket,
    },
    // Granted QoS 1 in PUBACK ([MQTT-3.4.2-1] (5.0)).
    MalformedCase {
        name: "reason_code_not_allowed_in_packet",
        bytes: &[0x40, 0x03, 0x00, 0x01, 0x01],
        versions: &[V5],
        error: protocol(ProtocolViolation::ReasonCodeNotAllowed {
            code: ReasonCode::GrantedQoS1,
            packet_type: PacketType::PubAck,
        }),
        reason: ReasonCode::ProtocolError,
    },
    // Server shutting down in CONNACK ([MQTT-3.2.2-8] (5.0)).
    MalformedCase {
        name: "reason_code_not_allowed_in_packet#2",
        bytes: &[0x20, 0x03, 0x00, 0x8B, 0x00],
        versions: &[V5],
        error: protocol(ProtocolViolation::ReasonCodeNotAllowed {
            code: ReasonCode::ServerShuttingDown,
            packet_type: PacketType::ConnAck,
        }),
        reason: ReasonCode::ProtocolError,
    },
    MalformedCase {
        name: "unknown_reason_code_is_malformed",
        bytes: &[0x40, 0x03, 0x00, 0x01, 0x05],
        versions: &[V5],
        error: malformed(Malformed::UnknownReasonCode(0x05)),
        reason: ReasonCode::MalformedPacket,
    },
    MalformedCase {
        name: "unknown_reason_code_is_malformed#2",
        bytes: &[0x20, 0x02, 0x00, 0x06],
        versions: &[V3],
        error: malformed(Malformed::UnknownReasonCode(0x06)),
        reason: ReasonCode::MalformedPacket,
    },
    // A missing protocol name (Remaining Length 0) is malformed.
    MalformedCase {
        name: "mqtt_3_1_2_1_protocol_name",
        bytes: &[0x10, 0x00],
        versions: &BOTH,
        error: malformed(Malformed::UnexpectedEnd),
        reason: ReasonCode::MalformedPacket,
    },
    MalformedCase {
        name: "mqtt_3_2_2_1_connack_reserved_flags",
        bytes: &[0x20, 0x02, 0x02, 0x00],
        versions: &[V3],
        error: malformed(Malformed::ConnAckReservedFlags(0x02)),
        reason: ReasonCode::MalformedPacket,
    },
    MalformedCase {
        name: "mqtt_3_2_2_1_connack_reserved_flags#2",
        bytes: &[0x20, 0x03, 0x80, 0x00, 0x00],
        versions: &[V5],
        error: malformed(Malformed::ConnAckReservedFlags(0x80)),
        reason: ReasonCode::MalformedPacket,
    },
    // [MQTT-3.2.2-6] (5.0) / [MQTT-3.2.2-4] (3.1.1).
    MalformedCase {
        name: "mqtt_3_2_2_6_session_present_with_error",
        bytes: &[0x20, 0x02, 0x01, 0x05],
        versions: &[V3],
        error: protocol(ProtocolViolation::SessionPresentWithError),
        reason: ReasonCode::ProtocolError,
    },
    MalformedCase {
        name: "mqtt_3_2_2_6_session_present_with_error#2",
        bytes: &[0x20, 0x03, 0x01, 0x87, 0x00],
        versions: &[V5],
        error: protocol(ProtocolViolation::SessionPresentWithError),
        reason: ReasonCode::ProtocolError,
    },
];
