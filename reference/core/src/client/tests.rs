//! Tests of the client session in the quinn-proto `Pair` style: the session is wired to a
//! scripted server (the test decodes what the client sends with the codec and answers with
//! hand-built packets), with virtual time that the test moves.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::codec::{PacketBuf, PacketType, StreamDecoder};

/// A client session and the server end of its connection.
struct Pair {
    client: ClientSession,
    /// Splits what the client sends into packets.
    server: StreamDecoder,
    now: Instant,
}

impl Pair {
    fn new(config: ClientConfig) -> Self {
        let version = config.version;
        Pair {
            client: ClientSession::new(config),
            server: StreamDecoder::new(version, u32::MAX),
            now: Instant::from_secs(1000),
        }
    }

    fn v5() -> Self {
        Pair::new(ClientConfig::new(ProtocolVersion::V5, "c1"))
    }

    /// Everything the client sends now, decoded.
    fn sent(&mut self) -> Vec<PacketBuf> {
        let mut bytes = Vec::new();
        let _ = self.client.poll_transmit(self.now, &mut bytes);
        self.server.push(&bytes);
        let mut out = Vec::new();
        while let Some(p) = self
            .server
            .next_packet()
            .expect("the client sends valid packets")
        {
            out.push(p);
        }
        out
    }

    /// Packet types the client sends now.
    fn sent_types(&mut self) -> Vec<PacketType> {
        self.sent().iter().map(PacketBuf::packet_type).collect()
    }

    /// The server sends `packet`.
    fn recv(&mut self, packet: Packet<'_>) {
        let bytes = packet
            .encode_to_vec(self.client.config().version)
            .expect("encodes");
        self.client.handle_bytes(self.now, &bytes);
    }

    fn events(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(e) = self.client.poll_event() {
            out.push(e);
        }
        out
    }

    /// Moves virtual time to the session's next timeout and fires it (quinn's `step`).
    fn step(&mut self) -> bool {
        match self.client.poll_timeout() {
            Some(t) => {
                self.now = self.now.max(t);
                self.client.handle_timeout(self.now);
                true
            }
            None => false,
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now = self.now.add_millis(ms);
    }

    /// Connects and answers CONNACK Success with `props`.
    fn establish(&mut self, session_present: bool, props: &[Property<'_>]) -> Vec<PacketBuf> {
        self.client.connect(self.now);
        let sent = self.sent();
        assert_eq!(
            sent.first().map(PacketBuf::packet_type),
            Some(PacketType::Connect)
        );
        let mut ack = ConnAck::new(ReasonCode::Success);
        ack.session_present = session_present;
        if self.client.config().version == ProtocolVersion::V5 {
            ack.properties = Properties::Slice(props);
        }
        self.recv(Packet::ConnAck(ack));
        assert!(self.client.is_connected());
        sent
    }

    /// The transport breaks.
    fn cut(&mut self) {
        self.client.handle_connection_lost(self.now);
        self.server = StreamDecoder::new(self.client.config().version, u32::MAX);
    }
}

fn publish_of(p: &PacketBuf) -> Publish<'_> {
    match p.view() {
        Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

fn completions(events: &[Event]) -> Vec<(RequestId, ReasonCode)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PublishComplete {
                id, reason_code, ..
            } => Some((*id, *reason_code)),
            _ => None,
        })
        .collect()
}

