//! `cargo xtask soak`: the heavy overload checks, run against the real `mqttref broker` binary
//! (release build) and against Mosquitto, each check on a broker process started fresh for it on
//! a free loopback port, with the broker's resident memory read from `/proc/PID/status`.
//!
//! The clients are written here, on tokio TCP with the MQTT bytes encoded and decoded by hand
//! (a few packet kinds), so the load they make does not depend on the code under test.
//!
//! Both brokers run with their defaults, except in `silent-sockets`, which sets
//! `max_connections` to 100 in both (`max_connections = 100` in mqttref's TOML,
//! `max_connections 100` on Mosquitto's listener). Mosquitto's defaults that matter here:
//! `max_queued_messages 1000`, `max_inflight_messages 20`, no limit on retained messages, on
//! queued PINGRESPs or on connections (beyond the file-descriptor limit).
//!
//! Output: one line per check and broker as it runs, then a Markdown table (also written to
//! `target/soak/soak.md`); each broker's log is in `target/soak/<check>-<broker>/log`.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::brokers::{
    build_mqttref, find_mosquitto, mib, open_idle, readable_dir, target_dir, thousands,
    write_readable, BrokerProcess as Broker,
};

/// Options of `cargo xtask soak`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Smaller numbers (10,000 messages, 20,000 retained, 1,000 connections, a 3 s flood), so
    /// that both brokers are done in under two minutes.
    #[arg(long)]
    short: bool,
    /// Which broker(s) to run the checks against.
    #[arg(long, value_enum, default_value_t = Which::Both)]
    broker: Which,
    /// Run only this check (repeatable): qos1-burst, pingreq-flood, subscribe-storm,
    /// retained-to-all, idle-connections, silent-sockets.
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
    /// Exit 0 even when a bound for mqttref fails (the figures still print).
    #[arg(long)]
    report_only: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Which {
    Mqttref,
    Mosquitto,
    Both,
}

/// A broker under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Mqttref,
    Mosquitto,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Mqttref => "mqttref",
            Kind::Mosquitto => "mosquitto",
        }
    }
}

/// The numbers of one run: full or `--short`.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    /// QoS 1 messages in `qos1-burst`.
    burst: u32,
    /// How long `pingreq-flood` floods.
    flood: Duration,
    /// How long after a check's clients close its "after" RSS is read.
    settle: Duration,
    /// Retained messages stored for `subscribe-storm` and `retained-to-all`.
    retained: u32,
    /// Connections in `idle-connections`.
    idle: usize,
    /// The longest a check waits for something it expects before giving up on it.
    cap: Duration,
}

const FULL: Sizes = Sizes {
    burst: 50_000,
    flood: Duration::from_secs(10),
    settle: Duration::from_secs(5),
    retained: 100_000,
    idle: 5_000,
    cap: Duration::from_secs(60),
};

const SHORT: Sizes = Sizes {
    burst: 10_000,
    flood: Duration::from_secs(3),
    settle: Duration::from_secs(3),
    retained: 20_000,
    idle: 1_000,
    cap: Duration::from_secs(20),
};

/// SUBSCRIBEs in `subscribe-storm`, and filters in each.
const STORM_SUBSCRIBES: u32 = 5;
const STORM_FILTERS: u32 = 1_000;
/// `silent-sockets`: the brokers' connection limit and the silent sockets opened.
const SILENT_LIMIT: u32 = 100;
const SILENT_SOCKETS: usize = 116;
/// `pingreq-flood`: flooding clients, and the broker RSS at which the flood stops early (so a
/// broker that queues every reply cannot take the machine's memory).
const FLOODERS: usize = 4;
const FLOOD_RSS_STOP_KIB: u64 = 4 * 1024 * 1024;
/// Bounds for mqttref.
const FLOOD_GROWTH_KIB: u64 = 64 * 1024;
const PING_BOUND: Duration = Duration::from_secs(1);
const CONNACK_BOUND: Duration = Duration::from_secs(1);
const IDLE_SLACK_BYTES: f64 = 1024.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    Qos1Burst,
    PingreqFlood,
    SubscribeStorm,
    RetainedToAll,
    IdleConnections,
    SilentSockets,
}

const CHECKS: [Check; 6] = [
    Check::Qos1Burst,
    Check::PingreqFlood,
    Check::SubscribeStorm,
    Check::RetainedToAll,
    Check::IdleConnections,
    Check::SilentSockets,
];

