//! The JavaScript face (wasm32 only): [`InPageBroker`] and [`MqttClient`].
//!
//! # Links
//! A client and the broker talk over a `MessagePort` pair. Each message is one chunk of the
//! MQTT byte stream as a `Uint8Array` (any split: framing is the core's); `null` ends the
//! stream (a `MessagePort` has no portable close event). Messages are delivered as tasks of
//! their own, so neither side ever runs inside the other's call: no re-entrancy.
//!
//! # Time
//! `performance.now()` in milliseconds is the core's clock; one `setTimeout` per broker and per
//! client, re-armed after every input from the core's `poll_timeout`.
//!
//! # Errors
//! Every failure is a rejected Promise with an `Error` whose `name` is `MqttError`, whose
//! `kind` is one of `InvalidArgument`, `InvalidTopic`, `InvalidFilter`, `QueueFull`,
//! `NotConnected`, `Refused`, `ProtocolError`, `TransportClosed`, `Timeout`,
//! `ServerDisconnect`, `Disconnected`, `PublishFailed`, `SubscribeFailed`, and which carries a
//! `reasonCode` when the protocol gave one. A panic hook logs any panic to the console.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::string::{String, ToString};
use std::sync::Once;
use std::vec::Vec;

use js_sys::{Function, Promise, Reflect, Uint8Array};
use mqttref_core::broker::ConnectionId;
use mqttref_core::client::{
    AckProperties, ClientConfig, ClientSession, CommandError, DisconnectReason, Event,
    OutgoingMessage, RequestId, SubscribeFilter, SubscribeProperties,
};
use mqttref_core::codec::{ProtocolVersion, QoS, ReasonCode};
use mqttref_core::time::Instant;
use mqttref_core::topic;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageChannel, MessageEvent, MessagePort};

use crate::hub::{Hub, HubOutput};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(f: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(handle: &JsValue);
}

/// The core's clock: milliseconds of `performance.now()` (never negative; `as` saturates).
fn now() -> Instant {
    Instant::from_millis(performance_now() as u64)
}

/// Logs panics to the console (the default on wasm is a bare `unreachable` trap).
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            web_sys::console::error_1(&JsValue::from_str(&std::format!("mqttref-wasm: {info}")));
        }));
    });
}

/// An `Error` named `MqttError` with `kind` and, if given, `reasonCode`.
fn mqtt_error(kind: &str, message: &str, reason_code: Option<ReasonCode>) -> JsValue {
    let e = js_sys::Error::new(message);
    e.set_name("MqttError");
    let _ = Reflect::set(&e, &"kind".into(), &kind.into());
    if let Some(code) = reason_code {
        let _ = Reflect::set(&e, &"reasonCode".into(), &code.as_u8().into());
    }
    e.into()
}

fn command_error(e: &CommandError) -> JsValue {
    let kind = match e {
        CommandError::InvalidTopic(_) => "InvalidTopic",
        CommandError::InvalidFilter(_) | CommandError::NoFilters => "InvalidFilter",
        CommandError::QueueFull | CommandError::NoPacketIdentifier => "QueueFull",
        CommandError::NotConnected => "NotConnected",
        _ => "InvalidArgument",
    };
    mqtt_error(kind, &e.to_string(), None)
}

fn disconnect_error(reason: &DisconnectReason) -> JsValue {
    match reason {
        DisconnectReason::Refused { reason_code, .. } => mqtt_error(
            "Refused",
            &std::format!("connection refused: {}", reason_code.name()),
            Some(*reason_code),
        ),
        DisconnectReason::ProtocolError {
            reason_code,
            detail,
        } => mqtt_error(
            "ProtocolError",
            &std::format!("the server broke the protocol: {detail:?}"),
            Some(*reason_code),
        ),
        DisconnectReason::Server { reason_code, .. } => mqtt_error(
            "ServerDisconnect",
            &std::format!("the server disconnected: {}", reason_code.name()),
            Some(*reason_code),
        ),
        DisconnectReason::ConnectTimeout | DisconnectReason::KeepAliveTimeout => {
            mqtt_error("Timeout", "the server stopped answering", None)
        }
        DisconnectReason::Local { reason_code } => {
            mqtt_error("Disconnected", "disconnected", Some(*reason_code))
        }
        _ => mqtt_error("TransportClosed", "the connection closed", None),
    }
}

/// A Promise and its settle functions.
fn deferred() -> Option<(Promise, Function, Function)> {
    let mut slots = None;
    let p = Promise::new(&mut |res, rej| slots = Some((res, rej)));
    slots.map(|(res, rej)| (p, res, rej))
}