fn messages(events: &[Event]) -> Vec<Message> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn connect_sends_configured_fields_and_reports_connack() {
    let mut config = ClientConfig::new(ProtocolVersion::V5, "dev-1");
    config.keep_alive = 30;
    config.session_expiry_interval = Some(120);
    config.username = Some("u".to_string());
    config.password = Some(b"p".to_vec());
    config.will = Some(Will::new("status/dev-1", "gone"));
    let mut pair = Pair::new(config);
    let sent = pair.establish(
        false,
        &[Property::ReceiveMaximum(10), Property::TopicAliasMaximum(5)],
    );
    let Packet::Connect(c) = sent[0].view() else {
        panic!()
    };
    assert_eq!(
        (c.client_id, c.keep_alive, c.clean_start),
        ("dev-1", 30, true)
    );
    assert_eq!(c.username, Some("u"));
    assert_eq!(c.password, Some(&b"p"[..]));
    assert_eq!(c.will.map(|w| w.topic), Some("status/dev-1"));
    assert!(c
        .properties
        .iter()
        .any(|p| p == Property::SessionExpiryInterval(120)));
    let events = pair.events();
    let [Event::Connected(info)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert!(!info.session_present);
    assert_eq!(info.receive_maximum, 10);
    assert_eq!(info.topic_alias_maximum, 5);
}

#[test]
fn qos1_publish_completes_on_puback_and_frees_the_identifier() {
    let mut pair = Pair::v5();
    pair.establish(false, &[]);
    let id = pair
        .client
        .publish(OutgoingMessage::new("a/b", "x").with_qos(QoS::AtLeastOnce))
        .unwrap();
    let sent = pair.sent();
    let p = publish_of(&sent[0]);
    assert_eq!(
        (p.topic, p.qos, p.dup, p.payload),
        ("a/b", QoS::AtLeastOnce, false, &b"x"[..])
    );
    let pid = p.packet_id.unwrap();
    assert!(pair.client.ids.contains(pid));
    assert!(
        completions(&pair.events()).is_empty(),
        "not complete before PUBACK"
    );
    pair.recv(Packet::PubAck(PubAck::new(pid)));
    assert_eq!(completions(&pair.events()), vec![(id, ReasonCode::Success)]);
    assert!(!pair.client.ids.contains(pid));
    assert_eq!(pair.client.inflight_len(), 0);
}

#[test]
fn qos2_publish_runs_pubrec_pubrel_pubcomp() {
    let mut pair = Pair::v5();
    pair.establish(false, &[]);
    let id = pair
        .client
        .publish(OutgoingMessage::new("t", "x").with_qos(QoS::ExactlyOnce))
        .unwrap();
    let pid = publish_of(&pair.sent()[0]).packet_id.unwrap();
    pair.recv(Packet::PubRec(PubRec::new(pid)));
    let sent = pair.sent();
    assert_eq!(sent[0].view(), Packet::PubRel(PubRel::new(pid)));
    assert!(completions(&pair.events()).is_empty());
    // A duplicate PUBREC gets the PUBREL again.
    pair.recv(Packet::PubRec(PubRec::new(pid)));
    assert_eq!(pair.sent_types(), vec![PacketType::PubRel]);
    pair.recv(Packet::PubComp(PubComp::new(pid)));
    assert_eq!(completions(&pair.events()), vec![(id, ReasonCode::Success)]);
    // A late PUBCOMP for a finished flow is ignored.
    pair.recv(Packet::PubComp(PubComp::new(pid)));
    assert!(pair.events().is_empty());
}

#[test]
fn qos2_pubrec_with_error_ends_the_flow() {
    let mut pair = Pair::v5();
    pair.establish(false, &[]);
    let id = pair
        .client
        .publish(OutgoingMessage::new("t", "x").with_qos(QoS::ExactlyOnce))
        .unwrap();
    let pid = publish_of(&pair.sent()[0]).packet_id.unwrap();
    let mut rec = PubRec::new(pid);
    rec.reason_code = ReasonCode::NotAuthorized;
    pair.recv(Packet::PubRec(rec));
    assert!(pair.sent().is_empty(), "no PUBREL after an error PUBREC");
    assert_eq!(
        completions(&pair.events()),
        vec![(id, ReasonCode::NotAuthorized)]
    );
}

#[test]
fn incoming_qos2_is_delivered_exactly_once() {
    let mut pair = Pair::v5();
    pair.establish(false, &[]);
    let mut p = Publish::new("x/y", b"once");
    p.qos = QoS::ExactlyOnce;
    p.packet_id = Some(7);
    pair.recv(Packet::Publish(p));
    assert_eq!(pair.sent()[0].view(), Packet::PubRec(PubRec::new(7)));
    // The server resends (it did not see our PUBREC): acknowledged, not delivered again.
    p.dup = true;
    pair.recv(Packet::Publish(p));
    assert_eq!(pair.sent()[0].view(), Packet::PubRec(PubRec::new(7)));
    let msgs = messages(&pair.events());
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        (msgs[0].topic.as_str(), msgs[0].payload.as_slice()),
        ("x/y", &b"once"[..])
    );
    pair.recv(Packet::PubRel(PubRel::new(7)));
    assert_eq!(pair.sent()[0].view(), Packet::PubComp(PubComp::new(7)));
    assert_eq!(pair.client.incoming_qos2_len(), 0);
    // After PUBREL the identifier is free: a new PUBLISH with it is a new message.
    p.dup = false;
    p.payload = b"second";
    pair.recv(Packet::Publish(p));
    assert_eq!(messages(&pair.events()).len(), 1);
}

#[test]
fn incoming_qos2_state_survives_a_reconnect_with_session() {
    let mut config = ClientConfig::new(ProtocolVersion::V5, "c1");
    config.session_expiry_interval = Some(60);
    let mut pair = Pair::new(config);
    pair.establish(false, &[]);
    let mut p = Publish::new("x", b"1");
    p.qos = QoS::ExactlyOnce;
    p.packet_id = Some(3);
    pair.recv(Packet::Publish(p));
    let _ = pair.sent();
    assert_eq!(messages(&pair.events()).len(), 1);
    pair.cut();
    pair.establish(true, &[]);
    // The server resends the PUBLISH it never saw a PUBREC for: no second delivery.
    p.dup = true;
    pair.recv(Packet::Publish(p));
    assert_eq!(pair.sent_types(), vec![PacketType::PubRec]);
    assert!(messages(&pair.events()).is_empty());
}

#[test]
fn incoming_qos1_is_acknowledged() {
    let mut pair = Pair::v5();
    pair.establish(false, &[]);
    let mut p = Publish::new("t", b"m");
    p.qos = QoS::AtLeastOnce;
    p.packet_id = Some(9);
    pair.recv(Packet::Publish(p));
    assert_eq!(pair.sent()[0].view(), Packet::PubAck(PubAck::new(9)));
    assert_eq!(messages(&pair.events()).len(), 1);
}