impl Check {
    fn name(self) -> &'static str {
        match self {
            Check::Qos1Burst => "qos1-burst",
            Check::PingreqFlood => "pingreq-flood",
            Check::SubscribeStorm => "subscribe-storm",
            Check::RetainedToAll => "retained-to-all",
            Check::IdleConnections => "idle-connections",
            Check::SilentSockets => "silent-sockets",
        }
    }

    /// The bound mqttref must meet, in words.
    fn bound(self, s: &Sizes) -> String {
        match self {
            Check::Qos1Burst => format!("A gets all {}, in order", thousands(s.burst as u64)),
            Check::PingreqFlood => "RSS peak − before < 64 MiB".into(),
            Check::SubscribeStorm => "worst PINGRESP < 1 s".into(),
            Check::RetainedToAll => format!("all {} retained", thousands(s.retained as u64)),
            Check::IdleConnections => "all connect; per conn ≤ Mosquitto's + 1 KiB".into(),
            Check::SilentSockets => "CONNACK 0 (accepted) < 1 s".into(),
        }
    }

    /// `max_connections` for the broker, where the check sets one.
    fn max_connections(self) -> Option<u32> {
        (self == Check::SilentSockets).then_some(SILENT_LIMIT)
    }
}

/// What one check measured on one broker.
#[derive(Debug, Default)]
struct Measured {
    /// The figures, for the table.
    text: String,
    /// Whether mqttref's bound holds, where the check alone can tell.
    ok: Option<bool>,
    /// `idle-connections`: bytes of RSS per connection, and whether every connection got in.
    per_conn: Option<(f64, bool)>,
}

impl Measured {
    fn failed(e: &anyhow::Error) -> Measured {
        Measured {
            text: format!("error: {e:#}"),
            ok: Some(false),
            per_conn: None,
        }
    }
}

/// Runs the soak checks; exits 1 when a bound for mqttref fails (unless `--report-only`).
pub fn run(args: Args) -> Result<()> {
    let checks: Vec<Check> = if args.only.is_empty() {
        CHECKS.to_vec()
    } else {
        let mut picked = Vec::new();
        for name in &args.only {
            match CHECKS.iter().find(|c| c.name() == name) {
                Some(c) if !picked.contains(c) => picked.push(*c),
                Some(_) => {}
                None => bail!(
                    "no check named {name:?}; the checks: {}",
                    CHECKS.map(Check::name).join(", ")
                ),
            }
        }
        CHECKS.into_iter().filter(|c| picked.contains(c)).collect()
    };
    let sizes = if args.short { SHORT } else { FULL };
    let root = crate::workspace_root();
    let target = target_dir(&root);
    let out = target.join("soak");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    // Both sides of idle-connections hold one descriptor per connection; brokers inherit ours.
    let (soft, hard) =
        rlimit::getrlimit(rlimit::Resource::NOFILE).context("reading the descriptor limit")?;
    let nofile = rlimit::increase_nofile_limit(hard).unwrap_or(soft);
    let needed = sizes.idle as u64 + 256;
    if checks.contains(&Check::IdleConnections) && nofile < needed {
        bail!("idle-connections needs {needed} file descriptors; the hard limit is {hard} (raise it with `ulimit -Hn`)");
    }

    let mut kinds = Vec::new();
    if args.broker != Which::Mosquitto {
        kinds.push(Kind::Mqttref);
    }
    let mosquitto = find_mosquitto();
    if args.broker != Which::Mqttref {
        match &mosquitto {
            Some(_) => kinds.push(Kind::Mosquitto),
            None if args.broker == Which::Mosquitto => {
                bail!("mosquitto is not installed (apt-get install -y mosquitto; it is looked for on PATH and in /usr/sbin)")
            }
            None => println!(
                "mosquitto not found on PATH or in /usr/sbin: its column says n/a (apt-get install -y mosquitto)"
            ),
        }
    }
    let mqttref = if kinds.contains(&Kind::Mqttref) {
        Some(build_mqttref(&root, &target)?)
    } else {
        None
    };
    let versions = describe(&root, mosquitto.as_deref());

    let started = std::time::Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let mode = if args.short { "short" } else { "full" };
    println!(
        "soak ({mode}): {} check(s) against {}; fd limit {nofile}",
        checks.len(),
        kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(" and ")
    );
    let mut rows = Vec::new();
    for &check in &checks {
        let mut results: [Option<Measured>; 2] = [None, None];
        for &kind in &kinds {
            let bin = match kind {
                Kind::Mqttref => mqttref.as_deref(),
                Kind::Mosquitto => mosquitto.as_deref(),
            }
            .expect("binary found above");
            let dir = out.join(format!("{}-{}", check.name(), kind.name()));
            let t0 = std::time::Instant::now();
            let measured = rt.block_on(run_check(check, kind, bin, &dir, &sizes));
            let measured = measured.unwrap_or_else(|e| Measured::failed(&e));
            println!(
                "{:<17} {:<9} {} [{:.1} s]",
                check.name(),
                kind.name(),
                measured.text,
                t0.elapsed().as_secs_f64()
            );
            results[kind as usize] = Some(measured);
        }
        let [mq, mo] = results;
        let verdict = verdict(check, mq.as_ref(), mo.as_ref());
        rows.push((check, mq, mo, verdict));
    }
    drop(rt);

    let total = started.elapsed().as_secs_f64();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "`cargo xtask soak{}` — {versions}; {:.0} s\n",
        if args.short { " --short" } else { "" },
        total
    );
    md.push_str("| check | mqttref | Mosquitto | bound (mqttref) | mqttref |\n");
    md.push_str("| --- | --- | --- | --- | --- |\n");
    let cell = |m: &Option<Measured>| {
        m.as_ref()
            .map_or("n/a".to_string(), |m| m.text.replace('|', "\\|"))
    };
    let mut failed = Vec::new();
    for (check, mq, mo, verdict) in &rows {
        let v = match verdict {
            Some(true) => "pass",
            Some(false) => {
                failed.push(check.name());
                "**fail**"
            }
            None => "n/a",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {v} |",
            check.name(),
            cell(mq),
            cell(mo),
            check.bound(&sizes)
        );
    }
    println!("\n{md}");
    let md_path = out.join("soak.md");
    std::fs::write(&md_path, &md).with_context(|| format!("writing {}", md_path.display()))?;
    println!("(also in {})", md_path.display());
    if !failed.is_empty() {
        if args.report_only {
            println!(
                "mqttref fails: {} (--report-only: exit 0)",
                failed.join(", ")
            );
        } else {
            println!("mqttref fails: {}", failed.join(", "));
            std::process::exit(1);
        }
    }
    Ok(())
}

