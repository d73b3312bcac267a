//! The turmoil world: one broker host running the real `mqttref-broker` on a turmoil listener,
//! one host per client running the real `mqttref-client` through a turmoil dialer, and the
//! observer host. The nemesis (this module's main loop) steps the simulation and applies the
//! plan's fault schedule between steps. Everything the hosts do is recorded in one [`History`].
//!
//! The broker keeps its state in memory or, when the plan says file storage, in the real file
//! store on a [`SimDisk`] that outlives its incarnations: a broker crash is a power loss (its
//! links are cut, see [`crash`], and the disk keeps only what was synced, tearing the rest).
//!
//! Determinism: turmoil is seeded from the plan, the broker and every client get their seeds
//! from the plan, time is turmoil's simulated clock (read through `tokio::time` by the code
//! under test, and [`turmoil::sim_elapsed`] for timestamps here), every `select!` on the path
//! is `biased;`, every map is a `BTreeMap`, and the disk's crash choices come from the plan.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use mqttref_broker::config::{FsyncMode, StorageKind as BrokerStorage};
use mqttref_broker::store::FileStorage;
use mqttref_broker::{BrokerConfig, Listener};
use mqttref_client::{
    Client, ClientError, ClientOptions, ConnectionState, Dialer, QoS, ReconnectPolicy, Will,
};
use mqttref_core::broker::{Broker, NoAuth, OutState, Storage};

use crate::disk::{DiskStats, SimDisk};
use crate::history::{History, Kind, Op};
use crate::plan::{
    ClientPlan, Fault, Op as PlanOp, Options, Plan, Planted, SessionKind, StorageKind, BROKER,
    BROKER_PORT, OBSERVER,
};

/// Where the simulated broker's file store lives on its disk.
const STORE_DIR: &str = "/var/lib/mqttref";
/// The simulated wall clock at the start of a run (Unix ms): the file store keeps deadlines in
/// wall-clock time, so each broker incarnation opens it at this plus the simulated time.
const SIM_EPOCH_MS: u64 = 1_800_000_000_000;

/// A turmoil listener as the broker's [`Listener`].
pub struct SimListener(pub turmoil::net::TcpListener);

impl Listener for SimListener {
    type Stream = turmoil::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        self.0.accept().await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// Dials over turmoil for the client's [`Dialer`].
#[derive(Debug, Clone, Copy)]
pub struct SimDialer;

impl Dialer for SimDialer {
    type Stream = turmoil::net::TcpStream;

    async fn dial(&self, host: &str, port: u16) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect((host, port)).await
    }
}

/// The outcome of one simulation run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The history.
    pub history: History,
    /// Simulated time at the end (ms).
    pub sim_ms: u64,
    /// Turmoil steps taken.
    pub steps: u64,
    /// A host's software failed or the simulation stopped early.
    pub error: Option<String>,
    /// What the simulated disk saw (file storage only).
    pub disk: Option<DiskStats>,
}

