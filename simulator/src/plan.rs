//! What one seed expands into: the [`Options`] (topology, timing, which fault kinds are on),
//! the explicit fault schedule and the workload of every client. A [`Plan`] is plain data, so a
//! replay file carries it whole and a replay never re-expands the seed.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::rng::{Ratio, Rng};

/// Port the simulated broker listens on.
pub const BROKER_PORT: u16 = 1883;
/// Host name of the broker.
pub const BROKER: &str = "broker";
/// Host name of the observer: never faulted; watches wills and reads retained values at the end.
pub const OBSERVER: &str = "observer";
/// Client ids start their work after this (the observer subscribes first).
pub const WORK_START_MS: u64 = 500;

/// The kinds of fault a run may draw (swarm testing: each run turns on a subset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Broker ↔ client partition, both ways, then repair.
    Partition,
    /// One-way partition (either direction), then repair.
    PartitionOneway,
    /// Hold the link's messages, then release them (delay and reordering between links).
    Hold,
    /// Crash the broker (a power loss: it sends nothing more, and its disk keeps only what was
    /// synced), restart it later. In memory everything is lost; with file storage nothing
    /// acknowledged may be.
    BrokerCrash,
    /// Crash a client host, restart it later.
    ClientCrash,
    /// Raise the maximum message latency for a while.
    Latency,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Partition,
        FaultKind::PartitionOneway,
        FaultKind::Hold,
        FaultKind::BrokerCrash,
        FaultKind::ClientCrash,
        FaultKind::Latency,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::PartitionOneway => "partition-oneway",
            FaultKind::Hold => "hold",
            FaultKind::BrokerCrash => "broker-crash",
            FaultKind::ClientCrash => "client-crash",
            FaultKind::Latency => "latency",
        }
    }
}

/// Which faults a run uses: drawn per seed (`swarm`), drawn per seed with some kinds always on
/// (`swarm+broker-crash`), none, or a fixed list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FaultSelection {
    /// Each kind is on with probability 1/2, drawn from the seed.
    #[default]
    Swarm,
    /// As [`FaultSelection::Swarm`] (the same draws), with these kinds on in every run.
    SwarmWith(Vec<FaultKind>),
    /// No faults.
    None,
    /// Exactly these kinds.
    List(Vec<FaultKind>),
}

impl FromStr for FaultSelection {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "swarm" => Ok(FaultSelection::Swarm),
            "none" => Ok(FaultSelection::None),
            with if with.starts_with("swarm+") => {
                let rest = &with["swarm+".len()..];
                match rest.replace('+', ",").parse::<FaultSelection>()? {
                    FaultSelection::List(kinds) if !kinds.is_empty() => {
                        Ok(FaultSelection::SwarmWith(kinds))
                    }
                    _ => Err(format!(
                        "`{with}`: after `swarm+` give fault kinds joined by `+`"
                    )),
                }
            }
            list => {
                let mut kinds = Vec::new();
                for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    let k = FaultKind::ALL
                        .into_iter()
                        .find(|k| k.name() == name)
                        .ok_or_else(|| {
                            let all: Vec<_> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                            format!(
                                "unknown fault kind `{name}`: use swarm, none, or a list of {}",
                                all.join(", ")
                            )
                        })?;
                    kinds.push(k);
                }
                kinds.sort();
                kinds.dedup();
                Ok(FaultSelection::List(kinds))
            }
        }
    }
}

impl fmt::Display for FaultSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultSelection::Swarm => f.write_str("swarm"),
            FaultSelection::SwarmWith(k) => {
                let names: Vec<_> = k.iter().map(|k| k.name()).collect();
                write!(f, "swarm+{}", names.join("+"))
            }
            FaultSelection::None => f.write_str("none"),
            FaultSelection::List(k) => {
                let names: Vec<_> = k.iter().map(|k| k.name()).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

/// Where the simulated broker keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorageKind {
    /// In memory: a broker crash loses everything, and the auditor forgives that.
    #[default]
    Memory,
    /// The file store (`fsync = "always"`) on the simulated disk: a broker crash must lose
    /// nothing acknowledged.
    File,
}

impl StorageKind {
    /// The name used on the command line and in summaries.
    pub fn name(self) -> &'static str {
        match self {
            StorageKind::Memory => "memory",
            StorageKind::File => "file",
        }
    }
}

/// Which storage a run uses: drawn per seed (`swarm`) or fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StorageSelection {
    /// Memory or file, 1/2 each, drawn from the seed.
    #[default]
    Swarm,
    /// Always this one.
    Fixed(StorageKind),
}