/// mqttref's pass/fail: from its own figures, or (idle-connections) against Mosquitto's.
fn verdict(check: Check, mq: Option<&Measured>, mo: Option<&Measured>) -> Option<bool> {
    let mq = mq?;
    if check != Check::IdleConnections || mq.ok == Some(false) {
        return mq.ok;
    }
    let (ours, all) = mq.per_conn?;
    if !all {
        return Some(false);
    }
    let (theirs, _) = mo.and_then(|m| m.per_conn)?;
    Some(ours <= theirs + IDLE_SLACK_BYTES)
}

// ---------------------------------------------------------------------------------------------
// Brokers

/// `mqttref <commit>, Mosquitto <version>` for the report's first line.
fn describe(root: &Path, mosquitto: Option<&Path>) -> String {
    let commit = crate::brokers::git_describe(root);
    let mosq = mosquitto
        .and_then(crate::brokers::mosquitto_version)
        .unwrap_or_else(|| "?".into());
    format!("mqttref {commit}, Mosquitto {mosq}")
}

/// Starts `kind` on a free loopback port, writing its config and log into `dir`, and waits
/// until it accepts connections.
async fn start_broker(
    kind: Kind,
    bin: &Path,
    dir: &Path,
    max_connections: Option<u32>,
) -> Result<Broker> {
    readable_dir(dir)?;
    let addr = crate::brokers::free_loopback_addr()?;
    let port = addr.port();
    let mut cmd = Command::new(bin);
    match kind {
        Kind::Mqttref => {
            cmd.args(["broker", "--listen", &addr.to_string()]);
            if let Some(max) = max_connections {
                let conf = dir.join("mqttref.toml");
                std::fs::write(&conf, format!("max_connections = {max}\n"))?;
                cmd.arg("--config").arg(&conf);
            }
        }
        Kind::Mosquitto => {
            let mut conf = format!("listener {port} 127.0.0.1\nallow_anonymous true\n");
            if let Some(max) = max_connections {
                let _ = writeln!(conf, "max_connections {max}");
            }
            let path = dir.join("mosquitto.conf");
            write_readable(&path, &conf)?;
            cmd.arg("-c").arg(&path);
        }
    }
    Broker::start(kind.name(), cmd, addr, dir.join("log")).await
}

async fn run_check(
    check: Check,
    kind: Kind,
    bin: &Path,
    dir: &Path,
    s: &Sizes,
) -> Result<Measured> {
    let mut broker = start_broker(kind, bin, dir, check.max_connections()).await?;
    let result = match check {
        Check::Qos1Burst => qos1_burst(&broker, s).await,
        Check::PingreqFlood => pingreq_flood(&broker, s).await,
        Check::SubscribeStorm => subscribe_storm(&broker, s).await,
        Check::RetainedToAll => retained_to_all(&broker, s).await,
        Check::IdleConnections => idle_connections(&broker, s).await,
        Check::SilentSockets => silent_sockets(&broker, s).await,
    };
    let exited = broker.exited();
    broker.stop();
    let mut m = result?;
    if let Some(why) = exited {
        let _ = write!(m.text, "; {why}");
        m.ok = Some(false);
    }
    Ok(m)
}

// ---------------------------------------------------------------------------------------------
// The checks