/// Simulated ms since the start, from inside a host.
fn now_ms() -> u64 {
    turmoil::sim_elapsed()
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

async fn sleep_until_ms(t: u64) {
    let now = now_ms();
    if t > now {
        tokio::time::sleep(Duration::from_millis(t - now)).await;
    }
}

/// Shared between the hosts and the nemesis (all on one thread).
#[derive(Default)]
struct Recorder {
    history: History,
    /// Publishes invoked and not completed: (process, id) → the invoke's op.
    pending: BTreeMap<(String, String), Op>,
}

type Rec = Rc<RefCell<Recorder>>;

fn record(rec: &Rec, process: &str, kind: Kind, op: Op) {
    let t = now_ms();
    record_at(rec, t, process, kind, op);
}

fn record_at(rec: &Rec, t: u64, process: &str, kind: Kind, op: Op) {
    let mut r = rec.borrow_mut();
    if let Op::Publish { id, .. } = &op {
        let key = (process.to_string(), id.clone());
        match kind {
            Kind::Invoke => {
                r.pending.insert(key, op.clone());
            }
            _ => {
                r.pending.remove(&key);
            }
        }
    }
    r.history.push(t, process, kind, op);
}

fn qos_of(q: u8) -> QoS {
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

/// How one client instance connects.
struct Connect<'a> {
    name: &'a str,
    instance: u32,
    clean_start: bool,
    session: SessionKind,
    keep_alive: u16,
    will_delay: Option<u32>,
    seed: u64,
    /// Give up (record `unknown`) at this time.
    deadline_ms: u64,
}

/// Connects one client instance (retrying until the deadline), records the connect, and starts
/// its delivery recorder and connection watcher.
async fn connect_instance(rec: &Rec, c: Connect<'_>) -> Option<Client> {
    let will = c
        .will_delay
        .map(|_| format!("will:{}:{}", c.name, c.instance));
    let op = |sp: Option<bool>| Op::Connect {
        instance: c.instance,
        clean_start: c.clean_start,
        expiry: c.session.expiry_secs(),
        will: will.clone(),
        will_delay: c.will_delay.unwrap_or(0),
        session_present: sp,
    };
    let mut o = ClientOptions::new(BROKER, BROKER_PORT, c.name)
        .with_keep_alive(c.keep_alive)
        .with_clean_start(c.clean_start)
        .with_seed(c.seed)
        .with_reconnect(ReconnectPolicy {
            enabled: true,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(2_000),
            max_attempts: None,
        });
    if let SessionKind::Persistent { expiry_secs } = c.session {
        o = o.with_session_expiry(expiry_secs);
    }
    if let (Some(payload), Some(delay)) = (&will, c.will_delay) {
        let mut w = Will::new(format!("w/{}", c.name), payload.clone().into_bytes());
        w.qos = QoS::AtLeastOnce;
        w.delay_interval = Some(delay);
        o = o.with_will(w);
    }
    o.retry_initial_connect = true;
    o.session.connect_timeout_ms = 3_000;
    record(rec, c.name, Kind::Invoke, op(None));
    let wait = Duration::from_millis(c.deadline_ms.saturating_sub(now_ms()));
    let (client, mut incoming) =
        match tokio::time::timeout(wait, Client::connect_with(o, SimDialer)).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(_)) => {
                record(rec, c.name, Kind::Fail, op(None));
                return None;
            }
            Err(_) => {
                record(rec, c.name, Kind::Unknown, op(None));
                return None;
            }
        };
    record(
        rec,
        c.name,
        Kind::Ok,
        op(Some(client.connack().session_present)),
    );
    let instance = c.instance;
    let name = c.name.to_string();
    let r = rec.clone();
    tokio::task::spawn_local(async move {
        while let Some(m) = incoming.recv().await {
            record(
                &r,
                &name,
                Kind::Info,
                Op::Deliver {
                    instance,
                    id: String::from_utf8_lossy(&m.payload).into_owned(),
                    topic: m.topic,
                    qos: qos_u8(m.qos),
                    retain: m.retain,
                    dup: m.dup,
                },
            );
        }
    });
    let mut state = client.watch_state();
    state.borrow_and_update();
    let name = c.name.to_string();
    let r = rec.clone();
    tokio::task::spawn_local(async move {
        let mut lost = false;
        while state.changed().await.is_ok() {
            let s = state.borrow_and_update().clone();
            match s {
                ConnectionState::Connected(info) => {
                    if !lost {
                        // Lost and back between two looks: still a lost connection.
                        record(&r, &name, Kind::Info, Op::ConnectionLost { instance });
                    }
                    lost = false;
                    record(
                        &r,
                        &name,
                        Kind::Info,
                        Op::Reconnected {
                            instance,
                            session_present: info.session_present,
                        },
                    );
                }
                ConnectionState::Reconnecting { .. } | ConnectionState::Connecting => {
                    if !lost {
                        lost = true;
                        record(&r, &name, Kind::Info, Op::ConnectionLost { instance });
                    }
                }
                ConnectionState::Closed { .. } => break,
            }
        }
    });
    Some(client)
}

async fn subscribe(rec: &Rec, client: &Client, name: &str, instance: u32, filter: &str, qos: u8) {
    let op = Op::Subscribe {
        instance,
        filter: filter.to_string(),
        qos,
    };
    record(rec, name, Kind::Invoke, op.clone());
    let kind = match client.subscribe_one(filter, qos_of(qos)).await {
        Ok(out) if out.is_success() => Kind::Ok,
        Ok(_) => Kind::Fail,
        Err(_) => Kind::Unknown,
    };
    record(rec, name, kind, op);
}

/// Normal disconnect at the end of an instance; `fail` when the client is not connected (at the
/// end of the liveness phase that means it did not converge).
async fn disconnect(rec: &Rec, client: &Client, name: &str, instance: u32) {
    let op = Op::Disconnect { instance };
    record(rec, name, Kind::Invoke, op.clone());
    let connected = matches!(client.state(), ConnectionState::Connected(_));
    let _ = client.disconnect().await;
    record(rec, name, if connected { Kind::Ok } else { Kind::Fail }, op);
}

