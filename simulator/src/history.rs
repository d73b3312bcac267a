//! The history of a run, Jepsen style: every operation is an `invoke` followed by `ok`, `fail`
//! or `unknown`; observations (deliveries, connection changes, faults) are `info`. Each event has
//! its simulated time. A running FNV-1a digest over the events is checkpointed every
//! [`DIGEST_EVERY`] events; two runs of one plan must give the same checkpoints.

use serde::{Deserialize, Serialize};

/// Events between digest checkpoints.
pub const DIGEST_EVERY: usize = 64;

/// Jepsen's operation outcome types, plus `info` for observations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An operation started.
    Invoke,
    /// It completed successfully.
    Ok,
    /// It definitely did not happen.
    Fail,
    /// It may or may not have happened (crash, or still pending at the end).
    Unknown,
    /// An observation.
    Info,
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// A client instance connects (`ok` carries Session Present).
    Connect {
        /// Client instance (new `Client` object) within the process.
        instance: u32,
        /// Clean Start of the first connection.
        clean_start: bool,
        /// Session Expiry Interval.
        expiry: u32,
        /// Will payload, if any.
        will: Option<String>,
        /// Will Delay Interval.
        will_delay: u32,
        /// Session Present (on `ok`).
        session_present: Option<bool>,
    },
    /// The connection of an instance was lost (abnormal end, seen by the client).
    ConnectionLost {
        /// Instance.
        instance: u32,
    },
    /// The instance reconnected on its own; CONNACK's Session Present.
    Reconnected {
        /// Instance.
        instance: u32,
        /// Session Present.
        session_present: bool,
    },
    /// SUBSCRIBE.
    Subscribe {
        /// Instance.
        instance: u32,
        /// Filter.
        filter: String,
        /// Requested QoS.
        qos: u8,
    },
    /// PUBLISH (payload = `id`).
    Publish {
        /// Instance.
        instance: u32,
        /// Message id.
        id: String,
        /// Topic.
        topic: String,
        /// QoS.
        qos: u8,
        /// RETAIN.
        retain: bool,
    },
    /// A message was delivered to the application.
    Deliver {
        /// Instance.
        instance: u32,
        /// Payload.
        id: String,
        /// Topic.
        topic: String,
        /// Delivered QoS.
        qos: u8,
        /// RETAIN as received.
        retain: bool,
        /// DUP as received.
        dup: bool,
    },
    /// Normal DISCONNECT.
    Disconnect {
        /// Instance.
        instance: u32,
    },
    /// The nemesis applied a fault (`process` is "nemesis"); crashes and restarts name the host.
    Fault {
        /// Description (the schedule entry as JSON).
        fault: String,
    },
    /// A host crashed (`process` is the host).
    Crash,
    /// A host restarted (`process` is the host).
    Restart,
    /// The observer's final read of retained messages is complete.
    RetainedRead,
    /// The simulation ended.
    End,
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Index in the history.
    pub index: usize,
    /// Simulated ms since the start.
    pub t: u64,
    /// Host (client name, "observer", "broker", "nemesis").
    pub process: String,
    /// Outcome type.
    pub kind: Kind,
    /// The operation.
    #[serde(flatten)]
    pub op: Op,
}

impl Event {
    /// One line, for witnesses.
    pub fn line(&self) -> String {
        let op = serde_json::to_string(&self.op).unwrap_or_default();
        format!(
            "#{} t={}ms {} {:?} {}",
            self.index, self.t, self.process, self.kind, op
        )
    }
}

/// FNV-1a, 64 bit: tiny, no randomness, stable across platforms.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Mixes `bytes` in.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The current value.
    pub fn value(self) -> u64 {
        self.0
    }
}

/// The recorded history and its digests.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Every event, in order.
    pub events: Vec<Event>,
    digest: Fnv,
    /// Digest after every [`DIGEST_EVERY`] events (and at the end, see [`History::finish`]).
    pub digests: Vec<u64>,
}

impl History {
    /// Appends an event at `t`.
    pub fn push(&mut self, t: u64, process: &str, kind: Kind, op: Op) {
        let e = Event {
            index: self.events.len(),
            t,
            process: process.to_string(),
            kind,
            op,
        };
        let bytes = serde_json::to_vec(&e).unwrap_or_default();
        self.digest.write(&bytes);
        self.events.push(e);
        if self.events.len() % DIGEST_EVERY == 0 {
            self.digests.push(self.digest.value());
        }
    }

    /// Adds the final digest (over every event).
    pub fn finish(&mut self) {
        if self.events.len() % DIGEST_EVERY != 0 {
            self.digests.push(self.digest.value());
        }
    }

    /// The digest over every event so far.
    pub fn digest(&self) -> u64 {
        self.digest.value()
    }

    /// Rebuilds a history from events (hand-written histories in tests; replay files).
    pub fn from_events(events: Vec<(u64, &str, Kind, Op)>) -> History {
        let mut h = History::default();
        for (t, p, k, op) in events {
            h.push(t, p, k, op);
        }
        h.finish();
        h
    }
}