#[test]
fn server_receive_maximum_queues_the_rest() {
    let mut pair = Pair::v5();
    pair.establish(false, &[Property::ReceiveMaximum(2)]);
    let ids: Vec<RequestId> = (0..4)
        .map(|i| {
            pair.client
                .publish(OutgoingMessage::new("t", vec![i]).with_qos(QoS::AtLeastOnce))
                .unwrap()
        })
        .collect();
    let sent = pair.sent();
    assert_eq!(sent.len(), 2, "only Receive Maximum in flight");
    assert_eq!(pair.client.queued_len(), 2);
    let first = publish_of(&sent[0]).packet_id.unwrap();
    pair.recv(Packet::PubAck(PubAck::new(first)));
    let sent = pair.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(publish_of(&sent[0]).payload, &[2]);
    assert_eq!(
        completions(&pair.events()),
        vec![(ids[0], ReasonCode::Success)]
    );
}

#[test]
fn packet_identifiers_in_flight_are_distinct() {
    let mut pair = Pair::v5();
    pair.establish(false, &[]);
    for _ in 0..500 {
        pair.client
            .publish(OutgoingMessage::new("t", "x").with_qos(QoS::ExactlyOnce))
            .unwrap();
    }
    pair.client
        .subscribe(
            vec![SubscribeFilter::new("a/#", QoS::AtLeastOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    let mut seen = BTreeSet::new();
    for p in pair.sent() {
        let id = match p.view() {
            Packet::Publish(p) => p.packet_id.unwrap(),
            Packet::Subscribe(s) => s.packet_id,
            other => panic!("{other:?}"),
        };
        assert_ne!(id, 0);
        assert!(seen.insert(id), "identifier {id} reused while in flight");
    }
    assert_eq!(seen.len(), 501);
}

#[test]
fn resume_resends_publish_with_dup_and_pubrel_in_order() {
    let mut config = ClientConfig::new(ProtocolVersion::V5, "c1");
    config.session_expiry_interval = Some(300);
    let mut pair = Pair::new(config);
    pair.establish(false, &[]);
    let a = pair
        .client
        .publish(OutgoingMessage::new("t", "a").with_qos(QoS::ExactlyOnce))
        .unwrap();
    let b = pair
        .client
        .publish(OutgoingMessage::new("t", "b").with_qos(QoS::AtLeastOnce))
        .unwrap();
    let sent = pair.sent();
    let (pa, pb) = (
        publish_of(&sent[0]).packet_id.unwrap(),
        publish_of(&sent[1]).packet_id.unwrap(),
    );
    pair.recv(Packet::PubRec(PubRec::new(pa)));
    assert_eq!(pair.sent_types(), vec![PacketType::PubRel]);
    let _ = pair.events();
    pair.cut();
    assert!(matches!(
        pair.events().as_slice(),
        [Event::Disconnected(DisconnectReason::TransportClosed)]
    ));

    let sent = pair.establish(true, &[]);
    let Packet::Connect(c) = sent[0].view() else {
        panic!()
    };
    assert!(!c.clean_start, "a reconnect asks to resume");
    let resent = pair.sent();
    assert_eq!(resent.len(), 2);
    assert_eq!(resent[0].view(), Packet::PubRel(PubRel::new(pa)));
    let p = publish_of(&resent[1]);
    assert_eq!((p.packet_id, p.dup, p.payload), (Some(pb), true, &b"b"[..]));
    pair.recv(Packet::PubComp(PubComp::new(pa)));
    pair.recv(Packet::PubAck(PubAck::new(pb)));
    let done = completions(&pair.events());
    assert_eq!(
        done,
        vec![(a, ReasonCode::Success), (b, ReasonCode::Success)]
    );
}

#[test]
fn lost_session_requeues_unacknowledged_and_restores_subscriptions() {
    let mut pair = Pair::v5();
    pair.establish(false, &[]);
    let sub = pair
        .client
        .subscribe(
            vec![SubscribeFilter::new("s/#", QoS::ExactlyOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    let sid = match pair.sent()[0].view() {
        Packet::Subscribe(s) => s.packet_id,
        other => panic!("{other:?}"),
    };
    pair.recv(Packet::SubAck(SubAck::new(sid, &[ReasonCode::GrantedQoS2])));
    let events = pair.events();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::SubscribeComplete { id, .. } if *id == sub)));
    let a = pair
        .client
        .publish(OutgoingMessage::new("t", "a").with_qos(QoS::ExactlyOnce))
        .unwrap();
    let b = pair
        .client
        .publish(OutgoingMessage::new("t", "b").with_qos(QoS::AtLeastOnce))
        .unwrap();
    let sent = pair.sent();
    let pa = publish_of(&sent[0]).packet_id.unwrap();
    pair.recv(Packet::PubRec(PubRec::new(pa)));
    let _ = pair.sent();
    pair.cut();
    let _ = pair.events();

    pair.establish(false, &[]);
    let events = pair.events();
    // The PUBREC'd message was accepted by the server: complete. The other is sent anew.
    assert_eq!(completions(&events), vec![(a, ReasonCode::Success)]);
    let sent = pair.sent();
    let types: Vec<PacketType> = sent.iter().map(PacketBuf::packet_type).collect();
    assert_eq!(types, vec![PacketType::Subscribe, PacketType::Publish]);
    let Packet::Subscribe(s) = sent[0].view() else {
        panic!()
    };
    assert_eq!(s.subscriptions.iter().next().map(|s| s.filter), Some("s/#"));
    let p = publish_of(&sent[1]);
    assert!(!p.dup, "a new message to a new session");
    pair.recv(Packet::SubAck(SubAck::new(
        s.packet_id,
        &[ReasonCode::GrantedQoS2],
    )));
    pair.recv(Packet::PubAck(PubAck::new(p.packet_id.unwrap())));
    let events = pair.events();
    assert_eq!(completions(&events), vec![(b, ReasonCode::Success)]);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::SubscribeComplete { .. })),
        "restore is internal"
    );
}