/// One 3.1.1 publisher writes `burst` QoS 1 messages without waiting for PUBACKs; subscriber A
/// (5.0) reads and acknowledges everything; subscriber B (3.1.1, clean session) never reads.
async fn qos1_burst(b: &Broker, s: &Sizes) -> Result<Measured> {
    const TOPIC: &str = "soak/burst";
    let n = s.burst;
    let (mut a_rd, mut a_wr) = connect(b.addr, true, "soak-a", true).await?;
    a_wr.write_all(&subscribe(true, 1, &[(TOPIC.to_string(), 1)]))
        .await?;
    expect_suback(&mut a_rd).await?;
    let (mut b_rd, mut b_wr) = connect(b.addr, false, "soak-b", true).await?;
    b_wr.write_all(&subscribe(false, 1, &[(TOPIC.to_string(), 1)]))
        .await?;
    expect_suback(&mut b_rd).await?;
    let (mut p_rd, mut p_wr) = connect(b.addr, false, "soak-pub", true).await?;

    let start = Instant::now();
    let cap = start + s.cap;
    // Nothing for this long: what was to come is not coming (mqttref holds everyone back for
    // `slow_subscriber_timeout_ms`, 10 s, before it cuts B off).
    let idle = Duration::from_secs(15);

    let writer = tokio::spawn(async move {
        let mut buf = Vec::with_capacity(40 * 1024);
        for i in 0..n {
            let pid = (i % 65_535 + 1) as u16;
            buf.extend_from_slice(&publish(false, TOPIC, 1, false, pid, &i.to_be_bytes()));
            if buf.len() >= 32 * 1024 {
                p_wr.write_all(&buf).await?;
                buf.clear();
            }
        }
        p_wr.write_all(&buf).await?;
        anyhow::Ok(p_wr)
    });
    let acks = tokio::spawn(async move {
        let mut acks = 0u32;
        let mut last = Instant::now();
        while acks < n {
            while let Some(f) = p_rd.try_frame() {
                if f.kind() == 4 {
                    acks += 1;
                    last = Instant::now();
                }
            }
            if acks >= n || !p_rd.fill((last + idle).min(cap)).await {
                break;
            }
        }
        (acks, last)
    });
    let a = tokio::spawn(async move {
        let mut got = 0u32;
        let mut order = Order::default();
        let mut last = Instant::now();
        let mut out = Vec::new();
        loop {
            while let Some(f) = a_rd.try_frame() {
                if let Some(p) = f.publish(true) {
                    let counter = p
                        .payload
                        .get(..4)
                        .map_or(u32::MAX, |c| u32::from_be_bytes(c.try_into().expect("4")));
                    order.saw(counter);
                    got += 1;
                    last = Instant::now();
                    if p.qos == 1 {
                        out.extend_from_slice(&[0x40, 2, (p.pid >> 8) as u8, p.pid as u8]);
                    }
                }
            }
            if !out.is_empty() {
                if a_wr.write_all(&out).await.is_err() {
                    break;
                }
                out.clear();
            }
            if got >= n || !a_rd.fill((last + idle).min(cap)).await {
                break;
            }
        }
        (got, order, last)
    });

    let writer_result = writer.await?;
    let (acks, acks_last) = acks.await?;
    let (got, order, a_last) = a.await?;
    let wall = acks_last.max(a_last).duration_since(start);
    // Was B cut off? Its socket then ends after what is buffered in it.
    let b_cut = {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            while b_rd.try_frame().is_some() {}
            if Instant::now() >= deadline {
                break false;
            }
            if !b_rd.fill(deadline).await {
                break b_rd.closed;
            }
        }
    };
    drop(b_wr);

    let in_order = got == n && order.first_gap.is_none() && order.backwards.is_none();
    let mut text = format!(
        "A {}/{}{}; {} PUBACKs; B {}; {:.1} s",
        thousands(got as u64),
        thousands(n as u64),
        match (order.backwards, order.first_gap) {
            _ if in_order => " in order".to_string(),
            (Some((before, after)), _) => format!(", out of order (#{after} after #{before})"),
            (None, Some((from, to))) => format!(
                ", {} lost (first: #{from}..#{to})",
                thousands(n.saturating_sub(got) as u64)
            ),
            (None, None) => String::new(),
        },
        thousands(acks as u64),
        if b_cut { "cut off" } else { "still connected" },
        wall.as_secs_f64()
    );
    if let Err(e) = writer_result {
        let _ = write!(text, "; publisher's writes failed: {e}");
    }
    Ok(Measured {
        text,
        ok: Some(in_order),
        per_conn: None,
    })
}

/// The order of the counters a subscriber got.
#[derive(Debug, Default)]
struct Order {
    /// The counter expected next.
    next: u32,
    /// The previous counter.
    prev: Option<u32>,
    /// The first counters skipped: (first missing, last missing).
    first_gap: Option<(u32, u32)>,
    /// The first counter that came after a larger one: (the larger, it).
    backwards: Option<(u32, u32)>,
}

impl Order {
    fn saw(&mut self, counter: u32) {
        if counter > self.next {
            self.first_gap.get_or_insert((self.next, counter - 1));
        }
        if counter >= self.next {
            self.next = counter + 1;
        } else if let Some(prev) = self.prev {
            self.backwards.get_or_insert((prev, counter));
        }
        self.prev = Some(counter);
    }
}

