//! The JavaScript API in Node (`cargo xtask wasm test`): clients through the in-page broker,
//! and typed errors for bad input.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect, Uint8Array};
use mqttref_wasm::{InPageBroker, MqttClient};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::{MessageChannel, MessageEvent};

async fn sleep(ms: f64) {
    // The global `setTimeout` (the library imports it too, under the same name: an import of
    // its own here would clash at link time).
    let set_timeout: Function = field(&js_sys::global(), "setTimeout").unchecked_into();
    let p = Promise::new(&mut |resolve, _| {
        let _ = set_timeout.call2(&JsValue::UNDEFINED, &resolve, &ms.into());
    });
    let _ = JsFuture::from(p).await;
}

/// Waits up to two seconds for `done`.
async fn until(done: impl Fn() -> bool) -> bool {
    for _ in 0..400 {
        if done() {
            return true;
        }
        sleep(5.0).await;
    }
    done()
}

fn field(v: &JsValue, name: &str) -> JsValue {
    Reflect::get(v, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// The `kind` of a typed error, and that it is one.
fn kind(err: &JsValue) -> String {
    assert_eq!(field(err, "name").as_string().as_deref(), Some("MqttError"));
    field(err, "kind").as_string().unwrap_or_default()
}

async fn client(broker: &InPageBroker, id: &str, version: u8) -> MqttClient {
    let channel = MessageChannel::new().unwrap();
    broker.attach(channel.port2());
    let (client, connected) = MqttClient::start(channel.port1(), id.into(), Some(version)).unwrap();
    JsFuture::from(connected).await.expect("connected");
    assert!(client.connected());
    client
}

type Received = Rc<RefCell<Vec<(String, Vec<u8>, u8)>>>;

fn recorder() -> (Received, Function) {
    let got: Received = Rc::default();
    let sink = Rc::clone(&got);
    let f = Closure::<dyn FnMut(String, Uint8Array, u8)>::new(move |t, p: Uint8Array, q| {
        sink.borrow_mut().push((t, p.to_vec(), q));
    });
    (got, f.into_js_value().unchecked_into())
}

#[wasm_bindgen_test]
async fn two_clients_exchange_qos_0_1_2_through_the_in_page_broker() {
    let broker = InPageBroker::new(7);
    let publisher = client(&broker, "pub", 5).await;
    let subscriber = client(&broker, "sub", 4).await;
    assert_eq!(broker.connection_count(), 2);

    let (got, callback) = recorder();
    let granted = JsFuture::from(subscriber.subscribe("t/#".into(), 2, callback))
        .await
        .expect("subscribed");
    assert_eq!(granted.as_f64(), Some(2.0));

    for qos in 0..3u8 {
        let done = JsFuture::from(publisher.publish(format!("t/{qos}"), vec![qos; 4], qos, None))
            .await
            .expect("published");
        assert_eq!(done.as_f64(), Some(0.0), "reason code Success");
    }
    assert!(until(|| got.borrow().len() == 3).await);
    assert_eq!(
        *got.borrow(),
        [
            ("t/0".to_string(), vec![0; 4], 0),
            ("t/1".to_string(), vec![1; 4], 1),
            ("t/2".to_string(), vec![2; 4], 2),
        ]
    );

    // Unsubscribed: nothing more arrives.
    JsFuture::from(subscriber.unsubscribe("t/#".into()))
        .await
        .expect("unsubscribed");
    JsFuture::from(publisher.publish("t/late".into(), vec![9], 1, None))
        .await
        .expect("published");
    sleep(20.0).await;
    assert_eq!(got.borrow().len(), 3);

    JsFuture::from(publisher.disconnect()).await.unwrap();
    JsFuture::from(subscriber.disconnect()).await.unwrap();
    assert!(!publisher.connected());
    assert!(until(|| broker.connection_count() == 0).await);
    // Commands after the end are refused, not lost.
    let err = JsFuture::from(publisher.publish("t".into(), vec![], 0, None))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), "NotConnected");
    broker.close();
}

#[wasm_bindgen_test]
async fn a_malformed_connack_rejects_connect_with_a_protocol_error() {
    let channel = MessageChannel::new().unwrap();
    let server = channel.port2();
    let reply = server.clone();
    let ended = Rc::new(RefCell::new(false));
    let flag = Rc::clone(&ended);
    // A fake server: answers the CONNECT with a packet of the reserved type 0.
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        if ev.data().is_null() {
            *flag.borrow_mut() = true;
        } else {
            let _ = reply.post_message(&Uint8Array::from(&[0x00u8, 0x00][..]));
        }
    });
    server.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    let (client, connected) = MqttClient::start(channel.port1(), "c".into(), None).unwrap();
    let err = JsFuture::from(connected).await.unwrap_err();
    assert_eq!(kind(&err), "ProtocolError");
    assert_eq!(field(&err, "reasonCode").as_f64(), Some(f64::from(0x81u8)));
    assert!(!client.connected());
    // The client ended the link: the fake server hears `null` after the CONNECT.
    assert!(until(|| *ended.borrow()).await);
    server.set_onmessage(None);
    server.close();
}

