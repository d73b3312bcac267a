//! Codec throughput: decode and encode of PUBLISH (64 B and 4 KiB payloads, with and without
//! properties), CONNECT and SUBSCRIBE, in MQTT 5.0, as bytes per second of encoded packet.
//!
//! Decoding is zero-copy (the payload is borrowed), so a large PUBLISH costs its header and
//! property checks only. Run: `cargo bench -p mqttref-core --bench codec`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mqttref_core::codec::{
    decode, Connect, Decoded, Packet, Properties, Property, ProtocolVersion, Publish, QoS,
    Subscribe, Subscription, Will,
};
use std::hint::black_box;

const V: ProtocolVersion = ProtocolVersion::V5;

fn bench_packet(c: &mut Criterion, name: &str, packet: Packet<'_>) {
    let bytes = packet.encode_to_vec(V).expect("bench packet encodes");
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| match decode(black_box(&bytes), V, u32::MAX) {
            Ok(Decoded::Complete { value, consumed }) => {
                black_box(value);
                consumed
            }
            _ => unreachable!(),
        })
    });
    let mut out = vec![0u8; bytes.len()];
    group.bench_function("encode", |b| {
        b.iter(|| {
            black_box(&packet)
                .encode(V, black_box(&mut out))
                .expect("fits")
        })
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    let small = [0x5Au8; 64];
    let large = [0xA5u8; 4096];
    let props = [
        Property::PayloadFormatIndicator(1),
        Property::MessageExpiryInterval(3600),
        Property::ContentType("application/json"),
        Property::ResponseTopic("reply/to/me"),
        Property::CorrelationData(b"0123456789abcdef"),
        Property::UserProperty(("trace-id", "4bf92f3577b34da6a3ce929d0e0e4736")),
    ];
    let publish = |payload: &'static [u8], with_props: bool| {
        let leaked: &'static [Property<'static>] = Box::leak(Box::new(props));
        Packet::Publish(Publish {
            qos: QoS::AtLeastOnce,
            packet_id: Some(42),
            properties: if with_props {
                Properties::from(leaked)
            } else {
                Properties::empty()
            },
            ..Publish::new("sensors/site3/building7/device42/temperature", payload)
        })
    };
    let small: &'static [u8] = Box::leak(Box::new(small));
    let large: &'static [u8] = Box::leak(Box::new(large));
    bench_packet(c, "publish_64B", publish(small, false));
    bench_packet(c, "publish_64B_props", publish(small, true));
    bench_packet(c, "publish_4KiB", publish(large, false));
    bench_packet(c, "publish_4KiB_props", publish(large, true));

    let connect_props = [
        Property::SessionExpiryInterval(3600),
        Property::ReceiveMaximum(100),
        Property::MaximumPacketSize(1 << 20),
        Property::TopicAliasMaximum(16),
    ];
    let will_props = [
        Property::WillDelayInterval(10),
        Property::ContentType("text/plain"),
    ];
    let connect = Connect {
        properties: Properties::from(&connect_props),
        will: Some(Will {
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Properties::from(&will_props),
            topic: "clients/device42/status",
            payload: b"offline",
        }),
        username: Some("device42"),
        password: Some(b"correct horse battery staple"),
        ..Connect::new(V, "device42-5f3a9c")
    };
    bench_packet(c, "connect", Packet::Connect(connect));

    let subs = [
        Subscription::new("sensors/+/+/device42/#", QoS::AtLeastOnce),
        Subscription::new("commands/device42", QoS::ExactlyOnce),
        Subscription::new("$share/workers/jobs/#", QoS::AtLeastOnce),
        Subscription::new("config/site3/building7", QoS::AtMostOnce),
    ];
    let sub_props = [Property::SubscriptionIdentifier(7)];
    let subscribe = Subscribe {
        properties: Properties::from(&sub_props),
        ..Subscribe::new(7, &subs)
    };
    bench_packet(c, "subscribe", Packet::Subscribe(subscribe));
}

criterion_group!(benches, codec);
criterion_main!(benches);
