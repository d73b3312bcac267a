//! The auditor: checks a [`History`] against what MQTT promises, given what the broker's
//! storage promises ([`Params::durable`]). In memory, a broker crash legitimately loses
//! sessions, retained messages, in-flight state and pending wills. With the file store
//! (`fsync = "always"`) it loses nothing that was acknowledged: a broker crash is then no
//! excuse for any property below; it only moves a will later (the delay of a connection that
//! was open when the broker died counts from the restart), which `will-missing` allows for, and
//! `will-spurious` still forgives a will of a connection the crash ended. A client crash
//! loses what the client had received but not acknowledged and its own in-flight state. The
//! auditor knows this and only asserts what must hold anyway.
//!
//! Properties (each [`Violation::property`] is one of these names):
//! - `qos1-acked-delivered`: a QoS ≥ 1 publish acknowledged after a subscriber's SUBACK reaches
//!   that subscriber if its session survived (no broker crash, no subscriber crash, never
//!   Session Present 0 since, connected at the end); for a shared group, at least one member.
//!   Excused: a QoS 2 publish of a new client instance that resumed a session whose previous
//!   instance left a QoS 2 flow unfinished (the broker still holds that packet id as unreleased,
//!   the new instance does not know it, so a colliding id is taken for a duplicate).
//! - `qos2-no-duplicate`: a client instance gets a QoS 2 delivery of a message at most once,
//!   unless the broker crashed or the publisher's session was lost after the publish began (the
//!   client then publishes its unacknowledged messages again, as new messages).
//! - `qos0-no-duplicate`: a message published at QoS 0 reaches a client at most once.
//! - `order`: per subscriber, per publisher, per topic and QoS (≥ 1), first deliveries follow
//!   publish order, compared only after the subscriber's last session break (not for shared
//!   subscriptions, which promise no order per member).
//! - `no-phantom`: every delivery is a message someone published (or a will), on its topic,
//!   after it was published.
//! - `retained`: the retained value read at the end is not older than an acknowledged retained
//!   publish that began after it completed, and is present if one was acknowledged by the final
//!   broker incarnation (by any incarnation, with a durable store). Excused as for
//!   `qos1-acked-delivered`: a QoS 2 publish of a new client instance that inherited unreleased
//!   packet ids (the broker took it for a duplicate; issue 18 item 6).
//! - `will-spurious`, `will-missing`, `will-early`: a will fires only after an abnormal
//!   disconnect, fires after a client crash once its delay elapsed without the session
//!   resuming, and never before its delay (not judged for a will delivered as the observer
//!   came back: it may have waited in the observer's session since long before).
//! - `session-present`: Session Present 0 only when the session could have ended (broker crash,
//!   expiry, Clean Start); 1 never after Clean Start 1, nor long after the session expired.
//! - `liveness`: after the faults heal, every client is connected and every operation completed
//!   by the end of the liveness phase.

use std::collections::{BTreeMap, BTreeSet};

use mqttref_core::topic::matches;
use serde::{Deserialize, Serialize};

use crate::history::{Event, History, Kind, Op};
use crate::plan::{Plan, StorageKind, BROKER, OBSERVER};

/// Sessions with a shorter expiry may expire during a run (runs last well under an hour).
const SHORT_EXPIRY_SECS: u32 = 3_600;

/// A broken property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// Property name (see the module doc).
    pub property: String,
    /// What went wrong.
    pub message: String,
    /// The history events involved.
    pub witness: Vec<Event>,
}

/// What the auditor needs from the plan: timing slack and session parameters.
#[derive(Debug, Clone)]
pub struct Params {
    /// Latest arrival of a packet after it was sent (latency + hold), ms.
    pub max_delay_ms: u64,
    /// End of the safety phase.
    pub safety_ms: u64,
    /// End of the liveness phase.
    pub drain_end_ms: u64,
    /// Keep alive of each client (s).
    pub keep_alive: BTreeMap<String, u16>,
    /// The broker's state survives a broker crash (file storage): acknowledged messages,
    /// subscriptions, sessions, in-flight QoS 2 state and retained values must outlive it.
    pub durable: bool,
}