fn rejected(e: JsValue) -> Promise {
    Promise::reject(&e)
}

/// One `setTimeout`, re-armed in place.
#[derive(Default)]
struct Timer {
    handle: Option<JsValue>,
    closure: Option<Closure<dyn FnMut()>>,
}

impl Timer {
    fn arm(&mut self, at: Option<Instant>, fire: impl FnMut() + 'static) {
        self.cancel();
        if let Some(at) = at {
            let delay = at.millis_since(now()) as f64;
            let c = Closure::<dyn FnMut()>::new(fire);
            self.handle = Some(set_timeout(c.as_ref().unchecked_ref(), delay));
            self.closure = Some(c);
        }
    }

    fn cancel(&mut self) {
        if let Some(h) = self.handle.take() {
            clear_timeout(&h);
        }
        // A closure dropped while it runs is freed by the bindings when it returns.
        self.closure = None;
    }
}

/// What a link message is.
enum Chunk {
    /// Bytes of the stream.
    Bytes(Vec<u8>),
    /// `null` (or `undefined`): the other side ended the stream.
    End,
    /// Anything else (a string, an object): not this link's protocol. The receiver ends the
    /// link rather than guess; nothing that could throw (a typed array constructor given a
    /// huge number) is called on it.
    Invalid,
}

fn chunk(data: &JsValue) -> Chunk {
    if data.is_null() || data.is_undefined() {
        Chunk::End
    } else if let Some(a) = data.dyn_ref::<Uint8Array>() {
        Chunk::Bytes(a.to_vec())
    } else if data.is_instance_of::<js_sys::ArrayBuffer>() {
        Chunk::Bytes(Uint8Array::new(data).to_vec())
    } else {
        Chunk::Invalid
    }
}

fn post(port: &MessagePort, data: &[u8]) {
    let _ = port.post_message(&Uint8Array::from(data));
}

fn end(port: &MessagePort) {
    let _ = port.post_message(&JsValue::NULL);
    port.set_onmessage(None);
    port.close();
}

// ----- The broker. -----

struct Link {
    port: MessagePort,
    _onmessage: Closure<dyn FnMut(MessageEvent)>,
}

struct BrokerInner {
    hub: Hub,
    links: BTreeMap<ConnectionId, Link>,
    timer: Timer,
}

/// An MQTT broker in the page: the core's broker engine, memory-only storage, a seeded RNG.
/// Clients reach it over `MessagePort`s ([`InPageBroker::attach`]).
#[wasm_bindgen]
pub struct InPageBroker {
    inner: Rc<RefCell<BrokerInner>>,
}

#[wasm_bindgen]
impl InPageBroker {
    /// A broker whose random choices (assigned client identifiers, shared-subscription
    /// rotation) come from `seed`.
    #[wasm_bindgen(constructor)]
    pub fn new(seed: u32) -> InPageBroker {
        install_panic_hook();
        InPageBroker {
            inner: Rc::new(RefCell::new(BrokerInner {
                hub: Hub::new(u64::from(seed)),
                links: BTreeMap::new(),
                timer: Timer::default(),
            })),
        }
    }

    /// Serves one client on `port` (its other end is the client's).
    pub fn attach(&self, port: MessagePort) {
        let weak = Rc::downgrade(&self.inner);
        let conn = self.inner.borrow_mut().hub.attach(now());
        let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let Some(inner) = weak.upgrade() else { return };
            let outs = {
                let mut b = inner.borrow_mut();
                match chunk(&ev.data()) {
                    Chunk::Bytes(bytes) => b.hub.input(conn, now(), &bytes),
                    Chunk::End => {
                        if let Some(link) = b.links.remove(&conn) {
                            link.port.set_onmessage(None);
                            link.port.close();
                        }
                        b.hub.detach(conn, now())
                    }
                    Chunk::Invalid => {
                        if let Some(link) = b.links.remove(&conn) {
                            end(&link.port);
                        }
                        b.hub.detach(conn, now())
                    }
                }
            };
            broker_route(&inner, outs);
        });
        port.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        self.inner.borrow_mut().links.insert(
            conn,
            Link {
                port,
                _onmessage: onmessage,
            },
        );
        broker_rearm(&self.inner);
    }

    /// A client of this broker, connected: `MqttClient.connect` over a new channel.
    #[wasm_bindgen(js_name = connectClient)]
    pub fn connect_client(&self, client_id: String, protocol_version: Option<u8>) -> Promise {
        let channel = match MessageChannel::new() {
            Ok(c) => c,
            Err(e) => return rejected(e),
        };
        self.attach(channel.port2());
        MqttClient::connect(channel.port1(), client_id, protocol_version)
    }

    /// Open client links.
    #[wasm_bindgen(getter, js_name = connectionCount)]
    pub fn connection_count(&self) -> usize {
        self.inner.borrow().hub.connection_count()
    }

    /// Ends every link and stops the timer; the broker keeps no reference to the page after.
    pub fn close(&self) {
        let mut b = self.inner.borrow_mut();
        b.timer.cancel();
        let links = std::mem::take(&mut b.links);
        for (conn, link) in links {
            end(&link.port);
            let _ = b.hub.detach(conn, now());
        }
        b.timer.cancel();
    }
}