impl FromStr for StorageSelection {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "swarm" => Ok(StorageSelection::Swarm),
            "memory" => Ok(StorageSelection::Fixed(StorageKind::Memory)),
            "file" => Ok(StorageSelection::Fixed(StorageKind::File)),
            other => Err(format!(
                "unknown storage `{other}`: use swarm, memory or file"
            )),
        }
    }
}

impl fmt::Display for StorageSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageSelection::Swarm => f.write_str("swarm"),
            StorageSelection::Fixed(k) => f.write_str(k.name()),
        }
    }
}

/// What the caller fixes; the seed decides the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Number of client hosts.
    pub clients: usize,
    /// Length of the safety phase (faults on), simulated seconds.
    pub duration_secs: u64,
    /// Length of the liveness phase (healed), simulated seconds.
    pub liveness_secs: u64,
    /// Which faults.
    pub faults: FaultSelection,
    /// Which storage.
    pub storage: StorageSelection,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            clients: 4,
            duration_secs: 20,
            liveness_secs: 25,
            faults: FaultSelection::Swarm,
            storage: StorageSelection::Swarm,
        }
    }
}

/// Bugs planted in the broker engine or its store (feature `fault-injection`), recorded so a
/// replay plants the same ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planted {
    /// Forget one unacknowledged QoS 1 message on every session resume.
    pub drop_qos1_on_resume: bool,
    /// Deliver the first QoS 2 message twice.
    pub duplicate_qos2: bool,
    /// File storage: the store acknowledges before it syncs (it runs with `fsync = "never"`
    /// while the auditor holds it to `"always"`), so a crash loses acknowledged state.
    #[serde(default)]
    pub store_ack_before_sync: bool,
    /// File storage: on recovery the store forgets every session's QoS 2 state (inbound packet
    /// ids not yet released, outbound QoS 2 messages in flight).
    #[serde(default)]
    pub store_forgets_qos2: bool,
}

impl Planted {
    /// Whether any bug is planted.
    pub fn any(self) -> bool {
        self.drop_qos1_on_resume
            || self.duplicate_qos2
            || self.store_ack_before_sync
            || self.store_forgets_qos2
    }
}

/// Everything the seed expanded into, besides the schedules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// The seed.
    pub seed: u64,
    /// Number of client hosts.
    pub clients: usize,
    /// Safety phase: faults and workload, `[0, safety_ms)`.
    pub safety_ms: u64,
    /// Liveness phase: every fault healed, no new operations; the system must converge by
    /// `safety_ms + liveness_ms`.
    pub liveness_ms: u64,
    /// Fault kinds on in this run.
    pub fault_kinds: Vec<FaultKind>,
    /// Mean gap between faults (ms).
    pub fault_gap_ms: u64,
    /// Turmoil's network RNG seed.
    pub net_seed: u64,
    /// The broker engine's seed.
    pub broker_seed: u64,
    /// Minimum and maximum message latency outside latency faults (ms).
    pub latency_ms: (u64, u64),
    /// Maximum latency during a latency fault (ms).
    pub latency_fault_ms: u64,
    /// Longest hold (ms), used by the auditor as timing slack.
    pub max_hold_ms: u64,
    /// Number of topics `t/0..` and `r/0..`.
    pub topics: u32,
    /// Turmoil tick (ms).
    pub tick_ms: u64,
    /// Where the broker keeps its state (replay files from before storage was drawn: memory).
    #[serde(default)]
    pub storage: StorageKind,
    /// Seed of the simulated disk's crash choices (how much of an unsynced write survives).
    #[serde(default)]
    pub disk_seed: u64,
    /// Planted broker bugs (tests only).
    #[serde(default)]
    pub planted: Planted,
}

impl Options {
    /// End of the run: the observer's final check starts here.
    pub fn drain_end_ms(&self) -> u64 {
        self.safety_ms + self.liveness_ms
    }

    /// When the simulation stops.
    pub fn end_ms(&self) -> u64 {
        self.drain_end_ms() + 3_000
    }

    /// Upper bound on how late a packet can arrive (latency and holds), for timing slack.
    pub fn max_delay_ms(&self) -> u64 {
        self.latency_ms.1.max(self.latency_fault_ms) + self.max_hold_ms + 2 * self.tick_ms
    }
}