/// Four clients send PINGREQs as fast as they can and never read; the broker's RSS before,
/// at its peak, and after they are gone.
async fn pingreq_flood(b: &Broker, s: &Sizes) -> Result<Measured> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = b.rss_kib();
    let mut conns = Vec::new();
    for i in 0..FLOODERS {
        conns.push(connect(b.addr, false, &format!("soak-ping-{i}"), true).await?);
    }
    let deadline = Instant::now() + s.flood;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    for (rd, mut wr) in conns {
        let stop = stop.clone();
        tasks.spawn(async move {
            let chunk = [0xc0u8, 0x00].repeat(32 * 1024);
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // After a partial write ending inside a PINGREQ, its second byte comes first.
                let from = (sent % 2) as usize;
                match tokio::time::timeout_at(deadline, wr.write(&chunk[from..])).await {
                    Ok(Ok(k)) if k > 0 => sent += k as u64,
                    _ => break,
                }
            }
            (sent / 2, rd, wr)
        });
    }
    let mut peak = before;
    let mut stopped_early = false;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rss = b.rss_kib();
        peak = peak.max(rss);
        if rss > FLOOD_RSS_STOP_KIB {
            stopped_early = true;
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            break;
        }
    }
    let mut pings = 0u64;
    let mut held = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (sent, rd, wr) = r?;
        pings += sent;
        held.push((rd, wr));
    }
    peak = peak.max(b.rss_kib());
    drop(held);
    let settle_end = Instant::now() + s.settle;
    while Instant::now() < settle_end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(b.rss_kib());
    }
    let after = b.rss_kib();
    let growth = peak.saturating_sub(before);
    Ok(Measured {
        text: format!(
            "RSS {} before, {} peak (+{}), {} {} s after; {} PINGREQs written{}",
            mib(before),
            mib(peak),
            mib(growth),
            mib(after),
            s.settle.as_secs(),
            millions(pings),
            if stopped_early {
                format!("; flood stopped at {} RSS", mib(FLOOD_RSS_STOP_KIB))
            } else {
                String::new()
            }
        ),
        ok: Some(growth < FLOOD_GROWTH_KIB),
        per_conn: None,
    })
}