#[test]
fn keep_alive_sends_pingreq_and_detects_a_dead_connection() {
    let mut config = ClientConfig::new(ProtocolVersion::V5, "c1");
    config.keep_alive = 10;
    config.ping_timeout_ms = Some(5_000);
    let mut pair = Pair::new(config);
    pair.establish(false, &[]);
    let _ = pair.events();
    let start = pair.now;
    assert_eq!(pair.client.poll_timeout(), Some(start.add_secs(10)));
    assert!(pair.step());
    assert_eq!(pair.sent_types(), vec![PacketType::PingReq]);
    // PINGRESP: alive; the next PINGREQ is due a keep alive after the last one.
    pair.advance(100);
    pair.recv(Packet::PingResp(codec::PingResp));
    assert_eq!(pair.client.poll_timeout(), Some(start.add_secs(20)));
    assert!(pair.step());
    assert_eq!(pair.sent_types(), vec![PacketType::PingReq]);
    // Nothing comes back: dead after the ping timeout.
    assert_eq!(pair.client.poll_timeout(), Some(start.add_secs(25)));
    assert!(pair.step());
    assert!(pair.client.is_closing());
    assert!(matches!(
        pair.events().as_slice(),
        [Event::Disconnected(DisconnectReason::KeepAliveTimeout)]
    ));
}

#[test]
fn sending_and_receiving_postpone_the_pingreq() {
    let mut config = ClientConfig::new(ProtocolVersion::V3_1_1, "c1");
    config.keep_alive = 10;
    let mut pair = Pair::new(config);
    pair.establish(false, &[]);
    pair.advance(8_000);
    pair.client
        .publish(OutgoingMessage::new("t", "x").with_qos(QoS::AtLeastOnce))
        .unwrap();
    let sent = pair.sent();
    let pid = publish_of(&sent[0]).packet_id.unwrap();
    pair.recv(Packet::PubAck(PubAck::new(pid)));
    assert_eq!(pair.client.poll_timeout(), Some(pair.now.add_secs(10)));
}

/// Seed 11 of the simulator (c1): a client that keeps publishing QoS 0 over a connection whose
/// server-to-client direction is dead. Sending alone does not postpone the PINGREQ, and the
/// missing PINGRESP ends the connection, however busy the client is (5.0 §3.1.2.10, §3.12).
#[test]
fn a_busy_client_still_pings_and_notices_a_silent_server() {
    let mut config = ClientConfig::new(ProtocolVersion::V5, "c1");
    config.keep_alive = 10;
    config.ping_timeout_ms = Some(5_000);
    let mut pair = Pair::new(config);
    pair.establish(false, &[]);
    let _ = pair.events();
    let start = pair.now;
    let mut pinged_at = None;
    // A QoS 0 publish every second; the server never answers anything.
    for _ in 0..30 {
        pair.advance(1_000);
        if pair.client.poll_timeout().is_some_and(|t| t <= pair.now) {
            pair.client.handle_timeout(pair.now);
        }
        if pair.client.is_closing() {
            break;
        }
        pair.client.publish(OutgoingMessage::new("t", "x")).unwrap();
        if pair.sent_types().contains(&PacketType::PingReq) {
            pinged_at.get_or_insert(pair.now);
        }
    }
    assert_eq!(
        pinged_at,
        Some(start.add_secs(10)),
        "nothing received for keep alive"
    );
    assert!(pair.client.is_closing());
    assert_eq!(
        pair.now,
        start.add_secs(15),
        "no PINGRESP within the ping timeout"
    );
    let ended: Vec<Event> = pair
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Disconnected(_)))
        .collect();
    assert!(matches!(
        ended.as_slice(),
        [Event::Disconnected(DisconnectReason::KeepAliveTimeout)]
    ));
}

#[test]
fn server_keep_alive_overrides_the_clients() {
    let mut pair = Pair::v5();
    let t0 = pair.now;
    pair.establish(false, &[Property::ServerKeepAlive(5)]);
    assert_eq!(pair.client.poll_timeout(), Some(t0.add_secs(5)));
}

#[test]
fn no_connack_in_time_is_a_connect_timeout() {
    let mut config = ClientConfig::new(ProtocolVersion::V5, "c1");
    config.connect_timeout_ms = 2_000;
    let mut pair = Pair::new(config);
    pair.client.connect(pair.now);
    let _ = pair.sent();
    assert!(pair.step());
    assert!(pair.client.is_closing());
    assert!(matches!(
        pair.events().as_slice(),
        [Event::Disconnected(DisconnectReason::ConnectTimeout)]
    ));
}

