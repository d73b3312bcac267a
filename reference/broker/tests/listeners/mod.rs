//! A broker on the listeners of a test's configuration, started in-process for the transport
//! tests (tls, ws, wss, quic): where each listener is bound, and a stop that waits for it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use mqttref_broker::{Broker, BrokerConfig, Endpoint, Transport};
use tokio::sync::oneshot;

pub struct Running {
    pub endpoints: Vec<Endpoint>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// The bound address of the (first) listener of transport `t`.
    pub fn addr(&self, t: Transport) -> SocketAddr {
        self.endpoints
            .iter()
            .find(|e| e.transport == t)
            .expect("listener")
            .addr
    }

    /// Asks the broker to stop and waits until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }

    /// As [`Running::stop`], failing the test if the broker takes longer than `limit`.
    pub async fn stop_within(self, limit: Duration) {
        tokio::time::timeout(limit, self.stop())
            .await
            .expect("the broker stops in time");
    }
}

/// Binds `config`'s listeners and runs the broker until [`Running::stop`].
pub async fn start(config: BrokerConfig) -> Running {
    run(Broker::bind(config).await.expect("bind"))
}

/// Runs a bound `broker` until [`Running::stop`].
pub fn run(broker: Broker) -> Running {
    let endpoints = broker.endpoints();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(broker.run(async {
        let _ = stopped.await;
    }));
    Running {
        endpoints,
        stop,
        task,
    }
}