fn broker_route(inner: &Rc<RefCell<BrokerInner>>, outs: Vec<HubOutput>) {
    {
        let mut b = inner.borrow_mut();
        for o in outs {
            match o {
                HubOutput::Data(conn, data) => {
                    if let Some(link) = b.links.get(&conn) {
                        post(&link.port, &data);
                    }
                }
                HubOutput::Closed(conn) => {
                    if let Some(link) = b.links.remove(&conn) {
                        end(&link.port);
                    }
                }
            }
        }
    }
    broker_rearm(inner);
}

fn broker_rearm(inner: &Rc<RefCell<BrokerInner>>) {
    let weak = Rc::downgrade(inner);
    let mut b = inner.borrow_mut();
    let at = b.hub.next_timeout();
    b.timer.arm(at, move || {
        let Some(inner) = weak.upgrade() else { return };
        let outs = inner.borrow_mut().hub.timeout(now());
        broker_route(&inner, outs);
    });
}

// ----- The client. -----

enum Pending {
    Publish,
    Subscribe(String, Function),
    Unsubscribe(String),
}

struct ClientInner {
    session: ClientSession,
    port: MessagePort,
    onmessage: Option<Closure<dyn FnMut(MessageEvent)>>,
    timer: Timer,
    connecting: Option<(Function, Function)>,
    disconnecting: Vec<Function>,
    pending: BTreeMap<RequestId, (Function, Function, Pending)>,
    /// Message callbacks by filter.
    callbacks: BTreeMap<String, Function>,
    ondisconnect: Option<Function>,
    /// The link is gone; commands are refused.
    done: bool,
}

/// A JavaScript call to make once the client is no longer borrowed.
enum Call {
    Settle(Function, JsValue),
    Message(Function, String, Vec<u8>, u8),
}

/// An MQTT client over a `MessagePort` link: Promise-based commands, callbacks per
/// subscription.
#[wasm_bindgen]
pub struct MqttClient {
    inner: Rc<RefCell<ClientInner>>,
}

#[wasm_bindgen]
impl MqttClient {
    /// Connects over `port` as `client_id` (empty: the broker assigns one) with MQTT
    /// `protocol_version` 5 (the default) or 4 (3.1.1). Resolves to the connected client;
    /// rejects with `Refused`, `ProtocolError`, `TransportClosed` or `Timeout`.
    pub fn connect(port: MessagePort, client_id: String, protocol_version: Option<u8>) -> Promise {
        match MqttClient::start(port, client_id, protocol_version) {
            Ok((_, promise)) => promise,
            Err(e) => rejected(e),
        }
    }

    /// Publishes `payload` to `topic` at `qos` (0, 1 or 2). Resolves with the reason code once
    /// complete (QoS 0: handed to the link; 1: PUBACK; 2: PUBCOMP); rejects with
    /// `PublishFailed` and the reason code when the broker refuses it.
    pub fn publish(
        &self,
        topic: String,
        payload: Vec<u8>,
        qos: u8,
        retain: Option<bool>,
    ) -> Promise {
        let Some(qos) = QoS::from_u8(qos) else {
            return rejected(mqtt_error("InvalidArgument", "QoS is 0, 1 or 2", None));
        };
        let msg = OutgoingMessage::new(topic, payload)
            .with_qos(qos)
            .with_retain(retain.unwrap_or(false));
        self.command(Pending::Publish, |s| s.publish(msg))
    }

    /// Subscribes to `filter` at most at `qos`; `callback(topic, payload, qos)` gets each
    /// message that matches it. Resolves with the granted QoS; rejects with `SubscribeFailed`.
    pub fn subscribe(&self, filter: String, qos: u8, callback: Function) -> Promise {
        let Some(qos) = QoS::from_u8(qos) else {
            return rejected(mqtt_error("InvalidArgument", "QoS is 0, 1 or 2", None));
        };
        let filters = std::vec![SubscribeFilter::new(filter.clone(), qos)];
        self.command(Pending::Subscribe(filter, callback), |s| {
            s.subscribe(filters, SubscribeProperties::default())
        })
    }