#[test]
fn incoming_topic_aliases_are_resolved_and_checked() {
    let mut config = ClientConfig::new(ProtocolVersion::V5, "c1");
    config.topic_alias_maximum = 2;
    let mut pair = Pair::new(config);
    pair.establish(false, &[]);
    let props = [Property::TopicAlias(1)];
    let mut p = Publish::new("long/topic/name", b"1");
    p.properties = Properties::Slice(&props);
    pair.recv(Packet::Publish(p));
    p.topic = "";
    p.payload = b"2";
    pair.recv(Packet::Publish(p));
    let msgs = messages(&pair.events());
    assert_eq!(
        msgs.iter().map(|m| m.topic.as_str()).collect::<Vec<_>>(),
        vec!["long/topic/name"; 2]
    );
    // Alias 3 is above our maximum of 2: DISCONNECT 0x94.
    let props = [Property::TopicAlias(3)];
    p.properties = Properties::Slice(&props);
    p.topic = "x";
    pair.recv(Packet::Publish(p));
    let sent = pair.sent();
    let Packet::Disconnect(d) = sent[0].view() else {
        panic!()
    };
    assert_eq!(d.reason_code, ReasonCode::TopicAliasInvalid);
    assert!(pair.client.is_closing());
}

#[test]
fn unknown_alias_with_empty_topic_is_a_protocol_error() {
    let mut config = ClientConfig::new(ProtocolVersion::V5, "c1");
    config.topic_alias_maximum = 2;
    let mut pair = Pair::new(config);
    pair.establish(false, &[]);
    let props = [Property::TopicAlias(2)];
    let mut p = Publish::new("", b"1");
    p.properties = Properties::Slice(&props);
    pair.recv(Packet::Publish(p));
    let sent = pair.sent();
    let Packet::Disconnect(d) = sent[0].view() else {
        panic!()
    };
    assert_eq!(d.reason_code, ReasonCode::ProtocolError);
    assert!(messages(&pair.events()).is_empty());
}

#[test]
fn outbound_topic_aliases_when_enabled() {
    let mut config = ClientConfig::new(ProtocolVersion::V5, "c1");
    config.outbound_topic_aliases = true;
    let mut pair = Pair::new(config);
    pair.establish(false, &[Property::TopicAliasMaximum(1)]);
    for _ in 0..2 {
        pair.client
            .publish(OutgoingMessage::new("a/very/long/topic", "x"))
            .unwrap();
    }
    pair.client
        .publish(OutgoingMessage::new("other", "x"))
        .unwrap();
    let sent = pair.sent();
    let p: Vec<Publish<'_>> = sent.iter().map(publish_of).collect();
    assert_eq!(
        (p[0].topic, p[0].topic_alias()),
        ("a/very/long/topic", Some(1))
    );
    assert_eq!((p[1].topic, p[1].topic_alias()), ("", Some(1)));
    assert_eq!(
        (p[2].topic, p[2].topic_alias()),
        ("other", None),
        "no alias above the maximum"
    );
}

#[test]
fn more_incoming_qos2_than_receive_maximum_is_refused() {
    let mut config = ClientConfig::new(ProtocolVersion::V5, "c1");
    config.receive_maximum = Some(1);
    let mut pair = Pair::new(config);
    pair.establish(false, &[]);
    for id in [1, 2] {
        let mut p = Publish::new("t", b"x");
        p.qos = QoS::ExactlyOnce;
        p.packet_id = Some(id);
        pair.recv(Packet::Publish(p));
    }
    let sent = pair.sent();
    assert_eq!(sent[0].packet_type(), PacketType::PubRec);
    let Packet::Disconnect(d) = sent[1].view() else {
        panic!()
    };
    assert_eq!(d.reason_code, ReasonCode::ReceiveMaximumExceeded);
}

#[test]
fn server_limits_refuse_locally() {
    let mut pair = Pair::v5();
    pair.establish(
        false,
        &[
            Property::MaximumQoS(1),
            Property::RetainAvailable(0),
            Property::MaximumPacketSize(64),
        ],
    );
    let q2 = pair
        .client
        .publish(OutgoingMessage::new("t", "x").with_qos(QoS::ExactlyOnce))
        .unwrap();
    let r = pair
        .client
        .publish(OutgoingMessage::new("t", "x").with_retain(true))
        .unwrap();
    let big = pair
        .client
        .publish(OutgoingMessage::new("t", vec![0u8; 100]))
        .unwrap();
    assert!(pair.sent().is_empty());
    assert_eq!(
        completions(&pair.events()),
        vec![
            (q2, ReasonCode::QoSNotSupported),
            (r, ReasonCode::RetainNotSupported),
            (big, ReasonCode::PacketTooLarge)
        ]
    );
}

