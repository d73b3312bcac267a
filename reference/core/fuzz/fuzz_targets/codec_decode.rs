//! Arbitrary bytes through the codec, in both protocol versions: the fixed header, one-packet
//! `decode`, the `StreamDecoder` (fed in two chunks) and `PacketBuf`. Nothing may panic, read
//! past what it was given or disagree with another entry point, and a packet that decodes must
//! re-encode without error to bytes that decode to the same packet (the property
//! `codec/proptests.rs` states for mutated valid packets).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mqttref_core::codec::{
    decode, DecodeError, Decoded, FixedHeader, Packet, PacketBuf, ProtocolVersion, StreamDecoder,
};

fuzz_target!(|data: &[u8]| {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        check_one(data, version);
        check_stream(data, version);
    }
});

/// One packet from the start of `data`.
fn check_one(data: &[u8], version: ProtocolVersion) {
    let header = FixedHeader::decode(data, version);
    match header {
        Ok(Decoded::Complete { value, consumed }) => {
            assert_eq!(consumed, value.header_len);
            assert!((2..=5).contains(&consumed) && consumed <= data.len());
        }
        Ok(Decoded::Incomplete(n)) => assert!(n >= 1),
        Err(e) => {
            let _ = e.reason_code();
        }
    }
    match decode(data, version, u32::MAX) {
        Ok(Decoded::Complete { value, consumed }) => {
            let Ok(Decoded::Complete { value: h, .. }) = header else {
                panic!("packet decoded but its fixed header did not: {header:?}");
            };
            assert_eq!(consumed as u64, h.packet_len());
            assert!(consumed <= data.len());
            assert_eq!(value.packet_type(), h.packet_type);
            roundtrip(&value, version);
            // The Maximum Packet Size is exact.
            let size = u32::try_from(consumed).expect("a packet fits u32");
            assert!(matches!(
                decode(data, version, size),
                Ok(Decoded::Complete { .. })
            ));
            assert!(matches!(
                decode(data, version, size - 1),
                Err(DecodeError::PacketTooLarge { .. })
            ));
            let owned = PacketBuf::new(data[..consumed].to_vec(), version)
                .expect("the frame decode accepted is a valid PacketBuf");
            assert_eq!(owned.view(), value);
        }
        Ok(Decoded::Incomplete(n)) => {
            assert!(n >= 1);
            // Once the fixed header is complete, exactly `n` more bytes are needed.
            if let Ok(Decoded::Complete { value: h, .. }) = header {
                assert_eq!((data.len() + n) as u64, h.packet_len());
            }
        }
        Err(e) => {
            let _ = e.reason_code();
            let _ = format!("{e}");
        }
    }
}

/// A decoded packet re-encodes, and the encoding decodes to the same packet.
fn roundtrip(packet: &Packet<'_>, version: ProtocolVersion) {
    let len = packet
        .encoded_len(version)
        .unwrap_or_else(|e| panic!("decoded {packet:?} has no encoded length: {e}"));
    let bytes = packet
        .encode_to_vec(version)
        .unwrap_or_else(|e| panic!("decoded {packet:?} does not re-encode: {e}"));
    assert_eq!(bytes.len(), len);
    match decode(&bytes, version, u32::MAX) {
        Ok(Decoded::Complete { value, consumed }) => {
            assert_eq!(consumed, bytes.len());
            assert_eq!(&value, packet, "re-encoded packet decodes differently");
        }
        other => panic!("re-encoded {packet:?} ({bytes:02x?}) does not decode: {other:?}"),
    }
}

/// The whole input as a stream: `StreamDecoder`, fed in two chunks, yields the same packets as
/// repeated `decode` over the whole, and stops with the same error.
fn check_stream(data: &[u8], version: ProtocolVersion) {
    let mut expected = Vec::new();
    let mut rest = data;
    let expected_err = loop {
        match decode(rest, version, u32::MAX) {
            Ok(Decoded::Complete { value, consumed }) => {
                expected.push(value);
                rest = &rest[consumed..];
            }
            Ok(Decoded::Incomplete(_)) => break None,
            Err(e) => break Some(e),
        }
    };

    let split = data
        .first()
        .map_or(0, |&b| usize::from(b) % (data.len() + 1));
    let mut stream = StreamDecoder::new(version, u32::MAX);
    let mut got = Vec::new();
    let mut err = None;
    'chunks: for chunk in [&data[..split], &data[split..]] {
        stream.push(chunk);
        loop {
            match stream.next_packet() {
                Ok(Some(p)) => got.push(p),
                Ok(None) => break,
                Err(e) => {
                    err = Some(e);
                    break 'chunks;
                }
            }
        }
    }
    let views: Vec<Packet<'_>> = got.iter().map(PacketBuf::view).collect();
    assert_eq!(views, expected);
    assert_eq!(err, expected_err);
    if err.is_none() {
        assert_eq!(stream.buffered(), rest.len());
    }
    for p in &got {
        let _ = format!("{p:?}");
    }
}