#[wasm_bindgen_test]
async fn the_broker_ends_a_link_that_sends_garbage() {
    let broker = InPageBroker::new(1);
    let channel = MessageChannel::new().unwrap();
    broker.attach(channel.port2());
    let ended = Rc::new(RefCell::new(false));
    let flag = Rc::clone(&ended);
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        if ev.data().is_null() {
            *flag.borrow_mut() = true;
        }
    });
    let port = channel.port1();
    port.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    // A CONNECT whose protocol name is not "MQTT".
    let bad = [
        0x10u8, 0x0a, 0x00, 0x04, b'M', b'Q', b'X', b'X', 0x05, 0x02, 0x00, 0x3c,
    ];
    port.post_message(&Uint8Array::from(&bad[..])).unwrap();
    assert!(until(|| *ended.borrow()).await);
    assert_eq!(broker.connection_count(), 0);
    port.set_onmessage(None);
    port.close();
    broker.close();
}

#[wasm_bindgen_test]
async fn a_link_message_that_is_not_bytes_ends_the_link() {
    // To the broker: it ends the link (and nothing throws inside it).
    let broker = InPageBroker::new(2);
    let channel = MessageChannel::new().unwrap();
    broker.attach(channel.port2());
    let ended = Rc::new(RefCell::new(false));
    let flag = Rc::clone(&ended);
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        if ev.data().is_null() {
            *flag.borrow_mut() = true;
        }
    });
    let port = channel.port1();
    port.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    port.post_message(&JsValue::from_f64(1e12)).unwrap();
    assert!(until(|| *ended.borrow()).await);
    assert_eq!(broker.connection_count(), 0);
    port.set_onmessage(None);
    port.close();
    // The broker still serves others.
    let c = client(&broker, "after", 5).await;
    JsFuture::from(c.disconnect()).await.unwrap();
    broker.close();

    // To a client: connect rejects with TransportClosed.
    let channel = MessageChannel::new().unwrap();
    let server = channel.port2();
    let reply = server.clone();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        if !ev.data().is_null() {
            let _ = reply.post_message(&JsValue::from_str("CONNACK"));
        }
    });
    server.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    let (_, connected) = MqttClient::start(channel.port1(), "c".into(), None).unwrap();
    let err = JsFuture::from(connected).await.unwrap_err();
    assert_eq!(kind(&err), "TransportClosed");
    server.set_onmessage(None);
    server.close();
}

#[wasm_bindgen_test]
async fn ondisconnect_hears_the_broker_going_and_later_commands_reject() {
    let broker = InPageBroker::new(4);
    let c = client(&broker, "watched", 5).await;
    let heard: Rc<RefCell<Option<String>>> = Rc::default();
    let sink = Rc::clone(&heard);
    let f = Closure::<dyn FnMut(JsValue)>::new(move |err: JsValue| {
        *sink.borrow_mut() = Some(kind(&err));
    });
    c.set_ondisconnect(Some(f.into_js_value().unchecked_into()));
    broker.close();
    assert!(until(|| heard.borrow().is_some()).await);
    assert_eq!(heard.borrow().as_deref(), Some("TransportClosed"));
    assert!(!c.connected());
    let err = JsFuture::from(c.unsubscribe("a".into())).await.unwrap_err();
    assert_eq!(kind(&err), "NotConnected");
}

#[wasm_bindgen_test]
async fn bad_arguments_are_rejected_with_typed_errors() {
    let broker = InPageBroker::new(3);
    let c = client(&broker, "", 5).await;
    let err = JsFuture::from(c.publish("a/#".into(), vec![], 0, None))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), "InvalidTopic");
    let err = JsFuture::from(c.publish("a".into(), vec![], 3, None))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), "InvalidArgument");
    let (_, callback) = recorder();
    let err = JsFuture::from(c.subscribe("a/#/b".into(), 0, callback))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), "InvalidFilter");
    let err = JsFuture::from(MqttClient::connect(
        MessageChannel::new().unwrap().port1(),
        "x".into(),
        Some(3),
    ))
    .await
    .unwrap_err();
    assert_eq!(kind(&err), "InvalidArgument");
    JsFuture::from(c.disconnect()).await.unwrap();
    broker.close();
}
