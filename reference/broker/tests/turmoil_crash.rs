//! The broker on a turmoil network: a host crash closes its connections in the same order
//! every run when the broker runs with [`mqttref_broker::run_local`], whatever the
//! process-global tokio task ids are (they decide the drop order of tasks spawned on the
//! runtime itself, which is what made the simulator's crash runs diverge: with
//! [`mqttref_broker::run`] the same simulation gave orders such as `c1 c4 c5 c2 c0 c3` and
//! `c1 c2 c3 c4 c5 c0` depending on how many tokio tasks the process had spawned before).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use mqttref_broker::{BrokerConfig, Listener};
use mqttref_core::broker::testwire::{self, Connect, Packet, Props, ProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct SimListener(turmoil::net::TcpListener);

impl Listener for SimListener {
    type Stream = turmoil::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        self.0.accept().await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

const CLIENTS: usize = 6;

/// One simulation: clients connect, the broker crashes; returns the order in which the clients
/// saw their connection end.
fn crash_order(local: bool) -> Vec<String> {
    let mut sim = turmoil::Builder::new()
        .rng_seed(7)
        .simulation_duration(Duration::from_secs(60))
        .build();
    sim.host("broker", move || async move {
        let listener =
            turmoil::net::TcpListener::bind((std::net::Ipv4Addr::UNSPECIFIED, 1883)).await?;
        let config = BrokerConfig::default();
        if local {
            mqttref_broker::run_local(SimListener(listener), config, std::future::pending())
                .await?;
        } else {
            mqttref_broker::run(SimListener(listener), config, std::future::pending()).await?;
        }
        Ok(())
    });
    let order = Rc::new(RefCell::new(Vec::new()));
    let connected = Rc::new(RefCell::new(0usize));
    for i in 0..CLIENTS {
        let name = format!("c{i}");
        let (order, connected) = (order.clone(), connected.clone());
        sim.client(name.clone(), async move {
            // Stagger the connections so that accept order is fixed.
            tokio::time::sleep(Duration::from_millis(10 * i as u64)).await;
            let mut s = turmoil::net::TcpStream::connect(("broker", 1883)).await?;
            let c = Connect {
                version: ProtocolVersion::V5,
                clean_start: true,
                keep_alive: 0,
                props: Props::default(),
                client_id: name.clone(),
                will: None,
                username: None,
                password: None,
            };
            s.write_all(&testwire::encode(&Packet::Connect(c), ProtocolVersion::V5))
                .await?;
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).await?;
            assert!(n > 0 && buf[0] == 0x20, "CONNACK");
            *connected.borrow_mut() += 1;
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            order.borrow_mut().push(name);
            Ok(())
        });
    }
    let mut crashed = false;
    loop {
        if !crashed && *connected.borrow() == CLIENTS {
            sim.crash("broker");
            crashed = true;
        }
        if sim.step().expect("simulation step") {
            break;
        }
    }
    let v = order.borrow().clone();
    v
}

/// Moves the process-global tokio task id counter along, as an earlier simulation in the same
/// process (or another thread) would.
fn burn_task_ids(n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for _ in 0..n {
            tokio::spawn(async {}).await.expect("task");
        }
    });
}

#[test]
fn crash_closes_connections_in_the_same_order_every_run() {
    let first = crash_order(true);
    assert_eq!(first.len(), CLIENTS);
    for burn in [1, 2, 3, 5] {
        burn_task_ids(burn);
        assert_eq!(
            crash_order(true),
            first,
            "diverged after burning {burn} task ids"
        );
    }
}