#[test]
fn refused_connack_is_reported() {
    let mut pair = Pair::v5();
    pair.client.connect(pair.now);
    let _ = pair.sent();
    let props = [Property::ReasonString("go away")];
    let mut ack = ConnAck::new(ReasonCode::NotAuthorized);
    ack.properties = Properties::Slice(&props);
    pair.recv(Packet::ConnAck(ack));
    assert!(pair.client.is_closing());
    let events = pair.events();
    let [Event::Disconnected(DisconnectReason::Refused {
        reason_code,
        connack,
    })] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(*reason_code, ReasonCode::NotAuthorized);
    assert_eq!(connack.reason_string.as_deref(), Some("go away"));
}

#[test]
fn session_present_after_clean_start_is_a_protocol_error() {
    let mut pair = Pair::v5();
    pair.client.connect(pair.now);
    let _ = pair.sent();
    let mut ack = ConnAck::new(ReasonCode::Success);
    ack.session_present = true;
    pair.recv(Packet::ConnAck(ack));
    assert!(pair.client.is_closing());
    assert!(matches!(
        pair.events().as_slice(),
        [Event::Disconnected(DisconnectReason::ProtocolError {
            detail: ProtocolErrorDetail::SessionPresentOnCleanStart,
            ..
        })]
    ));
}

#[test]
fn anything_but_connack_first_is_a_protocol_error() {
    let mut pair = Pair::v5();
    pair.client.connect(pair.now);
    let _ = pair.sent();
    pair.recv(Packet::Publish(Publish::new("t", b"x")));
    let sent = pair.sent();
    let Packet::Disconnect(d) = sent[0].view() else {
        panic!()
    };
    assert_eq!(d.reason_code, ReasonCode::ProtocolError);
    assert!(messages(&pair.events()).is_empty());
}

#[test]
fn malformed_input_disconnects_with_the_decode_reason_code() {
    let mut pair = Pair::v5();
    pair.establish(false, &[]);
    // PUBLISH with QoS 3.
    pair.client.handle_bytes(pair.now, &[0x36, 0x00]);
    let sent = pair.sent();
    let Packet::Disconnect(d) = sent[0].view() else {
        panic!()
    };
    assert_eq!(d.reason_code, ReasonCode::MalformedPacket);
}

#[test]
fn bytes_split_anywhere_decode_the_same() {
    let mut pair = Pair::v5();
    pair.establish(false, &[]);
    let mut p = Publish::new("split/topic", b"payload");
    p.qos = QoS::AtLeastOnce;
    p.packet_id = Some(5);
    let bytes = Packet::Publish(p)
        .encode_to_vec(ProtocolVersion::V5)
        .unwrap();
    for b in &bytes {
        pair.client.handle_bytes(pair.now, core::slice::from_ref(b));
    }
    assert_eq!(messages(&pair.events()).len(), 1);
    assert_eq!(pair.sent()[0].view(), Packet::PubAck(PubAck::new(5)));
}