async fn client_software(
    plan: Rc<ClientPlan>,
    opts: Rc<Options>,
    rec: Rec,
    incarnation: Rc<Cell<u32>>,
) -> turmoil::Result {
    {
        let inc = incarnation.get();
        incarnation.set(inc + 1);
        let start = now_ms();
        let name = plan.name.as_str();
        let drain_end = opts.drain_end_ms();
        let mut instance = inc * 100;
        let connect = |instance: u32, clean_start: bool| Connect {
            name,
            instance,
            clean_start,
            session: plan.session,
            keep_alive: plan.keep_alive,
            will_delay: plan.will_delay_secs,
            seed: plan.seed ^ u64::from(instance),
            deadline_ms: drain_end,
        };
        let clean = plan.session == SessionKind::Clean;
        sleep_until_ms(crate::plan::WORK_START_MS).await;
        let Some(mut client) = connect_instance(&rec, connect(instance, clean)).await else {
            return Ok(());
        };
        if let Some(s) = &plan.sub {
            subscribe(&rec, &client, name, instance, &s.filter, s.qos).await;
        }
        for op in plan.ops.iter().filter(|o| o.at_ms >= start) {
            sleep_until_ms(op.at_ms).await;
            match &op.what {
                PlanOp::Publish {
                    id,
                    topic,
                    qos,
                    retain,
                } => {
                    let evop = Op::Publish {
                        instance,
                        id: id.clone(),
                        topic: topic.clone(),
                        qos: *qos,
                        retain: *retain,
                    };
                    record(&rec, name, Kind::Invoke, evop.clone());
                    let c = client.clone();
                    let r = rec.clone();
                    let (topic, id, qos, retain) = (topic.clone(), id.clone(), *qos, *retain);
                    let name = name.to_string();
                    tokio::task::spawn_local(async move {
                        let res = c
                            .publish(
                                topic,
                                id.into_bytes(),
                                qos_of(qos),
                                retain,
                                Default::default(),
                            )
                            .await;
                        let kind = match res {
                            Ok(o) if o.is_success() => Kind::Ok,
                            Ok(_) | Err(ClientError::Command(_)) => Kind::Fail,
                            Err(_) => Kind::Unknown,
                        };
                        record(&r, &name, kind, evop);
                    });
                }
                PlanOp::Reconnect { gap_ms } => {
                    disconnect(&rec, &client, name, instance).await;
                    tokio::time::sleep(Duration::from_millis(*gap_ms)).await;
                    instance += 1;
                    match connect_instance(&rec, connect(instance, clean)).await {
                        Some(c) => client = c,
                        None => return Ok(()),
                    }
                    if let Some(s) = &plan.sub {
                        subscribe(&rec, &client, name, instance, &s.filter, s.qos).await;
                    }
                }
            }
        }
        sleep_until_ms(drain_end).await;
        disconnect(&rec, &client, name, instance).await;
        Ok(())
    }
}

async fn observer_software(opts: Rc<Options>, rec: Rec) -> turmoil::Result {
    {
        let drain_end = opts.drain_end_ms();
        let c = Connect {
            name: OBSERVER,
            instance: 0,
            clean_start: false,
            session: SessionKind::Persistent { expiry_secs: 3_600 },
            keep_alive: 5,
            will_delay: None,
            seed: opts.seed,
            deadline_ms: drain_end,
        };
        let Some(client) = connect_instance(&rec, c).await else {
            return Ok(());
        };
        subscribe(&rec, &client, OBSERVER, 0, "w/#", 1).await;
        sleep_until_ms(drain_end).await;
        subscribe(&rec, &client, OBSERVER, 0, "r/#", 1).await;
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        record(&rec, OBSERVER, Kind::Info, Op::RetainedRead);
        disconnect(&rec, &client, OBSERVER, 0).await;
        Ok(())
    }
}

/// Runs `plan` to the end and returns its history (not yet audited).
///
/// Planted bugs ([`Options::planted`]) need the `fault-injection` feature.
///
/// # Errors
/// A planted bug without the feature.
pub fn run(plan: &Plan) -> Result<RunResult, String> {
    let o = Rc::new(plan.options.clone());
    let mut config = BrokerConfig::default();
    config.engine.seed = o.broker_seed;
    if o.storage == StorageKind::File {
        config.storage = BrokerStorage::File;
        config.storage_dir = Some(STORE_DIR.into());
        config.fsync = if o.planted.store_ack_before_sync {
            FsyncMode::Never
        } else {
            FsyncMode::Always
        };
    }
    plant(&mut config, o.planted)?;
    Ok(run_inner(plan, o.clone(), config))
}

