//! CONNECT, enhanced authentication and DISCONNECT: who gets in, with which session and keep
//! alive, and what becomes of the will.
//!
//! Enforces: the first packet is CONNECT ([MQTT-3.1.0-1] (both)) (in `mod`'s dispatch); protocol level
//! refusal ([MQTT-3.1.2-2] (3.1.1)); will checks against Maximum QoS / Retain Available
//! ([MQTT-3.2.2-12], [MQTT-3.2.2-13] (5.0)) and topic policy; client identifier assignment
//! ([MQTT-3.1.3-6] (5.0)) and refusal ([MQTT-3.1.3-8] (3.1.1)); session takeover
//! ([MQTT-3.1.4-3]); Clean Start and Session Present ([MQTT-3.1.2-4], [MQTT-3.2.2-3] (5.0));
//! resending unacknowledged messages on resume ([MQTT-4.4.0-1] (both)); enhanced authentication
//! ([MQTT-4.12.0-1], [MQTT-4.12.0-5], [MQTT-4.12.0-7], [MQTT-3.1.2-30] (5.0)); DISCONNECT's
//! session expiry rule (5.0 §3.14.2.2.2) and will deletion ([MQTT-3.14.4-3] (5.0)).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::super::auth::{AuthDecision, AuthRequest, Subject};
use super::super::config::DollarPublish;
use super::super::storage::{Message, MessageProps, OutState, Queued, Session, Storage};
use super::outgoing::encode_vec;
use super::*;
use crate::codec::{Properties, Property};
use crate::time::Instant;
use crate::topic;

/// The CONNECT properties the engine acts on, gathered in one pass over the codec's view
/// (3.1.1: none). The codec has refused duplicates and properties CONNECT may not carry.
#[derive(Debug, Default, Clone, Copy)]
struct ConnectProps<'a> {
    session_expiry: Option<u32>,
    receive_maximum: Option<u16>,
    maximum_packet_size: Option<u32>,
    topic_alias_maximum: Option<u16>,
    request_response_info: Option<u8>,
    auth_method: Option<&'a str>,
    auth_data: Option<&'a [u8]>,
}

impl<'a> ConnectProps<'a> {
    fn of(properties: &Properties<'a>) -> Self {
        let mut p = ConnectProps::default();
        for prop in properties.iter() {
            match prop {
                Property::SessionExpiryInterval(x) => p.session_expiry = Some(x),
                Property::ReceiveMaximum(x) => p.receive_maximum = Some(x),
                Property::MaximumPacketSize(x) => p.maximum_packet_size = Some(x),
                Property::TopicAliasMaximum(x) => p.topic_alias_maximum = Some(x),
                Property::RequestResponseInformation(x) => p.request_response_info = Some(x),
                Property::AuthenticationMethod(x) => p.auth_method = Some(x),
                Property::AuthenticationData(x) => p.auth_data = Some(x),
                _ => {}
            }
        }
        p
    }
}

/// The Authentication Method and Data of an AUTH (the codec allows one of each).
fn auth_props<'a>(properties: &Properties<'a>) -> (Option<&'a str>, Option<&'a [u8]>) {
    let (mut method, mut data) = (None, None);
    for prop in properties.iter() {
        match prop {
            Property::AuthenticationMethod(x) => method = Some(x),
            Property::AuthenticationData(x) => data = Some(x),
            _ => {}
        }
    }
    (method, data)
}