/// One scheduled fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// Partition broker ↔ client both ways.
    Partition {
        /// Client host.
        client: String,
    },
    /// Partition one way.
    PartitionOneway {
        /// Sender side.
        from: String,
        /// Receiver side.
        to: String,
    },
    /// Repair the broker ↔ client link.
    Repair {
        /// Client host.
        client: String,
    },
    /// Hold messages on the broker ↔ client link.
    Hold {
        /// Client host.
        client: String,
    },
    /// Release held messages.
    Release {
        /// Client host.
        client: String,
    },
    /// Crash a host (the broker or a client).
    Crash {
        /// Host.
        host: String,
    },
    /// Restart a crashed host.
    Restart {
        /// Host.
        host: String,
    },
    /// Set the maximum message latency (ms).
    Latency {
        /// New maximum.
        max_ms: u64,
    },
    /// Heal everything: repair and release every link, restart every crashed host, reset the
    /// latency. Starts the liveness phase.
    Heal,
}

/// A fault at a simulated time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timed<T> {
    /// Simulated milliseconds since the start.
    pub at_ms: u64,
    /// What happens.
    #[serde(flatten)]
    pub what: T,
}

/// How a client keeps its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionKind {
    /// Clean Start on the first connection, Session Expiry 0.
    Clean,
    /// Clean Start 0, Session Expiry `expiry_secs`.
    Persistent {
        /// Session Expiry Interval.
        expiry_secs: u32,
    },
}

impl SessionKind {
    /// The Session Expiry Interval.
    pub fn expiry_secs(self) -> u32 {
        match self {
            SessionKind::Clean => 0,
            SessionKind::Persistent { expiry_secs } => expiry_secs,
        }
    }
}

/// A client's subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubPlan {
    /// Topic filter (possibly `$share/g/...`).
    pub filter: String,
    /// Maximum QoS.
    pub qos: u8,
}

/// An operation of the workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// Publish; the payload is `id`, unique in the run.
    Publish {
        /// Message id (also the payload).
        id: String,
        /// Topic.
        topic: String,
        /// QoS.
        qos: u8,
        /// RETAIN.
        retain: bool,
    },
    /// Disconnect normally, wait `gap_ms`, connect again (Clean Start 0 for persistent
    /// sessions): session resume and session expiry.
    Reconnect {
        /// Time between the DISCONNECT and the new CONNECT.
        gap_ms: u64,
    },
}

/// One client host's workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientPlan {
    /// Host name and client id.
    pub name: String,
    /// Session kind.
    pub session: SessionKind,
    /// Keep alive, seconds.
    pub keep_alive: u16,
    /// Will Delay Interval if the client has a will (topic `w/<name>`).
    pub will_delay_secs: Option<u32>,
    /// Subscription, made at every (re)start.
    pub sub: Option<SubPlan>,
    /// Seed of its reconnect jitter.
    pub seed: u64,
    /// Scheduled operations, by time.
    pub ops: Vec<Timed<Op>>,
}

/// Options plus the explicit schedules: everything a run needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The expanded options.
    pub options: Options,
    /// Faults, sorted by time; the last one is [`Fault::Heal`] at the end of the safety phase.
    pub faults: Vec<Timed<Fault>>,
    /// Client workloads.
    pub clients: Vec<ClientPlan>,
}

impl Plan {
    /// Expands `seed` under `settings`.
    pub fn generate(seed: u64, settings: &Settings) -> Plan {
        let mut rng = Rng::new(seed);
        let mut opt_rng = rng.fork();
        let mut fault_rng = rng.fork();
        let mut work_rng = rng.fork();
        let fault_kinds: Vec<FaultKind> = match &settings.faults {
            FaultSelection::None => Vec::new(),
            FaultSelection::List(k) => k.clone(),
            FaultSelection::Swarm => FaultKind::ALL
                .into_iter()
                .filter(|_| opt_rng.chance(Ratio::new(1, 2)))
                .collect(),
            FaultSelection::SwarmWith(always) => FaultKind::ALL
                .into_iter()
                .filter(|k| opt_rng.chance(Ratio::new(1, 2)) || always.contains(k))
                .collect(),
        };
        let min_lat = opt_rng.range(0, 2);
        let options = Options {
            seed,
            clients: settings.clients,
            safety_ms: settings.duration_secs * 1000,
            liveness_ms: settings.liveness_secs * 1000,
            fault_kinds,
            fault_gap_ms: opt_rng.range(300, 2_500),
            net_seed: opt_rng.next_u64(),
            broker_seed: opt_rng.next_u64(),
            latency_ms: (min_lat, min_lat + opt_rng.range(1, 20)),
            latency_fault_ms: opt_rng.range(50, 400),
            max_hold_ms: 2_500,
            topics: opt_rng.range(1, 3) as u32,
            tick_ms: 5,
            // Drawn after everything else, so the plans of seeds from before storage was drawn
            // are unchanged but for it.
            storage: match (opt_rng.chance(Ratio::new(1, 2)), settings.storage) {
                (_, StorageSelection::Fixed(k)) => k,
                (true, StorageSelection::Swarm) => StorageKind::File,
                (false, StorageSelection::Swarm) => StorageKind::Memory,
            },
            disk_seed: opt_rng.next_u64(),
            planted: Planted::default(),
        };
        let faults = fault_schedule(&options, &mut fault_rng);
        let clients = (0..options.clients)
            .map(|i| client_plan(&options, i, &mut work_rng.fork()))
            .collect();
        Plan {
            options,
            faults,
            clients,
        }
    }