/// The broker host's software: the broker on a turmoil listener, in memory or with its file
/// store on `disk` (opened again at every start: what the last incarnation made durable).
async fn broker_software(config: BrokerConfig, disk: SimDisk, planted: Planted) -> turmoil::Result {
    let listener =
        turmoil::net::TcpListener::bind((std::net::Ipv4Addr::UNSPECIFIED, BROKER_PORT)).await?;
    let listener = SimListener(listener);
    let origin = SIM_EPOCH_MS + now_ms();
    match mqttref_broker::open_store_on(&config, disk, origin)? {
        None => mqttref_broker::run(listener, config, std::future::pending()).await?,
        Some(mut store) => {
            if planted.store_forgets_qos2 {
                forget_qos2(&mut store);
            }
            let engine = Broker::with_parts(config.engine_config(), store, Box::new(NoAuth));
            mqttref_broker::run_with_engine(listener, config, engine, std::future::pending())
                .await?;
        }
    }
    Ok(())
}

/// The planted recovery bug: every session forgets its QoS 2 state, inbound (packet ids
/// received and not yet released) and outbound (QoS 2 messages in flight).
fn forget_qos2(store: &mut FileStorage<SimDisk>) {
    for id in store.session_ids() {
        if let Some(s) = store.session_mut(&id) {
            s.inbound_qos2.clear();
            s.inflight
                .retain(|_, f| !matches!(f.state, OutState::Qos2Sent | OutState::Released));
        }
    }
}

/// Puts the plan's planted bugs into the broker's engine configuration.
#[cfg(feature = "fault-injection")]
fn plant(config: &mut BrokerConfig, p: crate::plan::Planted) -> Result<(), String> {
    config.engine.faults = mqttref_core::broker::faults::Faults {
        drop_qos1_on_resume: p.drop_qos1_on_resume,
        duplicate_qos2: p.duplicate_qos2,
    };
    // The store's bugs are planted by the simulator itself (`run`, `broker_software`).
    Ok(())
}

#[cfg(not(feature = "fault-injection"))]
fn plant(_: &mut BrokerConfig, p: crate::plan::Planted) -> Result<(), String> {
    if p.any() {
        return Err("this plan plants broker bugs: build the simulator with \
                    `--features fault-injection` (cargo test -p simulator does)"
            .into());
    }
    Ok(())
}