impl Params {
    /// From a plan.
    pub fn of(plan: &Plan) -> Params {
        let mut keep_alive: BTreeMap<String, u16> = plan
            .clients
            .iter()
            .map(|c| (c.name.clone(), c.keep_alive))
            .collect();
        keep_alive.insert(OBSERVER.into(), 5);
        Params {
            max_delay_ms: plan.options.max_delay_ms(),
            safety_ms: plan.options.safety_ms,
            drain_end_ms: plan.options.drain_end_ms(),
            keep_alive,
            durable: plan.options.storage == StorageKind::File,
        }
    }
}

/// Audits `history` of a run of `plan`.
pub fn audit(plan: &Plan, history: &History) -> Vec<Violation> {
    audit_with(&Params::of(plan), history)
}

struct Pub<'a> {
    invoke: &'a Event,
    done: Option<&'a Event>,
    topic: &'a str,
    qos: u8,
    retain: bool,
}

impl Pub<'_> {
    fn acked(&self) -> Option<u64> {
        self.done.filter(|e| e.kind == Kind::Ok).map(|e| e.t)
    }
}

struct Delivery<'a> {
    ev: &'a Event,
    instance: u32,
    id: &'a str,
    topic: &'a str,
    qos: u8,
    retain: bool,
}

struct Epoch<'a> {
    process: &'a str,
    filter: &'a str,
    qos: u8,
    ok: &'a Event,
}

/// "Connected" observations: (event, instance, session present, clean start).
struct Conn<'a> {
    ev: &'a Event,
    instance: u32,
    sp: bool,
    clean_start: bool,
    expiry: u32,
}

struct Index<'a> {
    pubs: BTreeMap<&'a str, Pub<'a>>,
    deliveries: Vec<Delivery<'a>>,
    epochs: Vec<Epoch<'a>>,
    conns: BTreeMap<&'a str, Vec<Conn<'a>>>,
    broker_crashes: Vec<&'a Event>,
    broker_restarts: Vec<u64>,
    crashes: BTreeMap<&'a str, Vec<&'a Event>>,
    /// Connect invokes with a will: will id → event.
    wills: BTreeMap<&'a str, &'a Event>,
    /// Fault events touching a client (partitions, holds) or the broker (crashes).
    faults: Vec<&'a Event>,
    /// Final state per process: the disconnect at or after the drain end succeeded.
    final_ok: BTreeSet<&'a str>,
}

fn index<'a>(h: &'a History, p: &Params) -> Index<'a> {
    let mut ix = Index {
        pubs: BTreeMap::new(),
        deliveries: Vec::new(),
        epochs: Vec::new(),
        conns: BTreeMap::new(),
        broker_crashes: Vec::new(),
        broker_restarts: Vec::new(),
        crashes: BTreeMap::new(),
        wills: BTreeMap::new(),
        faults: Vec::new(),
        final_ok: BTreeSet::new(),
    };
    for e in &h.events {
        let proc_ = e.process.as_str();
        match (&e.op, e.kind) {
            (
                Op::Publish {
                    id,
                    topic,
                    qos,
                    retain,
                    ..
                },
                Kind::Invoke,
            ) => {
                ix.pubs.insert(
                    id.as_str(),
                    Pub {
                        invoke: e,
                        done: None,
                        topic,
                        qos: *qos,
                        retain: *retain,
                    },
                );
            }
            (Op::Publish { id, .. }, _) => {
                if let Some(p) = ix.pubs.get_mut(id.as_str()) {
                    p.done.get_or_insert(e);
                }
            }
            (
                Op::Deliver {
                    instance,
                    id,
                    topic,
                    qos,
                    retain,
                    ..
                },
                _,
            ) => ix.deliveries.push(Delivery {
                ev: e,
                instance: *instance,
                id,
                topic,
                qos: *qos,
                retain: *retain,
            }),
            (Op::Subscribe { filter, qos, .. }, Kind::Ok) => ix.epochs.push(Epoch {
                process: proc_,
                filter,
                qos: *qos,
                ok: e,
            }),
            (
                Op::Connect {
                    instance,
                    clean_start,
                    expiry,
                    will,
                    session_present,
                    ..
                },
                kind,
            ) => {
                if kind == Kind::Invoke {
                    if let Some(w) = will {
                        ix.wills.insert(w.as_str(), e);
                    }
                }
                if kind == Kind::Ok {
                    ix.conns.entry(proc_).or_default().push(Conn {
                        ev: e,
                        instance: *instance,
                        sp: session_present.unwrap_or(false),
                        clean_start: *clean_start,
                        expiry: *expiry,
                    });
                }
            }
            (
                Op::Reconnected {
                    instance,
                    session_present,
                },
                _,
            ) => {
                let (clean, expiry) = ix
                    .conns
                    .get(proc_)
                    .and_then(|v| v.last())
                    .map(|c| (c.clean_start, c.expiry))
                    .unwrap_or((false, 0));
                ix.conns.entry(proc_).or_default().push(Conn {
                    ev: e,
                    instance: *instance,
                    sp: *session_present,
                    // Reconnects of a 5.0 session always send Clean Start 0.
                    clean_start: false,
                    expiry: if clean { 0 } else { expiry },
                });
            }
            (Op::Crash, _) => {
                if proc_ == BROKER {
                    ix.broker_crashes.push(e);
                } else {
                    ix.crashes.entry(proc_).or_default().push(e);
                }
            }
            (Op::Restart, _) if proc_ == BROKER => ix.broker_restarts.push(e.t),
            (Op::Fault { .. }, _) => ix.faults.push(e),
            (Op::Disconnect { .. }, Kind::Ok) if e.t >= p.drain_end_ms => {
                ix.final_ok.insert(proc_);
            }
            _ => {}
        }
    }
    ix
}