#[test]
fn commands_before_connecting_are_sent_after_connack() {
    let mut pair = Pair::v5();
    let sub = pair
        .client
        .subscribe(
            vec![SubscribeFilter::new("a", QoS::AtMostOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    let publ = pair.client.publish(OutgoingMessage::new("a", "x")).unwrap();
    pair.establish(false, &[]);
    assert_eq!(
        pair.sent_types(),
        vec![PacketType::Subscribe, PacketType::Publish]
    );
    let events = pair.events();
    assert_eq!(completions(&events), vec![(publ, ReasonCode::Success)]);
    let _ = sub;
}

#[test]
fn v311_flows_have_no_properties() {
    let mut pair = Pair::new(ClientConfig::new(ProtocolVersion::V3_1_1, "old"));
    pair.establish(false, &[]);
    let id = pair
        .client
        .publish(OutgoingMessage::new("t", "x").with_qos(QoS::ExactlyOnce))
        .unwrap();
    let pid = publish_of(&pair.sent()[0]).packet_id.unwrap();
    pair.recv(Packet::PubRec(PubRec::new(pid)));
    assert_eq!(pair.sent_types(), vec![PacketType::PubRel]);
    pair.recv(Packet::PubComp(PubComp::new(pid)));
    assert_eq!(completions(&pair.events()), vec![(id, ReasonCode::Success)]);
    let u = pair
        .client
        .unsubscribe(vec!["t".to_string()], Vec::new())
        .unwrap();
    let sent = pair.sent();
    let Packet::Unsubscribe(un) = sent[0].view() else {
        panic!()
    };
    pair.recv(Packet::UnsubAck(UnsubAck::new(un.packet_id, &[])));
    let events = pair.events();
    assert!(
        matches!(events.as_slice(), [Event::UnsubscribeComplete { id, reason_codes, .. }] if *id == u && reason_codes == &[ReasonCode::Success])
    );
}

#[test]
fn server_disconnect_is_reported_with_its_reason() {
    let mut pair = Pair::v5();
    pair.establish(false, &[]);
    let _ = pair.events();
    let props = [
        Property::ReasonString("bye"),
        Property::ServerReference("other:1883"),
    ];
    let d = Disconnect {
        reason_code: ReasonCode::ServerShuttingDown,
        properties: Properties::Slice(&props),
    };
    pair.recv(Packet::Disconnect(d));
    assert!(pair.client.is_closing());
    let events = pair.events();
    let [Event::Disconnected(DisconnectReason::Server {
        reason_code,
        properties,
        server_reference,
    })] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(*reason_code, ReasonCode::ServerShuttingDown);
    assert_eq!(properties.reason_string.as_deref(), Some("bye"));
    assert_eq!(server_reference.as_deref(), Some("other:1883"));
    // Closing the transport afterwards does not report twice.
    pair.cut();
    assert!(pair.events().is_empty());
    assert!(pair.client.is_idle());
}

#[test]
fn enhanced_authentication_exchange() {
    let mut config = ClientConfig::new(ProtocolVersion::V5, "c1");
    config.authentication_method = Some("TOY".to_string());
    config.authentication_data = Some(b"hello".to_vec());
    let mut pair = Pair::new(config);
    pair.client.connect(pair.now);
    let sent = pair.sent();
    let Packet::Connect(c) = sent[0].view() else {
        panic!()
    };
    assert!(c
        .properties
        .iter()
        .any(|p| p == Property::AuthenticationMethod("TOY")));
    let props = [
        Property::AuthenticationMethod("TOY"),
        Property::AuthenticationData(b"challenge"),
    ];
    pair.recv(Packet::Auth(Auth {
        reason_code: ReasonCode::ContinueAuthentication,
        properties: Properties::Slice(&props),
    }));
    let events = pair.events();
    assert!(
        matches!(events.as_slice(), [Event::AuthChallenge { method, data }] if method == "TOY" && data.as_deref() == Some(&b"challenge"[..]))
    );
    pair.client
        .auth_continue(Some(b"response".to_vec()))
        .unwrap();
    let sent = pair.sent();
    let Packet::Auth(a) = sent[0].view() else {
        panic!()
    };
    assert_eq!(a.reason_code, ReasonCode::ContinueAuthentication);
    assert!(a
        .properties
        .iter()
        .any(|p| p == Property::AuthenticationData(b"response")));
    let props = [Property::AuthenticationMethod("TOY")];
    let mut ack = ConnAck::new(ReasonCode::Success);
    ack.properties = Properties::Slice(&props);
    pair.recv(Packet::ConnAck(ack));
    assert!(pair.client.is_connected());
}

#[test]
fn local_disconnect_sends_disconnect_and_keeps_inflight() {
    let mut config = ClientConfig::new(ProtocolVersion::V5, "c1");
    config.session_expiry_interval = Some(60);
    let mut pair = Pair::new(config);
    pair.establish(false, &[]);
    pair.client
        .publish(OutgoingMessage::new("t", "x").with_qos(QoS::AtLeastOnce))
        .unwrap();
    let _ = pair.sent();
    pair.client.disconnect(
        ReasonCode::DisconnectWithWillMessage,
        None,
        AckProperties::default(),
    );
    let sent = pair.sent();
    let Packet::Disconnect(d) = sent[0].view() else {
        panic!()
    };
    assert_eq!(d.reason_code, ReasonCode::DisconnectWithWillMessage);
    assert!(pair.client.is_closing());
    assert_eq!(pair.client.inflight_len(), 1);
    assert!(pair.client.has_pending_work());
    let _ = String::new();
}

/// A minimal persistent-session server for the fault test: QoS 1 and 2 receiver (method A) and
/// a QoS 2 sender that echoes every message it accepts back to the client.
#[derive(Default)]
struct ModelServer {
    /// QoS 2 identifiers received and not yet released.
    inbound_qos2: BTreeSet<u16>,
    /// Payloads accepted from the client, in order (duplicates would show here).
    accepted: Vec<Vec<u8>>,
    /// Echoes in flight to the client: id -> (payload, PUBREL sent).
    outbound: BTreeMap<u16, (Vec<u8>, bool)>,
    /// Echoes not yet sent, waiting for the connection.
    next_id: u16,
}

impl ModelServer {
    fn handle(&mut self, p: Packet<'_>, out: &mut Vec<u8>) {
        let v = ProtocolVersion::V5;
        let mut send = |p: Packet<'_>| out.extend(p.encode_to_vec(v).unwrap());
        match p {
            Packet::Publish(p) => match (p.qos, p.packet_id) {
                (QoS::ExactlyOnce, Some(id)) => {
                    if self.inbound_qos2.insert(id) {
                        self.accepted.push(p.payload.to_vec());
                        self.next_id = self.next_id % 60_000 + 1;
                        self.outbound
                            .insert(self.next_id, (p.payload.to_vec(), false));
                        let mut echo = Publish::new("echo", p.payload);
                        echo.qos = QoS::ExactlyOnce;
                        echo.packet_id = Some(self.next_id);
                        send(Packet::Publish(echo));
                    }
                    send(Packet::PubRec(PubRec::new(id)));
                }
                (QoS::AtLeastOnce, Some(id)) => {
                    self.accepted.push(p.payload.to_vec());
                    send(Packet::PubAck(PubAck::new(id)));
                }
                _ => self.accepted.push(p.payload.to_vec()),
            },
            Packet::PubRel(r) => {
                self.inbound_qos2.remove(&r.packet_id);
                send(Packet::PubComp(PubComp::new(r.packet_id)));
            }
            Packet::PubRec(r) => {
                if let Some(e) = self.outbound.get_mut(&r.packet_id) {
                    e.1 = true;
                }
                send(Packet::PubRel(PubRel::new(r.packet_id)));
            }
            Packet::PubComp(c) => {
                self.outbound.remove(&c.packet_id);
            }
            Packet::Connect(_) => {
                let mut ack = ConnAck::new(ReasonCode::Success);
                ack.session_present = self.next_id > 0 || !self.accepted.is_empty();
                send(Packet::ConnAck(ack));
                // Resume: resend unacknowledged echoes (DUP) and PUBRELs, in identifier order.
                for (id, (payload, released)) in &self.outbound {
                    if *released {
                        send(Packet::PubRel(PubRel::new(*id)));
                    } else {
                        let mut echo = Publish::new("echo", payload);
                        echo.qos = QoS::ExactlyOnce;
                        echo.packet_id = Some(*id);
                        echo.dup = true;
                        send(Packet::Publish(echo));
                    }
                }
            }
            Packet::PingReq(_) => send(Packet::PingResp(codec::PingResp)),
            _ => {}
        }
    }
}

/// The fault schedule's draws.
struct Rng(crate::rng::SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// True with probability `n / d`.
    fn chance(&mut self, n: u64, d: u64) -> bool {
        self.next() % d < n
    }
}

/// Connections cut at random points (bytes in flight lost both ways), then a healed phase:
/// every QoS 2 message is accepted by the server exactly once, every echo is delivered to the
/// application exactly once, every QoS 1 message at least once, and every publish completes.
#[test]
fn random_connection_cuts_keep_exactly_once_and_complete_every_flow() {
    for seed in 0..40u64 {
        let mut rng = Rng(crate::rng::SplitMix64::new(seed));
        let mut config = ClientConfig::new(ProtocolVersion::V5, "chaos");
        config.session_expiry_interval = Some(600);
        config.clean_start = false;
        let mut client = ClientSession::new(config);
        let mut server = ModelServer::default();
        let mut decoder = StreamDecoder::new(ProtocolVersion::V5, u32::MAX);
        let mut now = Instant::from_secs(1);
        let mut ids = BTreeMap::new();
        let mut completed = BTreeMap::new();
        let mut delivered: Vec<Vec<u8>> = Vec::new();
        let total = 30u8;
        let mut next_payload = 0u8;
        client.connect(now);
        for step in 0..2_000 {
            let faulty = step < 1_000;
            now = now.add_millis(10);
            if next_payload < total && rng.chance(1, 3) {
                let qos = if next_payload % 3 == 0 {
                    QoS::AtLeastOnce
                } else {
                    QoS::ExactlyOnce
                };
                let id = client
                    .publish(OutgoingMessage::new("t", vec![next_payload]).with_qos(qos))
                    .unwrap();
                ids.insert(id, next_payload);
                next_payload += 1;
            }
            // Client -> server, maybe cut before delivery.
            let mut bytes = Vec::new();
            let _ = client.poll_transmit(now, &mut bytes);
            let mut to_client = Vec::new();
            let cut = faulty && rng.chance(1, 12);
            if !cut {
                decoder.push(&bytes);
                while let Some(p) = decoder.next_packet().unwrap() {
                    server.handle(p.view(), &mut to_client);
                }
            }
            // Server -> client, maybe cut before delivery (or cut now if above).
            let cut = cut || (faulty && rng.chance(1, 12));
            if cut {
                client.handle_connection_lost(now);
                decoder = StreamDecoder::new(ProtocolVersion::V5, u32::MAX);
                client.connect(now);
            } else {
                client.handle_bytes(now, &to_client);
            }
            while let Some(e) = client.poll_event() {
                match e {
                    Event::Message(m) => delivered.push(m.payload),
                    Event::PublishComplete {
                        id, reason_code, ..
                    } => {
                        assert!(
                            completed.insert(id, reason_code).is_none(),
                            "seed {seed}: {id:?} completed twice"
                        );
                    }
                    _ => {}
                }
            }
            if let Some(t) = client.poll_timeout() {
                if t <= now {
                    client.handle_timeout(now);
                }
            }
        }
        assert_eq!(
            completed.len(),
            usize::from(total),
            "seed {seed}: every publish completes"
        );
        assert!(
            completed.values().all(|r| *r == ReasonCode::Success),
            "seed {seed}"
        );
        for p in 0..total {
            let at_server = server
                .accepted
                .iter()
                .filter(|a| a.as_slice() == [p])
                .count();
            let echoed = delivered.iter().filter(|a| a.as_slice() == [p]).count();
            if p % 3 == 0 {
                assert!(at_server >= 1, "seed {seed}: QoS 1 message {p} lost");
            } else {
                assert_eq!(
                    at_server, 1,
                    "seed {seed}: QoS 2 message {p} accepted {at_server} times"
                );
                assert_eq!(
                    echoed, 1,
                    "seed {seed}: echo of {p} delivered {echoed} times"
                );
            }
        }
        assert_eq!(client.inflight_len(), 0, "seed {seed}");
        assert_eq!(client.incoming_qos2_len(), 0, "seed {seed}");
        assert!(
            server.outbound.is_empty(),
            "seed {seed}: echoes left in flight"
        );
    }
}