    /// The client plans by name.
    pub fn client(&self, name: &str) -> Option<&ClientPlan> {
        self.clients.iter().find(|c| c.name == name)
    }
}

/// The fault schedule: one fault at a time per target (turmoil does not combine hold and
/// one-way partitions on a link), each with its end; then [`Fault::Heal`].
fn fault_schedule(o: &Options, rng: &mut Rng) -> Vec<Timed<Fault>> {
    let mut out: Vec<Timed<Fault>> = Vec::new();
    let clients: Vec<String> = (0..o.clients).map(client_name).collect();
    // Target → time it is free again.
    let mut busy: BTreeMap<String, u64> = BTreeMap::new();
    let mut t = 1_000;
    if !o.fault_kinds.is_empty() && !clients.is_empty() {
        loop {
            t += rng.range(o.fault_gap_ms / 2, o.fault_gap_ms * 3 / 2);
            if t + 200 >= o.safety_ms {
                break;
            }
            let kind = o.fault_kinds[rng.index(o.fault_kinds.len())];
            let client = clients[rng.index(clients.len())].clone();
            let target = match kind {
                FaultKind::BrokerCrash => BROKER.to_string(),
                FaultKind::Latency => "latency".to_string(),
                _ => client.clone(),
            };
            if busy.get(&target).is_some_and(|free| *free > t)
                || (kind != FaultKind::Latency && busy.get(BROKER).is_some_and(|free| *free > t))
            {
                continue;
            }
            // Faults end inside the safety phase or at the heal.
            let end = |len: u64| (t + len).min(o.safety_ms);
            let (start, stop, until) = match kind {
                FaultKind::Partition => {
                    let until = end(rng.range(500, 8_000));
                    (
                        Fault::Partition {
                            client: client.clone(),
                        },
                        Fault::Repair { client },
                        until,
                    )
                }
                FaultKind::PartitionOneway => {
                    let until = end(rng.range(500, 8_000));
                    let (from, to) = if rng.chance(Ratio::new(1, 2)) {
                        (BROKER.to_string(), client.clone())
                    } else {
                        (client.clone(), BROKER.to_string())
                    };
                    (
                        Fault::PartitionOneway { from, to },
                        Fault::Repair { client },
                        until,
                    )
                }
                FaultKind::Hold => {
                    let until = end(rng.range(100, o.max_hold_ms));
                    (
                        Fault::Hold {
                            client: client.clone(),
                        },
                        Fault::Release { client },
                        until,
                    )
                }
                FaultKind::BrokerCrash => {
                    let until = end(rng.range(200, 4_000));
                    (
                        Fault::Crash {
                            host: BROKER.into(),
                        },
                        Fault::Restart {
                            host: BROKER.into(),
                        },
                        until,
                    )
                }
                FaultKind::ClientCrash => {
                    let until = end(rng.range(200, 10_000));
                    (
                        Fault::Crash {
                            host: client.clone(),
                        },
                        Fault::Restart { host: client },
                        until,
                    )
                }
                FaultKind::Latency => {
                    let until = end(rng.range(500, 5_000));
                    (
                        Fault::Latency {
                            max_ms: o.latency_fault_ms,
                        },
                        Fault::Latency {
                            max_ms: o.latency_ms.1,
                        },
                        until,
                    )
                }
            };
            busy.insert(target, until + 1);
            out.push(Timed {
                at_ms: t,
                what: start,
            });
            if until < o.safety_ms {
                out.push(Timed {
                    at_ms: until,
                    what: stop,
                });
            }
        }
    }
    out.sort_by_key(|f| f.at_ms);
    out.push(Timed {
        at_ms: o.safety_ms,
        what: Fault::Heal,
    });
    out
}