/// `retained` retained messages stored, then one client sends 5 SUBSCRIBEs of 1,000 filters
/// each (`soak/r/<j>/x/#`, matching none) while another sends a PINGREQ every 100 ms.
async fn subscribe_storm(b: &Broker, s: &Sizes) -> Result<Measured> {
    let stored = store_retained(b.addr, s.retained, s.cap).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let pinger = tokio::spawn(pinger(b.addr, stop_rx));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (mut rd, mut wr) = connect(b.addr, false, "soak-storm", true).await?;
    let start = Instant::now();
    let mut send = Vec::new();
    for k in 0..STORM_SUBSCRIBES {
        let filters: Vec<(String, u8)> = (k * STORM_FILTERS..(k + 1) * STORM_FILTERS)
            .map(|j| (format!("soak/r/{j}/x/#"), 0))
            .collect();
        send.extend_from_slice(&subscribe(false, (k + 1) as u16, &filters));
    }
    wr.write_all(&send).await?;
    let cap = start + s.cap;
    let mut subacks = 0;
    let mut publishes = 0u32;
    let mut last_suback = None;
    while subacks < STORM_SUBSCRIBES {
        while let Some(f) = rd.try_frame() {
            match f.kind() {
                9 => {
                    subacks += 1;
                    last_suback = Some(start.elapsed());
                }
                3 => publishes += 1,
                _ => {}
            }
        }
        if subacks >= STORM_SUBSCRIBES || !rd.fill(cap).await {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_tx.send(true);
    let ping = pinger.await??;
    let subacks_text = match last_suback {
        Some(t) if subacks == STORM_SUBSCRIBES => {
            format!("5 SUBACKs in {:.2} s", t.as_secs_f64())
        }
        _ => format!(
            "{subacks}/{STORM_SUBSCRIBES} SUBACKs in {} s",
            s.cap.as_secs()
        ),
    };
    Ok(Measured {
        text: format!(
            "worst PINGRESP {}{} ({} pings); {subacks_text}{}; {} retained stored in {:.1} s",
            if ping.unanswered > 0 { "≥ " } else { "" },
            millis(ping.worst),
            ping.sent,
            if publishes > 0 {
                format!(", {publishes} PUBLISHes")
            } else {
                String::new()
            },
            thousands(s.retained as u64),
            stored.as_secs_f64()
        ),
        ok: Some(ping.unanswered == 0 && ping.worst < PING_BOUND),
        per_conn: None,
    })
}

/// `retained` retained messages stored, then a client subscribes to `soak/r/#` at QoS 1 and
/// acknowledges what it gets.
async fn retained_to_all(b: &Broker, s: &Sizes) -> Result<Measured> {
    let n = s.retained;
    let stored = store_retained(b.addr, n, s.cap).await?;
    let (mut rd, mut wr) = connect(b.addr, false, "soak-all", true).await?;
    let start = Instant::now();
    wr.write_all(&subscribe(false, 1, &[("soak/r/#".to_string(), 1)]))
        .await?;
    let cap = start + s.cap;
    let idle = Duration::from_secs(5);
    let mut seen = vec![false; n as usize];
    let mut distinct = 0u32;
    let mut last = start;
    let mut out = Vec::new();
    loop {
        while let Some(f) = rd.try_frame() {
            let Some(p) = f.publish(false) else { continue };
            if p.qos > 0 {
                out.extend_from_slice(&[0x40, 2, (p.pid >> 8) as u8, p.pid as u8]);
            }
            last = Instant::now();
            let index = std::str::from_utf8(p.topic)
                .ok()
                .and_then(|t| t.strip_prefix("soak/r/"))
                .and_then(|i| i.parse::<usize>().ok());
            if let Some(i) = index.filter(|&i| p.retain && i < seen.len()) {
                if !seen[i] {
                    seen[i] = true;
                    distinct += 1;
                }
            }
        }
        if !out.is_empty() {
            wr.write_all(&out).await?;
            out.clear();
        }
        if distinct >= n || !rd.fill((last + idle).min(cap)).await {
            break;
        }
    }
    let took = last.duration_since(start);
    Ok(Measured {
        text: format!(
            "{}/{} retained in {:.1} s{}; stored in {:.1} s",
            thousands(distinct as u64),
            thousands(n as u64),
            took.as_secs_f64(),
            if rd.closed { "; connection closed" } else { "" },
            stored.as_secs_f64()
        ),
        ok: Some(distinct == n),
        per_conn: None,
    })
}

/// `idle` connections CONNECT (3.1.1, keep alive 0) and stay idle: RSS per connection, then
/// RSS after they close.
async fn idle_connections(b: &Broker, s: &Sizes) -> Result<Measured> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = b.rss_kib();
    let n = s.idle;
    let idle = open_idle(b.addr, n, |i| {
        connect_packet(false, &format!("soak-idle-{i}"), true)
    })
    .await;
    let (conns, errors, first_error) = (idle.conns, idle.errors, idle.first_error);
    let connect_time = idle.took;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = b.rss_kib();
    let ok = conns.len();
    let per_conn = after.saturating_sub(before) as f64 * 1024.0 / ok.max(1) as f64;
    drop(conns);
    tokio::time::sleep(s.settle).await;
    let closed = b.rss_kib();
    let mut text = format!(
        "{:.2} KiB/conn ({} {}/{} connected in {:.1} s, {} before); {} {} s after close",
        per_conn / 1024.0,
        mib(after),
        thousands(ok as u64),
        thousands(n as u64),
        connect_time.as_secs_f64(),
        mib(before),
        mib(closed),
        s.settle.as_secs()
    );
    if let Some(e) = first_error {
        let _ = write!(text, "; {errors} failed, first: {e}");
    }
    Ok(Measured {
        text,
        ok: None,
        per_conn: Some((per_conn, ok == n)),
    })
}

/// With `max_connections` 100, 116 TCP sockets that send nothing, then a client CONNECTs.
async fn silent_sockets(b: &Broker, s: &Sizes) -> Result<Measured> {
    let mut silent = Vec::with_capacity(SILENT_SOCKETS);
    for _ in 0..SILENT_SOCKETS {
        silent.push(TcpStream::connect(b.addr).await?);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    let cap = start + s.cap.min(Duration::from_secs(15));
    let outcome: Result<(u8, Duration), String> = async {
        let stream = match tokio::time::timeout_at(cap, TcpStream::connect(b.addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("TCP connect failed ({e})")),
            Err(_) => return Err("TCP connect timed out".into()),
        };
        let (rd, mut wr) = stream.into_split();
        wr.write_all(&connect_packet(true, "soak-late", true))
            .await
            .map_err(|e| format!("CONNECT not written ({e})"))?;
        let mut rd = Reader::new(rd);
        loop {
            if let Some(f) = rd.try_frame() {
                if f.kind() == 2 {
                    return Ok((f.body.get(1).copied().unwrap_or(0xff), start.elapsed()));
                }
                continue;
            }
            if !rd.fill(cap).await {
                let how = if rd.closed { "closed" } else { "no answer" };
                return Err(format!(
                    "{how} without CONNACK after {}",
                    millis(start.elapsed())
                ));
            }
        }
    }
    .await;
    drop(silent);
    Ok(match outcome {
        Ok((code, delay)) => Measured {
            text: format!(
                "CONNACK {code:#04x} after {} ({SILENT_SOCKETS} silent sockets, max_connections {SILENT_LIMIT})",
                millis(delay)
            ),
            ok: Some(code == 0 && delay < CONNACK_BOUND),
            per_conn: None,
        },
        Err(why) => Measured {
            text: format!("{why} ({SILENT_SOCKETS} silent sockets, max_connections {SILENT_LIMIT})"),
            ok: Some(false),
            per_conn: None,
        },
    })
}

/// Publishes `n` retained QoS 0 messages `soak/r/<i>` (4-byte payloads), then waits for the
/// PINGRESP to a PINGREQ sent after them: the broker has handled them all.
async fn store_retained(addr: SocketAddr, n: u32, cap: Duration) -> Result<Duration> {
    let (mut rd, mut wr) = connect(addr, false, "soak-retainer", true).await?;
    let start = Instant::now();
    let mut buf = Vec::with_capacity(40 * 1024);
    for i in 0..n {
        buf.extend_from_slice(&publish(
            false,
            &format!("soak/r/{i}"),
            0,
            true,
            0,
            &i.to_be_bytes(),
        ));
        if buf.len() >= 32 * 1024 {
            wr.write_all(&buf).await?;
            buf.clear();
        }
    }
    buf.extend_from_slice(&[0xc0, 0]);
    wr.write_all(&buf).await?;
    let deadline = start + cap;
    loop {
        while let Some(f) = rd.try_frame() {
            if f.kind() == 13 {
                return Ok(start.elapsed());
            }
        }
        if !rd.fill(deadline).await {
            bail!(
                "storing {n} retained messages: no PINGRESP after them within {} s",
                cap.as_secs()
            );
        }
    }
}

struct Pings {
    sent: u32,
    worst: Duration,
    unanswered: usize,
}

/// Sends a PINGREQ every 100 ms until told to stop, and measures each PINGRESP's delay.
async fn pinger(addr: SocketAddr, mut stop: tokio::sync::watch::Receiver<bool>) -> Result<Pings> {
    let (mut rd, mut wr) = connect(addr, false, "soak-pinger", true).await?;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut outstanding = VecDeque::new();
    let mut pings = Pings {
        sent: 0,
        worst: Duration::ZERO,
        unanswered: 0,
    };
    let far = || Instant::now() + Duration::from_secs(3600);
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            _ = tick.tick() => {
                wr.write_all(&[0xc0, 0]).await?;
                outstanding.push_back(Instant::now());
                pings.sent += 1;
            }
            more = rd.fill(far()), if open => open = more,
        }
        while let Some(f) = rd.try_frame() {
            if f.kind() == 13 {
                if let Some(t) = outstanding.pop_front() {
                    pings.worst = pings.worst.max(t.elapsed());
                }
            }
        }
    }
    // The last answers.
    let deadline = Instant::now() + Duration::from_secs(1);
    while !outstanding.is_empty() && open {
        open = rd.fill(deadline).await;
        while let Some(f) = rd.try_frame() {
            if f.kind() == 13 {
                if let Some(t) = outstanding.pop_front() {
                    pings.worst = pings.worst.max(t.elapsed());
                }
            }
        }
    }
    if let Some(t) = outstanding.front() {
        pings.worst = pings.worst.max(t.elapsed());
    }
    pings.unanswered = outstanding.len();
    Ok(pings)
}