fn run_inner(plan: &Plan, o: Rc<Options>, config: BrokerConfig) -> RunResult {
    let ms = Duration::from_millis;
    let mut sim = turmoil::Builder::new()
        .rng_seed(o.net_seed)
        .simulation_duration(ms(o.end_ms() + 60_000))
        .tick_duration(ms(o.tick_ms))
        .min_message_latency(ms(o.latency_ms.0))
        .max_message_latency(ms(o.latency_ms.1))
        .build();
    let rec: Rec = Rc::new(RefCell::new(Recorder::default()));
    let disk = SimDisk::new(o.disk_seed);
    {
        let (disk, planted) = (disk.clone(), o.planted);
        sim.host(BROKER, move || {
            broker_software(config.clone(), disk.clone(), planted)
        });
    }
    {
        let (o, rec) = (o.clone(), rec.clone());
        sim.host(OBSERVER, move || observer_software(o.clone(), rec.clone()));
    }
    for c in &plan.clients {
        let (o, rec) = (o.clone(), rec.clone());
        let cp = Rc::new(c.clone());
        let inc = Rc::new(Cell::new(0));
        sim.host(c.name.as_str(), move || {
            client_software(cp.clone(), o.clone(), rec.clone(), inc.clone())
        });
    }

    let mut net = Net {
        disk: disk.clone(),
        ..Net::default()
    };
    let mut next = 0;
    let mut steps = 0u64;
    let mut error = None;
    let end = o.end_ms();
    loop {
        let now = u64::try_from(sim.elapsed().as_millis()).unwrap_or(u64::MAX);
        while let Some(f) = plan.faults.get(next).filter(|f| f.at_ms <= now) {
            next += 1;
            apply(&mut sim, plan, &rec, &mut net, now, &f.what);
        }
        if now >= end {
            break;
        }
        match sim.step() {
            Ok(_) => steps += 1,
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let sim_ms = u64::try_from(sim.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut r = rec.borrow_mut();
    let pending: Vec<_> = std::mem::take(&mut r.pending).into_iter().collect();
    for ((process, _), op) in pending {
        r.history.push(sim_ms, &process, Kind::Unknown, op);
    }
    r.history.push(sim_ms, "nemesis", Kind::Info, Op::End);
    r.history.finish();
    let history = std::mem::take(&mut r.history);
    drop(r);
    // Drop the hosts (and with them every task holding the recorder) before returning.
    drop(sim);
    RunResult {
        history,
        sim_ms,
        steps,
        error,
        disk: (o.storage == StorageKind::File).then(|| disk.stats()),
    }
}

/// What the nemesis has done to the network and hosts, so a broker crash can restore it.
struct Net {
    crashed: BTreeSet<String>,
    /// Active fault on each broker ↔ client link.
    links: BTreeMap<String, Fault>,
    /// The broker's disk, which a broker crash hits too.
    disk: SimDisk,
}

impl Default for Net {
    fn default() -> Self {
        Net {
            crashed: BTreeSet::new(),
            links: BTreeMap::new(),
            disk: SimDisk::new(0),
        }
    }
}

fn apply(sim: &mut turmoil::Sim<'_>, plan: &Plan, rec: &Rec, net: &mut Net, now: u64, f: &Fault) {
    let desc = serde_json::to_string(f).unwrap_or_default();
    record_at(rec, now, "nemesis", Kind::Info, Op::Fault { fault: desc });
    let ms = Duration::from_millis;
    match f {
        Fault::Partition { client } | Fault::Hold { client } => {
            net.links.insert(client.clone(), f.clone());
            link_fault(sim, f);
        }
        Fault::PartitionOneway { from, to } => {
            let client = if from == BROKER { to } else { from };
            net.links.insert(client.clone(), f.clone());
            link_fault(sim, f);
        }
        Fault::Repair { client } => {
            net.links.remove(client);
            sim.repair(BROKER, client.as_str());
        }
        Fault::Release { client } => {
            net.links.remove(client);
            sim.release(BROKER, client.as_str());
        }
        Fault::Crash { host } => crash(sim, plan, rec, net, now, host),
        Fault::Restart { host } => restart(sim, rec, net, now, host),
        Fault::Latency { max_ms } => sim.set_max_message_latency(ms(*max_ms)),
        Fault::Heal => {
            net.links.clear();
            for c in &plan.clients {
                sim.release(BROKER, c.name.as_str());
                sim.repair(BROKER, c.name.as_str());
            }
            let down: Vec<String> = net.crashed.iter().cloned().collect();
            for host in down {
                restart(sim, rec, net, now, &host);
            }
            sim.set_max_message_latency(ms(plan.options.latency_ms.1));
        }
    }
}

fn link_fault(sim: &mut turmoil::Sim<'_>, f: &Fault) {
    match f {
        Fault::Partition { client } => sim.partition(BROKER, client.as_str()),
        Fault::PartitionOneway { from, to } => sim.partition_oneway(from.as_str(), to.as_str()),
        Fault::Hold { client } => sim.hold(BROKER, client.as_str()),
        _ => {}
    }
}

/// Crashes a host. A crashed broker is a power loss: it sends nothing more, and its disk keeps
/// only what it had synced (a seeded prefix of the rest, see [`SimDisk::crash`]). Its links are
/// cut around the crash and then restored, which is also what keeps the run deterministic:
/// dropping its runtime closes its sockets in an order that depends on tokio's process-wide
/// task ids, and the FINs would otherwise draw turmoil's RNG in that order. (This is the one
/// way the simulator runs the broker: `mqttref_broker::run`, or `run_with_engine` over the file
/// store, like any embedder; no simulation-only spawn mode.)
fn crash(sim: &mut turmoil::Sim<'_>, plan: &Plan, rec: &Rec, net: &mut Net, now: u64, host: &str) {
    if !net.crashed.insert(host.to_string()) {
        return;
    }
    if host == BROKER {
        let peers: Vec<&str> = plan
            .clients
            .iter()
            .map(|c| c.name.as_str())
            .chain([OBSERVER])
            .collect();
        for p in &peers {
            sim.partition(BROKER, *p);
        }
        sim.crash(host);
        net.disk.crash();
        for p in &peers {
            sim.repair(BROKER, *p);
            if let Some(f) = net.links.get(*p) {
                link_fault(sim, f);
            }
        }
    } else {
        sim.crash(host);
    }
    let mut r = rec.borrow_mut();
    r.history.push(now, host, Kind::Info, Op::Crash);
    let lost: Vec<_> = r
        .pending
        .keys()
        .filter(|(p, _)| p == host)
        .cloned()
        .collect();
    for key in lost {
        if let Some(op) = r.pending.remove(&key) {
            r.history.push(now, host, Kind::Unknown, op);
        }
    }
}

fn restart(sim: &mut turmoil::Sim<'_>, rec: &Rec, net: &mut Net, now: u64, host: &str) {
    if !net.crashed.remove(host) {
        return;
    }
    rec.borrow_mut()
        .history
        .push(now, host, Kind::Info, Op::Restart);
    sim.bounce(host);
}