impl<S: Storage> Broker<S> {
    /// Refuses a CONNECT: CONNACK with `code` (5.0) or its 3.1.1 return code, then close.
    /// `props` must be empty for 3.1.1.
    pub(super) fn refuse(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        version: ProtocolVersion,
        code: ReasonCode,
        props: &[Property<'_>],
    ) {
        let code = if !version.is_v5() {
            v311_refusal(code)
        } else if code.is_error() && code.allowed_in(codec::PacketType::ConnAck) {
            code
        } else {
            // A decode error during enhanced authentication can carry a code CONNACK cannot
            // (0x8F from a SUBSCRIBE): a Protocol Error, then.
            ReasonCode::ProtocolError
        };
        let p = codec::ConnAck {
            properties: Properties::Slice(props),
            ..codec::ConnAck::new(code)
        };
        let data = encode_vec(&codec::Packet::ConnAck(p), version);
        self.transmit(conn, data);
        self.close_with(conn, now, WillFate::Discard, Some(code), "CONNECT refused");
    }

    pub(super) fn on_connect(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        connect: &codec::Connect<'_>,
    ) {
        let v = connect.version;
        let v5 = v.is_v5();
        let props = ConnectProps::of(&connect.properties);
        if let Some(r) = &self.config.redirect {
            // 5.0 §4.11: Server redirection.
            let code = if r.permanent {
                ReasonCode::ServerMoved
            } else {
                ReasonCode::UseAnotherServer
            };
            // Copied out of the config: `refuse` takes `self`.
            let reference = r.reference.clone();
            let server = [Property::ServerReference(&reference)];
            let props: &[Property<'_>] = if v5 { &server } else { &[] };
            self.refuse(conn, now, v, code, props);
            return;
        }
        // Authentication (5.0 §4.12): the authenticator decides; the default has no methods,
        // so any Authentication Method gets 0x8C ([MQTT-4.12.0-1]).
        let method = if v5 { props.auth_method } else { None };
        let decision = self.auth.authenticate(&AuthRequest {
            client_id: connect.client_id,
            username: connect.username,
            password: connect.password,
            method,
            data: props.auth_data,
        });
        let auth_data = match decision {
            AuthDecision::Deny(code) => {
                self.refuse(conn, now, v, code, &[]);
                return;
            }
            AuthDecision::Continue(data) => {
                let Some(method) = method else {
                    // Continue makes no sense without a method: treat as a refusal.
                    self.refuse(conn, now, v, ReasonCode::NotAuthorized, &[]);
                    return;
                };
                // The CONNECT is finished once the exchange is: keep its bytes until then.
                let pending = match PacketBuf::from_packet(&codec::Packet::Connect(*connect), v) {
                    Ok(b) => b,
                    Err(_) => {
                        // Cannot happen for a CONNECT the codec decoded; refuse rather than panic.
                        self.refuse(conn, now, v, ReasonCode::ImplementationSpecificError, &[]);
                        return;
                    }
                };
                if let Some(c) = self.conns.get_mut(&conn) {
                    let deadline = match c.state {
                        State::AwaitConnect(d) => d,
                        _ => now.add_millis(self.config.connect_timeout_ms),
                    };
                    c.state = State::Authenticating(deadline);
                    c.version = v;
                    let rare = c.rare_mut();
                    rare.auth_method = Some(String::from(method));
                    rare.pending_connect = Some(pending);
                }
                let props = [
                    Property::AuthenticationMethod(method),
                    Property::AuthenticationData(&data),
                ];
                let auth = codec::Auth {
                    reason_code: ReasonCode::ContinueAuthentication,
                    properties: Properties::Slice(&props),
                };
                self.send_packet(conn, &codec::Packet::Auth(auth));
                return;
            }
            AuthDecision::Allow(data) => data,
        };
        let auth = method.map(|m| (String::from(m), auth_data));
        self.accept_connect(conn, now, connect, auth);
    }

    /// An AUTH from the client: during CONNECT (0x18) or a re-authentication (0x19, then 0x18).
    pub(super) fn on_auth(&mut self, conn: ConnectionId, now: Instant, auth: &codec::Auth<'_>) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let connected = c.state == State::Connected;
        let Some(method) = c.auth_method().map(String::from) else {
            // [MQTT-4.12.0-7]: no AUTH without an Authentication Method in CONNECT.
            self.fail(
                conn,
                now,
                ReasonCode::ProtocolError,
                "AUTH without authentication method",
            );
            return;
        };
        let (their_method, data) = auth_props(&auth.properties);
        // [MQTT-4.12.0-5]: the same method throughout; 0x18 or (connected) 0x19.
        let code_ok = auth.reason_code == ReasonCode::ContinueAuthentication
            || (connected && auth.reason_code == ReasonCode::ReAuthenticate);
        if their_method != Some(method.as_str()) || !code_ok {
            if connected {
                self.fail(conn, now, ReasonCode::ProtocolError, "bad AUTH");
            } else {
                self.refuse(
                    conn,
                    now,
                    ProtocolVersion::V5,
                    ReasonCode::ProtocolError,
                    &[],
                );
            }
            return;
        }
        // Who asks: the User Name of the CONNECT (the one waiting, or the accepted one), so
        // every step can be held to it (5.0 §4.12.1 lets the server refuse a
        // re-authentication that changes the user).
        let pending = c
            .rare
            .as_ref()
            .and_then(|r| r.pending_connect.as_ref())
            .map(PacketBuf::view);
        let who = match &pending {
            Some(codec::Packet::Connect(p)) => Subject {
                client_id: p.client_id,
                username: p.username,
            },
            _ => Subject {
                client_id: &c.client_id,
                username: c.username(),
            },
        };
        let decision = self.auth.continue_auth(&who, &method, data);
        match (decision, connected) {
            (AuthDecision::Continue(data), _) => {
                let props = [
                    Property::AuthenticationMethod(&method),
                    Property::AuthenticationData(&data),
                ];
                let auth = codec::Auth {
                    reason_code: ReasonCode::ContinueAuthentication,
                    properties: Properties::Slice(&props),
                };
                self.send_packet(conn, &codec::Packet::Auth(auth));
            }
            (AuthDecision::Allow(data), true) => {
                let mut props = Vec::with_capacity(2);
                props.push(Property::AuthenticationMethod(&method));
                if let Some(d) = &data {
                    props.push(Property::AuthenticationData(d));
                }
                let auth = codec::Auth {
                    reason_code: ReasonCode::Success,
                    properties: Properties::Slice(&props),
                };
                self.send_packet(conn, &codec::Packet::Auth(auth));
            }
            (AuthDecision::Allow(data), false) => {
                let Some(pending) = self
                    .conns
                    .get_mut(&conn)
                    .and_then(|c| c.rare.as_mut()?.pending_connect.take())
                else {
                    return;
                };
                let codec::Packet::Connect(connect) = pending.view() else {
                    // Only a CONNECT is kept there.
                    return;
                };
                self.accept_connect(conn, now, &connect, Some((method, data)));
            }
            (AuthDecision::Deny(code), true) => {
                self.fail(conn, now, code, "re-authentication failed")
            }
            (AuthDecision::Deny(code), false) => {
                self.refuse(conn, now, ProtocolVersion::V5, code, &[])
            }
        }
    }

    /// Finishes a CONNECT that passed authentication: admission, client identifier, takeover,
    /// session, keep alive, CONNACK, resends. Each step is a function below, in this order.
    pub(super) fn accept_connect(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        connect: &codec::Connect<'_>,
        auth: Option<(String, Option<Vec<u8>>)>,
    ) {
        let v = connect.version;
        let props = ConnectProps::of(&connect.properties);
        // The will is checked against the Authorizer once the client identifier is known
        // (`%c` rules): refused at CONNECT like a will on a denied topic (see `admit`).
        let admitted = self
            .admit(connect)
            .and_then(|()| self.client_id_for(connect))
            .and_then(|(id, assigned)| match &connect.will {
                Some(w) if !self.allowed(&id, connect.username, w.topic, Access::Write) => {
                    Err(ReasonCode::NotAuthorized)
                }
                _ => Ok((id, assigned)),
            });
        let (client_id, assigned) = match admitted {
            Ok(id) => id,
            Err(code) => {
                self.refuse(conn, now, v, code, &[]);
                return;
            }
        };
        let (requested_expiry, expiry) = self.session_expiry(connect, &props);
        self.take_over(&client_id, connect.clean_start, now);
        let session_present = self.open_session(&client_id, v, expiry, connect.clean_start);
        if let Some(s) = self.store.session_mut(&client_id) {
            if s.user.as_deref() != connect.username {
                s.user = connect.username.map(String::from);
                self.store.session_updated(&client_id);
            }
        }
        let ka = self.keep_alive_for(connect);
        let will = connect.will.map(|w| Box::new(will_of(&w, &client_id)));
        // The connection is there: this runs while handling one of its packets.
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.state = State::Connected;
        c.version = v;
        let shared = SharedStr::from(client_id.as_str());
        c.client_id = shared.clone();
        c.session = self.store.session_key(&client_id);
        c.keep_alive_ms = u64::from(ka) * 1000;
        c.recv_max = props.receive_maximum.unwrap_or(u16::MAX);
        c.max_packet = props.maximum_packet_size.unwrap_or(u32::MAX);
        c.alias_max_out = props.topic_alias_maximum.unwrap_or(0);
        c.will = will;
        c.connect_expiry = expiry;
        let live = c.will.as_deref().map(|w| (w.delay, &w.msg));
        self.store.set_live_will(&client_id, live);
        let method = auth.as_ref().map(|(m, _)| m.clone());
        let username = connect.username.map(String::from);
        if method.is_some() || username.is_some() || c.rare.is_some() {
            let rare = c.rare_mut();
            rare.auth_method = method;
            rare.username = username;
        }
        if let Some(d) = c.keep_alive_deadline() {
            self.arm(d);
        }
        self.connected += 1;
        self.online.insert(shared, conn);
        if let Some(k) = self.conns.get(&conn).and_then(|c| c.session) {
            self.online_keys.insert(k, conn);
        }
        // The 5.0 CONNACK properties, in a fixed order (the one earlier versions sent).
        let response_info = if v.is_v5() && props.request_response_info == Some(1) {
            self.config
                .response_information
                .as_ref()
                .map(|r| format!("{r}{client_id}"))
        } else {
            None
        };
        let mut connack_props = Vec::new();
        if v.is_v5() {
            if expiry != requested_expiry {
                connack_props.push(Property::SessionExpiryInterval(expiry));
            }
            if let Some(id) = &assigned {
                connack_props.push(Property::AssignedClientIdentifier(id));
            }
            if ka != connect.keep_alive {
                connack_props.push(Property::ServerKeepAlive(ka));
            }
            if let Some((method, data)) = &auth {
                // [MQTT-4.12.0-5] (5.0): a successful CONNACK carries the Authentication Method.
                connack_props.push(Property::AuthenticationMethod(method));
                if let Some(d) = data {
                    connack_props.push(Property::AuthenticationData(d));
                }
            }
            if let Some(r) = &response_info {
                connack_props.push(Property::ResponseInformation(r));
            }
            self.limit_props(&mut connack_props);
        }
        let connack = codec::ConnAck {
            session_present,
            reason_code: ReasonCode::Success,
            properties: Properties::Slice(&connack_props),
        };
        self.send_packet(conn, &codec::Packet::ConnAck(connack));
        self.events.push_back(Event::Connected {
            conn,
            client_id: client_id.clone(),
            version: v,
            session_present,
        });
        if session_present {
            self.resend_unacknowledged(conn, &client_id, now);
        }
        self.flush(conn, now);
    }

    /// Whether this CONNECT may come in at all: its will (valid, within our Maximum QoS and
    /// Retain Available, and allowed by topic policy), the connection cap, the session cap.
    fn admit(&self, connect: &codec::Connect<'_>) -> Result<(), ReasonCode> {
        let cfg = &self.config;
        if let Some(w) = &connect.will {
            if topic::validate_topic_name(w.topic).is_err() {
                return Err(ReasonCode::TopicNameInvalid);
            }
            if w.qos.as_u8() > cfg.maximum_qos {
                return Err(ReasonCode::QoSNotSupported); // [MQTT-3.2.2-12] (5.0)
            }
            if w.retain && !cfg.retain_available {
                return Err(ReasonCode::RetainNotSupported); // [MQTT-3.2.2-13] (5.0)
            }
            // The will is a PUBLISH the client makes in advance: the same topic policy applies
            // (a will on a denied topic, or spoofing a `$` system topic, would otherwise pass).
            // Refused at CONNECT with 0x87 Not authorized (3.1.1: return code 5), rather than
            // silently dropped later, so the client knows its will would never be published.
            let dollar =
                topic::is_system_topic(w.topic) && cfg.dollar_publish != DollarPublish::Allow;
            if dollar || self.denied(w.topic) {
                return Err(ReasonCode::NotAuthorized);
            }
        }
        if self.connected >= cfg.max_connections {
            return Err(ReasonCode::QuotaExceeded);
        }
        // A new session past the cap: 0x97 Quota exceeded (3.1.1: return code 3, Server
        // unavailable). Resuming or replacing an existing one is always allowed.
        let new_session =
            connect.client_id.is_empty() || self.store.session(connect.client_id).is_none();
        if new_session && self.store.session_count() >= cfg.max_sessions {
            return Err(ReasonCode::QuotaExceeded);
        }
        Ok(())
    }

    /// The client identifier, and the one we assigned if the client sent none.
    fn client_id_for(
        &mut self,
        connect: &codec::Connect<'_>,
    ) -> Result<(String, Option<String>), ReasonCode> {
        if !connect.client_id.is_empty() {
            return Ok((String::from(connect.client_id), None));
        }
        // [MQTT-3.1.3-6] (5.0) assign one for an empty id; 3.1.1 only with Clean Session 1
        // ([MQTT-3.1.3-8] (3.1.1): otherwise return code 0x02).
        if !connect.version.is_v5() && !connect.clean_start {
            return Err(ReasonCode::ClientIdentifierNotValid);
        }
        // Unique among live sessions ([MQTT-3.1.3-6] (both): "a unique ClientID").
        let mut id = format!("mqttref-{:016x}", self.rng.next_u64());
        while self.store.session(&id).is_some() || self.online.contains_key(id.as_str()) {
            id = format!("mqttref-{:016x}", self.rng.next_u64());
        }
        Ok((id.clone(), Some(id)))
    }

    /// The Session Expiry Interval asked for, and the one granted (capped by
    /// `max_session_expiry`; 3.1.1 Clean Session 0 gets `v311_session_expiry`).
    fn session_expiry(&self, connect: &codec::Connect<'_>, props: &ConnectProps<'_>) -> (u32, u32) {
        let cfg = &self.config;
        let requested = if connect.version.is_v5() {
            props.session_expiry.unwrap_or(0)
        } else if connect.clean_start {
            0
        } else {
            cfg.v311_session_expiry
        };
        (requested, requested.min(cfg.max_session_expiry))
    }

    /// Ends whatever `client_id` had going: its connection ([MQTT-3.1.4-3] (5.0): DISCONNECT
    /// 0x8E to a 5.0 one, then close), and its will waiting for its delay, which a new
    /// connection cancels ([MQTT-3.1.3-9] (5.0)) unless the session ends now (Clean Start), which
    /// publishes it.
    fn take_over(&mut self, client_id: &str, clean_start: bool, now: Instant) {
        if let Some(old) = self.online.get(client_id).copied() {
            if self.conns.get(&old).is_some_and(|c| c.version.is_v5()) {
                let d = codec::Disconnect {
                    reason_code: ReasonCode::SessionTakenOver,
                    ..codec::Disconnect::new()
                };
                self.send_packet(old, &codec::Packet::Disconnect(d));
            }
            self.close(old, now, WillFate::Publish, "session taken over");
        }
        if let Some(msg) = self.take_will(client_id) {
            if clean_start {
                self.route(msg, now);
            }
        }
    }

    /// Starts a new session or resumes the existing one; returns Session Present.
    fn open_session(
        &mut self,
        client_id: &str,
        v: ProtocolVersion,
        expiry: u32,
        clean_start: bool,
    ) -> bool {
        if clean_start || self.store.session(client_id).is_none() {
            // [MQTT-3.1.2-4] (5.0) / [MQTT-3.1.2-6] (3.1.1): discard any existing session.
            self.drop_session(client_id);
            self.store
                .put_session(Session::new(String::from(client_id), v, expiry));
            return false;
        }
        // [MQTT-3.2.2-3] (5.0) / [MQTT-3.2.2-2] (3.1.1): resumed session, Session Present 1.
        self.set_expiry(client_id, None);
        if let Some(s) = self.store.session_mut(client_id) {
            s.expiry_interval = expiry;
            s.version = v;
        }
        self.store.session_updated(client_id);
        true
    }

    /// The keep alive in effect, clamped to the configured bounds ([MQTT-3.2.2-21] (5.0): the
    /// client must use the Server Keep Alive we send; 3.1.1 clients are held to their own).
    fn keep_alive_for(&self, connect: &codec::Connect<'_>) -> u16 {
        let cfg = &self.config;
        let ka = connect.keep_alive;
        if !connect.version.is_v5() {
            return ka;
        }
        if let Some(s) = cfg.server_keep_alive {
            s
        } else if ka == 0 || ka > cfg.max_keep_alive {
            if cfg.max_keep_alive != u16::MAX {
                cfg.max_keep_alive
            } else {
                ka
            }
        } else {
            ka.max(cfg.min_keep_alive)
        }
    }

    /// Appends the 5.0 CONNACK properties that state our limits and capabilities, where they
    /// differ from the protocol's defaults.
    fn limit_props(&self, props: &mut Vec<Property<'_>>) {
        let cfg = &self.config;
        if cfg.receive_maximum != u16::MAX {
            props.push(Property::ReceiveMaximum(cfg.receive_maximum));
        }
        if cfg.topic_alias_maximum > 0 {
            props.push(Property::TopicAliasMaximum(cfg.topic_alias_maximum));
        }
        if cfg.maximum_qos < 2 {
            props.push(Property::MaximumQoS(cfg.maximum_qos));
        }
        if !cfg.retain_available {
            props.push(Property::RetainAvailable(0));
        }
        if cfg.max_packet_size < PROTOCOL_MAX_PACKET {
            props.push(Property::MaximumPacketSize(cfg.max_packet_size));
        }
        if !cfg.wildcard_subscriptions {
            props.push(Property::WildcardSubscriptionAvailable(0));
        }
        if !cfg.subscription_identifiers {
            props.push(Property::SubscriptionIdentifierAvailable(0));
        }
        if !cfg.shared_subscriptions {
            props.push(Property::SharedSubscriptionAvailable(0));
        }
    }

    /// [MQTT-4.4.0-1] (both): resends the resumed session's unacknowledged PUBLISHes (DUP 1)
    /// and PUBRELs, in their original order.
    fn resend_unacknowledged(&mut self, conn: ConnectionId, client_id: &str, now: Instant) {
        let mut resend: Vec<(u64, u16, OutState, Queued)> = self
            .store
            .session(client_id)
            .map(|s| {
                s.inflight
                    .iter()
                    .map(|(pid, f)| (f.seq, *pid, f.state, f.item.clone()))
                    .collect()
            })
            .unwrap_or_default();
        resend.sort_by_key(|r| r.0);
        #[cfg(feature = "fault-injection")]
        if self.config.faults.drop_qos1_on_resume {
            // Planted bug: forget the oldest unacknowledged QoS 1 message.
            if let Some(i) = resend.iter().position(|r| r.2 == OutState::Qos1Sent) {
                let pid = resend.remove(i).1;
                if let Some(s) = self.store.session_mut(client_id) {
                    s.inflight.remove(&pid);
                }
            }
        }
        for (_, pid, state, item) in resend {
            if state == OutState::Released {
                self.send_packet(conn, &codec::Packet::PubRel(codec::PubRel::new(pid)));
            } else if let Some(c) = self.conns.get_mut(&conn) {
                let how = Delivered {
                    pid,
                    dup: true,
                    alias: None,
                    max_len: usize::MAX,
                };
                send_delivery(&mut self.tx, conn, c, item.as_out(), how, now);
            }
        }
    }

    pub(super) fn on_disconnect(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        disconnect: &codec::Disconnect<'_>,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let session_expiry = disconnect.properties.iter().find_map(|p| match p {
            Property::SessionExpiryInterval(e) => Some(e),
            _ => None,
        });
        if let Some(e) = session_expiry {
            // 5.0 §3.14.2.2.2: a Session Expiry Interval of 0 at CONNECT cannot become non-zero at
            // DISCONNECT (a Protocol Error).
            if c.connect_expiry == 0 && e != 0 {
                self.fail(
                    conn,
                    now,
                    ReasonCode::ProtocolError,
                    "session expiry set on DISCONNECT after 0",
                );
                return;
            }
            let e = e.min(self.config.max_session_expiry);
            if let Some(s) = self.store.session_mut(&c.client_id) {
                s.expiry_interval = e;
            }
            self.store.session_updated(&c.client_id);
        }
        // Only 0x00 Normal disconnection deletes the will ([MQTT-3.14.4-3] (both), [MQTT-3.1.2-10] (both));
        // 0x04 Disconnect with Will Message and the error codes leave it to be published, as
        // 5.0 §3.1.2.5 words it. (3.1.1 DISCONNECT has no code: always 0x00.)
        let fate = if disconnect.reason_code == ReasonCode::Success {
            WillFate::Discard
        } else {
            WillFate::Publish
        };
        self.close(conn, now, fate, "DISCONNECT");
    }
}