// ---------------------------------------------------------------------------------------------
// MQTT bytes (3.1.1 and 5.0): just the packets the checks send and read.

type ReadHalf = tokio::net::tcp::OwnedReadHalf;
type WriteHalf = tokio::net::tcp::OwnedWriteHalf;

fn remaining_length(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            break;
        }
    }
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(first);
    remaining_length(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// CONNECT with keep alive 0, no will, no credentials.
fn connect_packet(v5: bool, client_id: &str, clean: bool) -> Vec<u8> {
    let mut body = Vec::new();
    string(&mut body, b"MQTT");
    body.push(if v5 { 5 } else { 4 });
    body.push(if clean { 0x02 } else { 0 });
    body.extend_from_slice(&0u16.to_be_bytes());
    if v5 {
        body.push(0);
    }
    string(&mut body, client_id.as_bytes());
    packet(0x10, &body)
}

fn publish(v5: bool, topic: &str, qos: u8, retain: bool, pid: u16, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(topic.len() + payload.len() + 5);
    string(&mut body, topic.as_bytes());
    if qos > 0 {
        body.extend_from_slice(&pid.to_be_bytes());
    }
    if v5 {
        body.push(0);
    }
    body.extend_from_slice(payload);
    packet(0x30 | (qos << 1) | u8::from(retain), &body)
}

fn subscribe(v5: bool, pid: u16, filters: &[(String, u8)]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&pid.to_be_bytes());
    if v5 {
        body.push(0);
    }
    for (filter, qos) in filters {
        string(&mut body, filter.as_bytes());
        body.push(*qos);
    }
    packet(0x82, &body)
}

/// One packet: the first byte and the body after the remaining length.
struct Frame {
    first: u8,
    body: Vec<u8>,
}

struct Publish<'a> {
    qos: u8,
    retain: bool,
    topic: &'a [u8],
    pid: u16,
    payload: &'a [u8],
}

impl Frame {
    fn kind(&self) -> u8 {
        self.first >> 4
    }