/// Audits with explicit parameters (hand-written histories in tests).
pub fn audit_with(p: &Params, h: &History) -> Vec<Violation> {
    let ix = index(h, p);
    let mut out = Vec::new();
    let v = |out: &mut Vec<Violation>, property: &str, message: String, w: Vec<&Event>| {
        out.push(Violation {
            property: property.into(),
            message,
            witness: w.into_iter().cloned().collect(),
        });
    };
    // Broker crashes that may lose state: every one in memory, none with a durable store.
    let losing_crashes: &[&Event] = if p.durable { &[] } else { &ix.broker_crashes };
    let broker_crash_in = |a: u64, b: u64| ix.broker_crashes.iter().any(|c| c.t >= a && c.t <= b);
    let losing_crash_in = |a: u64, b: u64| losing_crashes.iter().any(|c| c.t >= a && c.t <= b);
    // Whether the session a connection found may not be the one the client had. Session
    // Present 1 is not proof for a session that can expire within the run: a reconnect whose
    // CONNACK was lost may have created a fresh, empty session, which the next connection then
    // resumes with Session Present 1 (the client never saw the 0, so it restored nothing).
    let may_be_new = |c: &Conn<'_>| !c.sp || c.clean_start || c.expiry < SHORT_EXPIRY_SECS;
    // The first time after `t` the session of `process` may have ended, if ever.
    let break_after = |process: &str, t: u64| -> Option<u64> {
        let mut b: Option<u64> = None;
        let mut note = |x: u64| b = Some(b.map_or(x, |y: u64| y.min(x)));
        for c in losing_crashes {
            if c.t > t {
                note(c.t);
            }
        }
        for c in ix.crashes.get(process).into_iter().flatten() {
            if c.t > t {
                note(c.t);
            }
        }
        for c in ix.conns.get(process).into_iter().flatten() {
            if c.ev.t > t && may_be_new(c) {
                note(c.ev.t);
            }
        }
        b
    };
    // The first time after `t` the broker-side session of `process` certainly ended (a client
    // crash loses the client's state, not the broker's session).
    let broker_session_end_after = |process: &str, t: u64| -> Option<u64> {
        let crashes = losing_crashes.iter().map(|c| c.t);
        let conns = ix
            .conns
            .get(process)
            .into_iter()
            .flatten()
            .filter(|c| !c.sp || c.clean_start)
            .map(|c| c.ev.t);
        crashes.chain(conns).filter(|x| *x > t).min()
    };
    // The last time the session of `process` may have ended before `t`.
    let last_break_before = |process: &str, t: u64| -> u64 {
        let mut b = 0;
        for c in losing_crashes {
            if c.t < t {
                b = b.max(c.t);
            }
        }
        for c in ix.crashes.get(process).into_iter().flatten() {
            if c.t < t {
                b = b.max(c.t);
            }
        }
        for c in ix.conns.get(process).into_iter().flatten() {
            if c.ev.t < t && may_be_new(c) {
                b = b.max(c.ev.t);
            }
        }
        b
    };
    let delivered_to = |process: &str, id: &str| {
        ix.deliveries
            .iter()
            .any(|d| d.ev.process == process && d.id == id)
    };

    // ---- liveness ----
    for e in &h.events {
        if e.t < p.drain_end_ms || e.process == "nemesis" {
            continue;
        }
        let what = match (&e.op, e.kind) {
            (Op::Publish { .. }, Kind::Unknown) => "publish did not complete",
            (Op::Disconnect { .. }, Kind::Fail) => "client not connected",
            (Op::Connect { .. }, Kind::Unknown) => "client never connected",
            (Op::Subscribe { .. }, Kind::Unknown) => "subscribe did not complete",
            _ => continue,
        };
        v(
            &mut out,
            "liveness",
            format!(
                "{}: {what} by the end of the liveness phase ({} ms after the heal)",
                e.process,
                p.drain_end_ms - p.safety_ms
            ),
            vec![e],
        );
    }

    // ---- no-phantom ----
    for d in &ix.deliveries {
        let ok = match ix.pubs.get(d.id) {
            Some(pb) => pb.topic == d.topic && pb.invoke.t <= d.ev.t,
            None => ix
                .wills
                .get(d.id)
                .is_some_and(|w| d.topic == format!("w/{}", w.process) && w.t <= d.ev.t),
        };
        if !ok {
            let mut w = vec![d.ev];
            w.extend(ix.pubs.get(d.id).map(|pb| pb.invoke));
            v(
                &mut out,
                "no-phantom",
                format!(
                    "{} received {:?} on {} that nobody published there before",
                    d.ev.process, d.id, d.topic
                ),
                w,
            );
        }
    }

    // ---- duplicates ----
    let mut seen: BTreeMap<(&str, u32, &str, u8), &Event> = BTreeMap::new();
    let mut seen0: BTreeMap<(&str, &str), &Event> = BTreeMap::new();
    for d in &ix.deliveries {
        let Some(pb) = ix.pubs.get(d.id) else {
            continue;
        };
        if d.qos == 2 && !d.retain {
            if let Some(first) = seen.insert((&d.ev.process, d.instance, d.id, 2), d.ev) {
                // A publisher whose session was lost re-publishes its unacknowledged messages
                // as new ones (the client discards the session state, [MQTT-3.2.2-5], but not
                // the application's messages): exactly-once holds within a session only.
                let publisher_lost =
                    break_after(&pb.invoke.process, pb.invoke.t).is_some_and(|b| b <= d.ev.t);
                if !losing_crash_in(pb.invoke.t, d.ev.t) && !publisher_lost {
                    v(
                        &mut out,
                        "qos2-no-duplicate",
                        format!("{} got QoS 2 message {:?} twice", d.ev.process, d.id),
                        vec![pb.invoke, first, d.ev],
                    );
                }
            }
        }
        if pb.qos == 0 && !d.retain {
            if let Some(first) = seen0.insert((&d.ev.process, d.id), d.ev) {
                v(
                    &mut out,
                    "qos0-no-duplicate",
                    format!("{} got QoS 0 message {:?} twice", d.ev.process, d.id),
                    vec![pb.invoke, first, d.ev],
                );
            }
        }
    }

    // A new client instance that resumes a session inherits the broker's record of the QoS 2
    // packet ids its predecessor left unreleased, but not the ids themselves: a QoS 2 publish of
    // the new instance whose fresh id collides is acknowledged as a duplicate and dropped. That
    // is the client's in-memory state being lost, not a broker fault.
    let instance_of = |e: &Event| match &e.op {
        Op::Publish { instance, .. } => *instance,
        _ => 0,
    };
    let inherits_unreleased = |pb: &Pub<'_>| {
        pb.qos == 2
            && ix.pubs.values().any(|q| {
                q.qos == 2
                    && q.invoke.process == pb.invoke.process
                    && instance_of(q.invoke) < instance_of(pb.invoke)
                    && q.acked().is_none()
                    && broker_session_end_after(&q.invoke.process, q.invoke.t)
                        .is_none_or(|b| b > pb.invoke.t)
            })
    };

    // ---- qos1-acked-delivered ----
    for (id, pb) in &ix.pubs {
        let Some(acked) = pb.acked() else { continue };
        if pb.qos == 0 || pb.retain || inherits_unreleased(pb) {
            continue;
        }
        let mut groups: BTreeMap<&str, Vec<&Epoch<'_>>> = BTreeMap::new();
        for ep in &ix.epochs {
            let (filter, share) = match ep.filter.strip_prefix("$share/") {
                Some(rest) => match rest.split_once('/') {
                    Some((g, f)) => (f, Some(g)),
                    None => continue,
                },
                None => (ep.filter, None),
            };
            if !matches(filter, pb.topic) || ep.process == OBSERVER {
                continue;
            }
            match share {
                Some(g) => groups.entry(g).or_default().push(ep),
                None => {
                    if ep.qos == 0
                        || ep.ok.t >= pb.invoke.t
                        || break_after(ep.process, ep.ok.t).is_some()
                        || !ix.final_ok.contains(ep.process)
                        || delivered_to(ep.process, id)
                    {
                        continue;
                    }
                    v(
                        &mut out,
                        "qos1-acked-delivered",
                        format!(
                            "QoS {} message {id:?} to {} acknowledged at {acked} ms never reached \
                             subscriber {} ({} since {} ms, session never lost)",
                            pb.qos, pb.topic, ep.process, ep.filter, ep.ok.t
                        ),
                        vec![ep.ok, pb.invoke, pb.done.unwrap_or(pb.invoke)],
                    );
                }
            }
        }
        for (g, members) in groups {
            let any_before = members.iter().any(|m| m.ok.t < pb.invoke.t);
            let intact = members.iter().all(|m| {
                break_after(m.process, m.ok.t).is_none() && ix.final_ok.contains(m.process)
            });
            if !any_before || !intact {
                continue;
            }
            if !members.iter().any(|m| delivered_to(m.process, id)) {
                let mut w: Vec<&Event> = members.iter().map(|m| m.ok).collect();
                w.push(pb.invoke);
                w.extend(pb.done);
                v(
                    &mut out,
                    "qos1-acked-delivered",
                    format!(
                        "QoS {} message {id:?} to {} acknowledged at {acked} ms reached no member \
                         of shared group {g}",
                        pb.qos, pb.topic
                    ),
                    w,
                );
            }
        }
    }

    // ---- order ----
    let seq = |id: &str| -> Option<u64> { id.rsplit_once('-').and_then(|(_, n)| n.parse().ok()) };
    // (subscriber, publisher, topic, QoS) → (publish sequence number, delivery) in order.
    type Stream<'e> = (&'e str, &'e str, &'e str, u8);
    let mut firsts: BTreeMap<Stream<'_>, Vec<(u64, &Event)>> = BTreeMap::new();
    let mut first_seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    let shared_members: BTreeSet<&str> = ix
        .epochs
        .iter()
        .filter(|ep| ep.filter.starts_with("$share/"))
        .map(|ep| ep.process)
        .collect();
    for d in &ix.deliveries {
        let Some(pb) = ix.pubs.get(d.id) else {
            continue;
        };
        if d.qos == 0 || pb.qos == 0 || d.retain || !first_seen.insert((&d.ev.process, d.id)) {
            continue;
        }
        // A shared group promises no order per member: a QoS 1 message resent by its
        // publisher after a reconnect is routed again, possibly to another member.
        if shared_members.contains(d.ev.process.as_str()) {
            continue;
        }
        if last_break_before(&d.ev.process, d.ev.t) > pb.invoke.t.saturating_sub(1) {
            continue;
        }
        if let Some(n) = seq(d.id) {
            firsts
                .entry((&d.ev.process, &pb.invoke.process, pb.topic, pb.qos))
                .or_default()
                .push((n, d.ev));
        }
    }
    for ((sub, publ, topic, qos), list) in firsts {
        for w in list.windows(2) {
            if w[1].0 < w[0].0 {
                v(
                    &mut out,
                    "order",
                    format!(
                        "{sub} got QoS {qos} messages of {publ} on {topic} out of order: {} after {}",
                        w[1].0, w[0].0
                    ),
                    vec![w[0].1, w[1].1],
                );
                break;
            }
        }
    }

    // ---- retained ----
    let read = h
        .events
        .iter()
        .find(|e| e.process == OBSERVER && e.op == Op::RetainedRead);
    let sub_r = ix
        .epochs
        .iter()
        .find(|ep| ep.process == OBSERVER && ep.filter == "r/#");
    if let (Some(read), Some(sub_r)) = (read, sub_r) {
        // A durable broker keeps retained values across restarts.
        let last_restart = if p.durable {
            0
        } else {
            ix.broker_restarts.iter().copied().max().unwrap_or(0)
        };
        let mut topics: BTreeSet<&str> = BTreeSet::new();
        for pb in ix.pubs.values().filter(|pb| pb.retain) {
            topics.insert(pb.topic);
        }
        for topic in topics {
            let got: Vec<&Delivery<'_>> = ix
                .deliveries
                .iter()
                .filter(|d| {
                    d.ev.process == OBSERVER
                        && d.retain
                        && d.topic == topic
                        && d.ev.t >= sub_r.ok.t.saturating_sub(p.max_delay_ms)
                        && d.ev.t <= read.t
                })
                .collect();
            let final_acked: Vec<&Pub<'_>> = ix
                .pubs
                .values()
                .filter(|pb| {
                    pb.retain
                        && pb.topic == topic
                        && pb.qos > 0
                        && pb.invoke.t > last_restart
                        && pb.acked().is_some()
                        // Dropped as a duplicate of its predecessor's unreleased packet id (see
                        // `inherits_unreleased`): it never replaced the retained value.
                        && !inherits_unreleased(pb)
                })
                .collect();
            match got.last() {
                None => {
                    if let Some(x) = final_acked.last() {
                        v(
                            &mut out,
                            "retained",
                            format!(
                                "no retained message on {topic} at the end, but {:?} was \
                                 acknowledged by the last broker incarnation",
                                x.invoke.op_id()
                            ),
                            vec![x.invoke, x.done.unwrap_or(x.invoke), read],
                        );
                    }
                }
                Some(d) => {
                    let Some(r) = ix.pubs.get(d.id) else { continue };
                    let Some(r_ok) = r.acked().filter(|_| r.qos > 0) else {
                        continue;
                    };
                    if let Some(x) = final_acked.iter().find(|x| x.invoke.t > r_ok) {
                        v(
                            &mut out,
                            "retained",
                            format!(
                                "retained value of {topic} is {:?}, but {:?} was published \
                                 after it and acknowledged",
                                d.id,
                                x.invoke.op_id()
                            ),
                            vec![r.invoke, r.done.unwrap_or(r.invoke), x.invoke, d.ev],
                        );
                    }
                }
            }
        }
    }

    // ---- wills ----
    // When the observer (re)connected: a will delivered right then may have been published
    // at any moment while it was away (queued in its session, which a durable broker keeps
    // through a crash), so its delivery time says nothing about when it fired.
    let observer_back: Vec<u64> = ix
        .conns
        .get(OBSERVER)
        .into_iter()
        .flatten()
        .map(|c| c.ev.t)
        .collect();
    let queued_for_observer = |t: u64| {
        observer_back
            .iter()
            .any(|b| *b <= t && t <= b + p.max_delay_ms + 100)
    };
    let observer_sub = ix
        .epochs
        .iter()
        .find(|ep| ep.process == OBSERVER && ep.filter == "w/#");
    // Each broker crash with its restart (the end of the run if it never restarted).
    let outages: Vec<(u64, u64)> = ix
        .broker_crashes
        .iter()
        .map(|c| {
            let up = ix
                .broker_restarts
                .iter()
                .copied()
                .filter(|r| *r >= c.t)
                .min()
                .unwrap_or(p.drain_end_ms);
            (c.t, up)
        })
        .collect();
    for (will_id, cev) in &ix.wills {
        let Op::Connect {
            instance,
            expiry,
            will_delay,
            clean_start,
            ..
        } = &cev.op
        else {
            continue;
        };
        let process = cev.process.as_str();
        let eff_ms = u64::from((*will_delay).min(*expiry)) * 1000;
        let ka_ms = u64::from(*p.keep_alive.get(process).unwrap_or(&5)) * 1000;
        let fired: Vec<&Delivery<'_>> = ix
            .deliveries
            .iter()
            .filter(|d| d.ev.process == OBSERVER && d.id == *will_id)
            .collect();
        let mine = |e: &Event| match &e.op {
            Op::Connect { instance: i, .. }
            | Op::Disconnect { instance: i }
            | Op::ConnectionLost { instance: i }
            | Op::Reconnected { instance: i, .. } => i == instance,
            _ => false,
        };
        let events: Vec<&Event> = h
            .events
            .iter()
            .filter(|e| e.process == process && mine(e))
            .collect();
        let connected_ok = events
            .iter()
            .find(|e| e.kind == Kind::Ok && matches!(e.op, Op::Connect { .. }))
            .copied();
        let ended = events
            .iter()
            .find(|e| e.kind == Kind::Ok && matches!(e.op, Op::Disconnect { .. }))
            .copied();
        let crashed = ix
            .crashes
            .get(process)
            .into_iter()
            .flatten()
            .find(|c| c.t >= cev.t)
            .copied()
            .filter(|c| ended.is_none_or(|e| c.t < e.t));
        let lost = events
            .iter()
            .any(|e| matches!(e.op, Op::ConnectionLost { .. }));
        // Next instance of the same client id.
        let next_connect = h
            .events
            .iter()
            .filter(|e| e.process == process && e.t > cev.t && e.kind == Kind::Invoke)
            .find(|e| matches!(&e.op, Op::Connect { instance: i, .. } if i != instance));
        // will-spurious
        if let (Some(end), false, None) = (ended, lost, crashed) {
            let touched = ix.faults.iter().any(|f| {
                f.t + p.max_delay_ms >= cev.t
                    && f.t <= end.t + p.max_delay_ms
                    && match &f.op {
                        Op::Fault { fault } => {
                            fault.contains(&format!("\"{process}\""))
                                || fault.contains(BROKER)
                                || fault.contains("heal")
                        }
                        _ => false,
                    }
            });
            if !touched {
                if let Some(d) = fired.first() {
                    v(
                        &mut out,
                        "will-spurious",
                        format!(
                            "will of {process} (instance {instance}) fired although every \
                             connection of it ended normally"
                        ),
                        vec![cev, end, d.ev],
                    );
                }
            }
        }
        // will-missing
        if let (Some(c), Some(ok), Some(obs)) = (crashed, connected_ok, observer_sub) {
            // By when the broker knows the connection is gone: its keep-alive grace, or, if
            // the broker was down then, its restart (a durable broker counts the will's delay
            // from the restart for a connection that was open when it died).
            let mut detected = c.t + ka_ms * 3 / 2 + p.max_delay_ms;
            for &(down, up) in &outages {
                if down <= detected && up >= c.t {
                    detected = detected.max(up + p.max_delay_ms);
                }
            }
            let resumed_in_time =
                next_connect.is_some_and(|n| !*clean_start && n.t < detected + eff_ms + 1_000);
            // In memory a broker crash loses the will; a durable broker keeps it.
            let crash_excuses =
                !p.durable && broker_crash_in(cev.t.saturating_sub(p.max_delay_ms), u64::MAX);
            let obligation = ok.t < c.t
                && obs.ok.t < cev.t
                && break_after(OBSERVER, obs.ok.t).is_none()
                && !crash_excuses
                && (eff_ms == 0 || !resumed_in_time)
                && detected + eff_ms + 2_000 < p.drain_end_ms;
            if obligation && fired.is_empty() {
                v(
                    &mut out,
                    "will-missing",
                    format!(
                        "{process} crashed at {} ms with a will (delay {} s) that never fired",
                        c.t, will_delay
                    ),
                    vec![cev, ok, c],
                );
            }
        }
        // will-early
        if eff_ms > 0 {
            for d in &fired {
                if next_connect.is_some_and(|n| n.t <= d.ev.t) || queued_for_observer(d.ev.t) {
                    continue;
                }
                let last_connected = events.iter().rfind(|e| {
                    e.t <= d.ev.t
                        && (matches!(e.op, Op::Reconnected { .. })
                            || (e.kind == Kind::Ok && matches!(e.op, Op::Connect { .. })))
                });
                if let Some(lc) = last_connected {
                    if d.ev.t + p.max_delay_ms + 100 < lc.t + eff_ms {
                        v(
                            &mut out,
                            "will-early",
                            format!(
                                "will of {process} fired {} ms after it was last connected, \
                                 before its {} ms delay",
                                d.ev.t - lc.t,
                                eff_ms
                            ),
                            vec![*lc, d.ev],
                        );
                    }
                }
            }
        }
    }

    // ---- session-present ----
    for (process, conns) in &ix.conns {
        for c in conns {
            if c.clean_start && c.sp {
                v(
                    &mut out,
                    "session-present",
                    format!("{process}: Session Present 1 after Clean Start 1"),
                    vec![c.ev],
                );
            }
        }
        for w in conns.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if b.sp || b.clean_start || a.expiry == 0 || b.expiry == 0 {
                continue;
            }
            let gap = b.ev.t - a.ev.t;
            let crashed = ix
                .crashes
                .get(process)
                .into_iter()
                .flatten()
                .any(|c| c.t >= a.ev.t && c.t <= b.ev.t);
            if !losing_crash_in(a.ev.t.saturating_sub(p.max_delay_ms), b.ev.t)
                && gap + p.max_delay_ms + 100 < u64::from(a.expiry) * 1000
                && !(crashed && a.expiry < 60)
            {
                v(
                    &mut out,
                    "session-present",
                    format!(
                        "{process}: Session Present 0 {gap} ms after the last connection, \
                         with Session Expiry {} s and no broker crash",
                        a.expiry
                    ),
                    vec![a.ev, b.ev],
                );
            }
        }
        // Kept too long: a new instance resumes long after the previous one ended.
        let ka_ms = u64::from(*p.keep_alive.get(*process).unwrap_or(&5)) * 1000;
        for b in conns.iter().filter(|c| c.sp) {
            let Some(prev) = conns
                .iter()
                .rfind(|c| c.ev.t < b.ev.t && c.instance != b.instance)
            else {
                continue;
            };
            if conns
                .iter()
                .any(|c| c.instance == b.instance && c.ev.t < b.ev.t)
            {
                continue;
            }
            // When did the previous instance end?
            let end = h
                .events
                .iter()
                .filter(|e| e.process == *process && e.t >= prev.ev.t && e.t <= b.ev.t)
                .find(|e| {
                    matches!(e.op, Op::Crash)
                        || (e.kind == Kind::Ok
                            && matches!(&e.op, Op::Disconnect { instance } if *instance == prev.instance))
                });
            let invoke = h
                .events
                .iter()
                .filter(|e| e.process == *process && e.t <= b.ev.t && e.kind == Kind::Invoke)
                .rfind(
                    |e| matches!(&e.op, Op::Connect { instance, .. } if *instance == b.instance),
                );
            if let (Some(end), Some(invoke)) = (end, invoke) {
                let limit =
                    end.t + ka_ms * 3 / 2 + u64::from(prev.expiry) * 1000 + p.max_delay_ms + 500;
                // The session may be the one this instance's own first attempt created (Session
                // Present 0) when that CONNACK was lost and the client tried again: possible
                // when the broker crashed (a durable one keeps that session) or the client's
                // link was faulted while it connected.
                let retried = broker_crash_in(invoke.t, b.ev.t)
                    || ix.faults.iter().any(|f| {
                        f.t + p.max_delay_ms >= invoke.t
                            && f.t <= b.ev.t
                            && matches!(&f.op, Op::Fault { fault } if fault.contains(&format!("\"{process}\"")))
                    });
                if prev.expiry < 3_600 && invoke.t > limit && !retried {
                    v(
                        &mut out,
                        "session-present",
                        format!(
                            "{process}: Session Present 1 although the session (expiry {} s) \
                             ended at {} ms and should have expired by {limit} ms",
                            prev.expiry, end.t
                        ),
                        vec![prev.ev, end, invoke, b.ev],
                    );
                }
            }
        }
    }
    out
}

impl Event {
    /// The message id of a publish event.
    pub fn op_id(&self) -> &str {
        match &self.op {
            Op::Publish { id, .. } | Op::Deliver { id, .. } => id,
            _ => "",
        }
    }
}