    /// Unsubscribes from `filter`; its callback gets nothing more once this resolves.
    pub fn unsubscribe(&self, filter: String) -> Promise {
        let filters = std::vec![filter.clone()];
        self.command(Pending::Unsubscribe(filter), |s| {
            s.unsubscribe(filters, Vec::new())
        })
    }

    /// Sends DISCONNECT and closes the link; resolves when it is closed.
    pub fn disconnect(&self) -> Promise {
        let Some((promise, resolve, _)) = deferred() else {
            return rejected(mqtt_error("InvalidArgument", "no Promise executor", None));
        };
        {
            let mut c = self.inner.borrow_mut();
            if c.done {
                return Promise::resolve(&JsValue::UNDEFINED);
            }
            c.disconnecting.push(resolve);
            c.session
                .disconnect(ReasonCode::Success, None, AckProperties::default());
        }
        client_pump(&self.inner);
        promise
    }

    /// `callback(error)` when the connection ends for any reason but [`MqttClient::disconnect`]
    /// (the error says why, as a rejection would).
    #[wasm_bindgen(setter)]
    pub fn set_ondisconnect(&self, callback: Option<Function>) {
        self.inner.borrow_mut().ondisconnect = callback;
    }

    /// Whether the connection is up.
    #[wasm_bindgen(getter)]
    pub fn connected(&self) -> bool {
        self.inner.borrow().session.is_connected()
    }
}

impl MqttClient {
    /// [`MqttClient::connect`] for Rust callers: the client at once, beside the Promise of its
    /// connection.
    ///
    /// # Errors
    /// An unknown protocol version.
    pub fn start(
        port: MessagePort,
        client_id: String,
        protocol_version: Option<u8>,
    ) -> Result<(MqttClient, Promise), JsValue> {
        install_panic_hook();
        let version = match protocol_version.unwrap_or(5) {
            5 => ProtocolVersion::V5,
            4 => ProtocolVersion::V3_1_1,
            v => {
                return Err(mqtt_error(
                    "InvalidArgument",
                    &std::format!("protocol version {v}: 4 (3.1.1) or 5"),
                    None,
                ))
            }
        };
        let Some((promise, resolve, reject)) = deferred() else {
            return Err(mqtt_error("InvalidArgument", "no Promise executor", None));
        };
        let mut session = ClientSession::new(ClientConfig::new(version, client_id));
        session.connect(now());
        let inner = Rc::new(RefCell::new(ClientInner {
            session,
            port: port.clone(),
            onmessage: None,
            timer: Timer::default(),
            connecting: Some((resolve, reject)),
            disconnecting: Vec::new(),
            pending: BTreeMap::new(),
            callbacks: BTreeMap::new(),
            ondisconnect: None,
            done: false,
        }));
        // Strong: the link keeps the client alive until it ends (`client_pump` drops this
        // closure then), whoever holds the `MqttClient`.
        let this = Rc::clone(&inner);
        let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let inner = &this;
            {
                let mut c = inner.borrow_mut();
                match chunk(&ev.data()) {
                    Chunk::Bytes(bytes) => c.session.handle_bytes(now(), &bytes),
                    Chunk::End => c.session.handle_connection_lost(now()),
                    // `client_pump` ends the link for the other side too.
                    Chunk::Invalid => c.session.handle_connection_lost(now()),
                }
            }
            client_pump(inner);
        });
        port.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        inner.borrow_mut().onmessage = Some(onmessage);
        client_pump(&inner);
        Ok((MqttClient { inner }, promise))
    }

    fn command(
        &self,
        kind: Pending,
        f: impl FnOnce(&mut ClientSession) -> Result<RequestId, CommandError>,
    ) -> Promise {
        let Some((promise, resolve, reject)) = deferred() else {
            return rejected(mqtt_error("InvalidArgument", "no Promise executor", None));
        };
        {
            let mut c = self.inner.borrow_mut();
            if c.done {
                return rejected(mqtt_error("NotConnected", "the connection is closed", None));
            }
            match f(&mut c.session) {
                Ok(id) => {
                    c.pending.insert(id, (resolve, reject, kind));
                }
                Err(e) => return rejected(command_error(&e)),
            }
        }
        client_pump(&self.inner);
        promise
    }
}