    fn publish(&self, v5: bool) -> Option<Publish<'_>> {
        if self.kind() != 3 {
            return None;
        }
        let b = &self.body;
        let qos = (self.first >> 1) & 3;
        let len = u16::from_be_bytes([*b.first()?, *b.get(1)?]) as usize;
        let topic = b.get(2..2 + len)?;
        let mut at = 2 + len;
        let mut pid = 0;
        if qos > 0 {
            pid = u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]);
            at += 2;
        }
        if v5 {
            let (props, used) = varint(b.get(at..)?)?;
            at += used + props;
        }
        Some(Publish {
            qos,
            retain: self.first & 1 == 1,
            topic,
            pid,
            payload: b.get(at..)?,
        })
    }
}

/// A variable byte integer: (value, bytes used); None when incomplete or longer than 4 bytes.
fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, byte) in b.iter().take(4).enumerate() {
        value |= ((byte & 0x7f) as usize) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Frames packets out of a byte stream.
struct Reader<R> {
    rd: R,
    buf: Vec<u8>,
    at: usize,
    /// The peer closed the stream (or it failed).
    closed: bool,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    fn new(rd: R) -> Self {
        Reader {
            rd,
            buf: Vec::new(),
            at: 0,
            closed: false,
        }
    }

    /// The next whole packet already read, if any.
    fn try_frame(&mut self) -> Option<Frame> {
        let b = &self.buf[self.at..];
        let first = *b.first()?;
        let (len, used) = varint(b.get(1..)?)?;
        let body = b.get(1 + used..1 + used + len)?.to_vec();
        self.at += 1 + used + len;
        Some(Frame { first, body })
    }

    /// Reads more; false when nothing came by `deadline` or the stream ended. Cancel-safe.
    async fn fill(&mut self, deadline: Instant) -> bool {
        if self.closed {
            return false;
        }
        if self.at > 0 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        self.buf.reserve(16 * 1024);
        match tokio::time::timeout_at(deadline, self.rd.read_buf(&mut self.buf)).await {
            Ok(Ok(n)) if n > 0 => true,
            Ok(_) => {
                self.closed = true;
                false
            }
            Err(_) => false,
        }
    }
}

/// TCP connect, CONNECT (keep alive 0) and a successful CONNACK.
async fn connect(
    addr: SocketAddr,
    v5: bool,
    client_id: &str,
    clean: bool,
) -> Result<(Reader<ReadHalf>, WriteHalf)> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("{client_id}: TCP connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    wr.write_all(&connect_packet(v5, client_id, clean)).await?;
    let mut rd = Reader::new(rd);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(f) = rd.try_frame() {
            if f.kind() != 2 {
                bail!("{client_id}: packet type {} before CONNACK", f.kind());
            }
            match f.body.get(1) {
                Some(0) => return Ok((rd, wr)),
                code => bail!("{client_id}: CONNACK refused ({code:?})"),
            }
        }
        if !rd.fill(deadline).await {
            bail!("{client_id}: no CONNACK within 10 s");
        }
    }
}

/// Waits for a SUBACK granting everything.
async fn expect_suback(rd: &mut Reader<ReadHalf>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(f) = rd.try_frame() {
            if f.kind() == 9 {
                if f.body.iter().skip(2).any(|&c| c >= 0x80) {
                    bail!("SUBACK refused: {:02x?}", f.body);
                }
                return Ok(());
            }
            continue;
        }
        if !rd.fill(deadline).await {
            bail!("no SUBACK within 10 s");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Figures

fn millis(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn millions(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.1} M", n as f64 / 1e6)
    } else {
        thousands(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip_through_the_reader() {
        let mut bytes = publish(true, "a/b", 1, true, 7, b"xyzw");
        bytes.extend_from_slice(&publish(false, "c", 0, false, 0, &[0u8; 200]));
        let mut r = Reader::new(&bytes[..]);
        r.buf = bytes.clone();
        let f = r.try_frame().expect("first");
        let p = f.publish(true).expect("publish");
        assert_eq!(
            (p.qos, p.retain, p.topic, p.pid, p.payload),
            (1, true, &b"a/b"[..], 7, &b"xyzw"[..])
        );
        let f = r.try_frame().expect("second");
        let p = f.publish(false).expect("publish");
        assert_eq!((p.topic, p.payload.len()), (&b"c"[..], 200));
        assert!(r.try_frame().is_none());
    }

    #[test]
    fn connect_and_subscribe_bytes() {
        assert_eq!(
            connect_packet(false, "c", true),
            [0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 0, 0, 1, b'c']
        );
        assert_eq!(
            subscribe(false, 1, &[("t".into(), 1)]),
            [0x82, 6, 0, 1, 0, 1, b't', 1]
        );
        assert_eq!(thousands(1_234_567), "1,234,567");
        let mut o = Order::default();
        for c in [0, 1, 2, 5, 6, 4, 7] {
            o.saw(c);
        }
        assert_eq!((o.first_gap, o.backwards), (Some((3, 4)), Some((6, 4))));
        assert_eq!(thousands(100), "100");
    }
}