/// Host name of client `i`.
pub fn client_name(i: usize) -> String {
    format!("c{i}")
}

fn client_plan(o: &Options, i: usize, rng: &mut Rng) -> ClientPlan {
    let name = client_name(i);
    let session = match rng.range(0, 19) {
        0..=11 => SessionKind::Persistent { expiry_secs: 3_600 },
        12..=14 => SessionKind::Persistent {
            expiry_secs: rng.range(2, 6) as u32,
        },
        _ => SessionKind::Clean,
    };
    let topic =
        |rng: &mut Rng, prefix: &str| format!("{prefix}/{}", rng.range(0, u64::from(o.topics) - 1));
    let sub = match rng.range(0, 19) {
        0..=7 => Some(SubPlan {
            filter: "t/#".into(),
            qos: rng.range(0, 2) as u8,
        }),
        8..=10 => Some(SubPlan {
            filter: topic(rng, "t"),
            qos: rng.range(0, 2) as u8,
        }),
        11..=13 => Some(SubPlan {
            filter: "$share/g/t/#".into(),
            qos: rng.range(1, 2) as u8,
        }),
        _ => None,
    };
    let will_delay_secs = if rng.chance(Ratio::new(1, 3)) {
        Some([0, 2, 5][rng.index(3)])
    } else {
        None
    };
    let keep_alive = rng.range(2, 4) as u16;
    let rate_per_10s = rng.range(2, 20);
    let mut ops = Vec::new();
    let mut t = WORK_START_MS;
    let mut n = 0;
    let mut reconnected = false;
    loop {
        t += rng.range(1, 2 * 10_000 / rate_per_10s);
        if t >= o.safety_ms {
            break;
        }
        if !reconnected && rng.chance(Ratio::new(1, 40)) {
            reconnected = true;
            ops.push(Timed {
                at_ms: t,
                what: Op::Reconnect {
                    gap_ms: rng.range(0, 8_000),
                },
            });
            continue;
        }
        let retain = rng.chance(Ratio::new(1, 6));
        let topic = if retain {
            topic(rng, "r")
        } else {
            topic(rng, "t")
        };
        ops.push(Timed {
            at_ms: t,
            what: Op::Publish {
                id: format!("{name}-{n}"),
                topic,
                qos: rng.range(0, 2) as u8,
                retain,
            },
        });
        n += 1;
    }
    ClientPlan {
        name,
        session,
        keep_alive,
        will_delay_secs,
        sub,
        seed: rng.next_u64(),
        ops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_plan_and_faults_parse() {
        let s = Settings::default();
        assert_eq!(Plan::generate(7, &s), Plan::generate(7, &s));
        assert_ne!(Plan::generate(7, &s), Plan::generate(8, &s));
        let sel: FaultSelection = "hold,partition".parse().expect("list");
        assert_eq!(
            sel,
            FaultSelection::List(vec![FaultKind::Partition, FaultKind::Hold])
        );
        assert!("bogus".parse::<FaultSelection>().is_err());
        let with: FaultSelection = "swarm+broker-crash".parse().expect("swarm+");
        assert_eq!(
            with,
            FaultSelection::SwarmWith(vec![FaultKind::BrokerCrash])
        );
        assert_eq!(with.to_string(), "swarm+broker-crash");
        assert!("swarm+".parse::<FaultSelection>().is_err());
        for seed in 0..20 {
            let p = Plan::generate(
                seed,
                &Settings {
                    faults: with.clone(),
                    storage: StorageSelection::Fixed(StorageKind::File),
                    ..Settings::default()
                },
            );
            assert!(p.options.fault_kinds.contains(&FaultKind::BrokerCrash));
            assert_eq!(p.options.storage, StorageKind::File);
        }
        // Swarm storage draws both kinds.
        let kinds: std::collections::BTreeSet<_> = (0..20)
            .map(|seed| Plan::generate(seed, &s).options.storage)
            .collect();
        assert_eq!(kinds.len(), 2);
        let none = Plan::generate(
            3,
            &Settings {
                faults: FaultSelection::None,
                ..Settings::default()
            },
        );
        assert_eq!(none.faults.len(), 1, "only the heal");
    }
}