/// The 5.0 reason code with a 3.1.1 CONNACK return code (3.1.1 §3.2.2.3) closest to `code`;
/// the codec writes its return code.
pub(super) fn v311_refusal(code: ReasonCode) -> ReasonCode {
    use ReasonCode as R;
    match code {
        R::Success
        | R::UnsupportedProtocolVersion
        | R::ClientIdentifierNotValid
        | R::BadUserNameOrPassword
        | R::NotAuthorized => code,
        R::BadAuthenticationMethod => R::NotAuthorized,
        _ => R::ServerUnavailable, // return code 3
    }
}

/// The will of a CONNECT as the engine keeps it until it is published or discarded.
fn will_of(w: &codec::Will<'_>, client_id: &str) -> Will {
    let mut delay = 0;
    let mut props = MessageProps::default();
    for prop in w.properties.iter() {
        match prop {
            Property::WillDelayInterval(x) => delay = x,
            Property::PayloadFormatIndicator(x) => props.payload_format = Some(x),
            Property::MessageExpiryInterval(x) => props.message_expiry = Some(x),
            Property::ContentType(x) => props.content_type = Some(String::from(x)),
            Property::ResponseTopic(x) => props.response_topic = Some(String::from(x)),
            Property::CorrelationData(x) => props.correlation_data = Some(x.to_vec()),
            Property::UserProperty((k, v)) => props.user.push((String::from(k), String::from(v))),
            // The codec refuses properties a will may not carry.
            _ => {}
        }
    }
    Will {
        delay,
        msg: Message {
            topic: String::from(w.topic),
            payload: w.payload.into(),
            qos: w.qos.as_u8(),
            retain: w.retain,
            // The Message Expiry Interval runs from publication (5.0 §3.1.3.2.4): `route`
            // starts it.
            expires_at: None,
            props,
            publisher: Some(String::from(client_id)),
        },
    }
}