/// Sends what the session has, turns its events into Promise settlements and callbacks
/// (made after the borrow ends: JavaScript may call back in), and re-arms the timer.
fn client_pump(inner: &Rc<RefCell<ClientInner>>) {
    let mut calls = Vec::new();
    {
        let mut c = inner.borrow_mut();
        let c = &mut *c;
        loop {
            let t = now();
            let mut buf = Vec::new();
            if c.session.poll_transmit(t, &mut buf) && !c.done {
                post(&c.port, &buf);
            }
            let mut any = false;
            while let Some(ev) = c.session.poll_event() {
                any = true;
                client_event(inner, c, ev, &mut calls);
            }
            if c.session.is_closing() {
                // What it had to send went out above; the link ends below (`done`).
                c.session.handle_connection_lost(t);
                continue;
            }
            if !any {
                break;
            }
        }
        if c.done {
            c.timer.cancel();
            if c.onmessage.take().is_some() {
                // Once: tell the other side (after the bytes posted before), then let go.
                end(&c.port);
            }
        } else {
            let weak = Rc::downgrade(inner);
            let at = c.session.poll_timeout();
            c.timer.arm(at, move || {
                let Some(inner) = weak.upgrade() else { return };
                inner.borrow_mut().session.handle_timeout(now());
                client_pump(&inner);
            });
        }
    }
    for call in calls {
        let _ = match call {
            Call::Settle(f, v) => f.call1(&JsValue::UNDEFINED, &v),
            Call::Message(f, topic, payload, qos) => f.call3(
                &JsValue::UNDEFINED,
                &topic.into(),
                &Uint8Array::from(&payload[..]).into(),
                &qos.into(),
            ),
        };
    }
}

fn client_event(
    rc: &Rc<RefCell<ClientInner>>,
    c: &mut ClientInner,
    ev: Event,
    calls: &mut Vec<Call>,
) {
    match ev {
        Event::Connected(_) => {
            if let Some((resolve, _)) = c.connecting.take() {
                let client = MqttClient {
                    inner: Rc::clone(rc),
                };
                calls.push(Call::Settle(resolve, client.into()));
            }
        }
        Event::Message(m) => {
            for (filter, f) in &c.callbacks {
                if topic::matches(unshared(filter), &m.topic) {
                    calls.push(Call::Message(
                        f.clone(),
                        m.topic.clone(),
                        m.payload.clone(),
                        m.qos as u8,
                    ));
                }
            }
        }
        Event::PublishComplete {
            id, reason_code, ..
        } => {
            if let Some((resolve, reject, _)) = c.pending.remove(&id) {
                calls.push(if reason_code.is_error() {
                    Call::Settle(
                        reject,
                        mqtt_error("PublishFailed", reason_code.name(), Some(reason_code)),
                    )
                } else {
                    Call::Settle(resolve, reason_code.as_u8().into())
                });
            }
        }
        Event::SubscribeComplete {
            id, reason_codes, ..
        } => {
            if let Some((resolve, reject, kind)) = c.pending.remove(&id) {
                let code = reason_codes
                    .first()
                    .copied()
                    .unwrap_or(ReasonCode::UnspecifiedError);
                if code.is_error() {
                    calls.push(Call::Settle(
                        reject,
                        mqtt_error("SubscribeFailed", code.name(), Some(code)),
                    ));
                } else {
                    if let Pending::Subscribe(filter, callback) = kind {
                        c.callbacks.insert(filter, callback);
                    }
                    calls.push(Call::Settle(resolve, code.as_u8().into()));
                }
            }
        }
        Event::UnsubscribeComplete { id, .. } => {
            if let Some((resolve, _, kind)) = c.pending.remove(&id) {
                if let Pending::Unsubscribe(filter) = kind {
                    c.callbacks.remove(&filter);
                }
                calls.push(Call::Settle(resolve, JsValue::UNDEFINED));
            }
        }
        Event::Disconnected(reason) => {
            c.done = true;
            let local = matches!(reason, DisconnectReason::Local { .. });
            let err = disconnect_error(&reason);
            if let Some((_, reject)) = c.connecting.take() {
                calls.push(Call::Settle(reject, err.clone()));
            }
            for (_, (_, reject, _)) in std::mem::take(&mut c.pending) {
                calls.push(Call::Settle(reject, err.clone()));
            }
            for resolve in std::mem::take(&mut c.disconnecting) {
                calls.push(Call::Settle(resolve, JsValue::UNDEFINED));
            }
            if !local {
                if let Some(f) = c.ondisconnect.clone() {
                    calls.push(Call::Settle(f, err));
                }
            }
        }
        _ => {}
    }
}

/// The filter a `$share/{name}/` filter matches with.
fn unshared(filter: &str) -> &str {
    filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(filter, |(_, inner)| inner)
}
