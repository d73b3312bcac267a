//! The `mqttref` adapter: the reference client (`mqttref-client`), in process. Every operation
//! is supported; each runs as its own task on a clone of the client handle, so several can be
//! in flight at once (QoS 1/2 publishes awaiting their acknowledgements).

use super::{AppMessage, ClientAdapter, DrivenClient, Event, Op, Session, Unsupported};
use mqttref_client::{
    Client, ClientOptions, ProtocolVersion, QoS, ReasonCode, ReconnectPolicy, SubscribeOutcome,
};
use spec_manifest::Version;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// The reference client adapter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Mqttref;

impl ClientAdapter for Mqttref {
    fn name(&self) -> String {
        "mqttref".into()
    }

    fn version(&self) -> Option<String> {
        Some(env!("CARGO_PKG_VERSION").into())
    }

    fn start(&self, session: Session) -> Result<Box<dyn DrivenClient>, Unsupported> {
        let c = &session.connect;
        let version = match c.version {
            Version::V5_0 => ProtocolVersion::V5,
            Version::V3_1_1 => ProtocolVersion::V3_1_1,
        };
        let mut options = ClientOptions::new(c.host.clone(), c.port, c.client_id.clone())
            .with_version(version)
            .with_keep_alive(c.keep_alive)
            .with_clean_start(c.clean_start)
            .with_reconnect(if c.reconnect {
                // Quick, so that a scenario sees the reconnection within its short waits.
                ReconnectPolicy {
                    enabled: true,
                    initial_delay: Duration::from_millis(50),
                    max_delay: Duration::from_millis(400),
                    max_attempts: None,
                }
            } else {
                ReconnectPolicy::disabled()
            });
        if let Some(e) = c.session_expiry {
            options = options.with_session_expiry(e);
        }
        let (events_tx, events) = mpsc::unbounded_channel();
        let (ops_tx, ops_rx) = mpsc::unbounded_channel();
        if let Some(op) = session.first {
            let _ = ops_tx.send(op);
        }
        let task = tokio::spawn(drive(options, ops_rx, events_tx));
        Ok(Box::new(Driven {
            ops: ops_tx,
            events,
            task,
        }))
    }
}

struct Driven {
    ops: mpsc::UnboundedSender<Op>,
    events: mpsc::UnboundedReceiver<Event>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Driven {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DrivenClient for Driven {
    fn perform(&mut self, op: Op) -> Result<(), Unsupported> {
        // A closed channel means the client has stopped: the op is then simply never done,
        // which the scenario sees as a missing packet or a missing `Done`.
        let _ = self.ops.send(op);
        Ok(())
    }

    fn events(&mut self) -> &mut mpsc::UnboundedReceiver<Event> {
        &mut self.events
    }
}

fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn qos_u8(q: QoS) -> u8 {
    match q {
        QoS::AtMostOnce => 0,
        QoS::AtLeastOnce => 1,
        QoS::ExactlyOnce => 2,
    }
}

/// Connects, then performs every operation (each in its own task) and forwards messages, until
/// aborted. Every task it starts is in `tasks`, so aborting this one ends them all.
async fn drive(
    options: ClientOptions,
    mut ops: mpsc::UnboundedReceiver<Op>,
    events: mpsc::UnboundedSender<Event>,
) {
    let (client, mut incoming) = match Client::connect(options).await {
        Ok(c) => c,
        Err(e) => {
            let _ = events.send(Event::Stopped(format!("connect failed: {e}")));
            return;
        }
    };
    let _ = events.send(Event::Connected);
    let mut tasks = JoinSet::new();
    let ev = events.clone();
    let watcher = client.clone();
    tasks.spawn(async move {
        while let Some(m) = incoming.recv().await {
            let _ = ev.send(Event::Message(AppMessage {
                topic: m.topic,
                payload: m.payload,
                qos: qos_u8(m.qos),
                retain: m.retain,
            }));
        }
        let reason = match watcher.state() {
            mqttref_client::ConnectionState::Closed { reason } => reason,
            other => format!("{other:?}"),
        };
        let _ = ev.send(Event::Stopped(reason));
    });
    while let Some(op) = ops.recv().await {
        let (client, ev) = (client.clone(), events.clone());
        tasks.spawn(async move {
            let name = op.name();
            let result = match op {
                Op::Publish {
                    topic,
                    payload,
                    qos: q,
                    retain,
                } => client
                    .publish(topic, payload, qos(q), retain, Default::default())
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|o| {
                        if o.is_success() {
                            Ok(())
                        } else {
                            Err(format!("{o:?}"))
                        }
                    }),
                Op::Subscribe { filter, qos: q } => client
                    .subscribe_one(filter, qos(q))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(outcome),
                Op::Unsubscribe { filter } => client
                    .unsubscribe(vec![filter], Vec::new())
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(outcome),
                Op::Disconnect => client
                    .disconnect_with(ReasonCode::Success, None)
                    .await
                    .map_err(|e| e.to_string()),
            };
            let _ = ev.send(Event::Done { op: name, result });
        });
    }
    // The adapter was dropped: the aborted task drops `tasks` and the last client handle.
    std::future::pending::<()>().await;
}

fn outcome(o: SubscribeOutcome) -> Result<(), String> {
    if o.is_success() {
        Ok(())
    } else {
        Err(format!("{o:?}"))
    }
}
