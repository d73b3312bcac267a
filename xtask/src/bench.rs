//! `cargo xtask bench`: the reference broker against rumqttd 0.20 and Mosquitto 2.0, on the same
//! machine in one run, with two load generators, so that a speed claim about the reference has
//! a peer measured beside it and a generator the project did not write.
//!
//! # Brokers
//! Each (workload, generator) pair gets fresh brokers on free loopback ports, all of them
//! running at once so that the generator can alternate between them round by round (noise on a
//! shared machine then hits them alike); `target/bench/<workload>-<generator>/` holds their
//! configuration and logs. Every broker runs with its defaults:
//! - `mqttref broker --listen 127.0.0.1:PORT` (`cargo build --release -p mqttref-cli`);
//! - rumqttd: `rumqttd generate-config` with every `listen` moved to a free loopback port; the
//!   load goes to its MQTT 5.0 listener (`[v5.1]`). It closes any connection whose CONNECT has
//!   Keep Alive 0, without a CONNACK, so no client here uses 0;
//! - Mosquitto: `listener PORT 127.0.0.1` and `allow_anonymous true`. Its defaults
//!   `max_inflight_messages 20` (its CONNACK's Receive Maximum) and `max_queued_messages 1000`
//!   shape every QoS 1 figure.
//!
//! # Generators
//! - `mqttref bench` (this project's, release build): all brokers in one `-L URL ...` run,
//!   alternating rounds, medians per broker, `--broker-pid` for each broker's CPU time, `--json`.
//!   At QoS 1 it keeps min(64, Receive Maximum) PUBLISHes in flight per publisher: 20 against
//!   Mosquitto. At QoS 0 a publisher runs at most 1,000 messages ahead of its slowest subscriber.
//! - `mqttv5 bench` (`cargo install mqttv5-cli`, version 0.29): throughput mode, 4 publishers
//!   on 4 topics, 4 subscribers of `bench/test/#`, 64-byte payloads, publishing as fast as its
//!   client allows for `--duration` seconds after a warm-up. Its `received` counts the messages
//!   the subscribers got from the start of its measuring window until the count has been still
//!   for 100 ms (at most 2 s after publishing stops): deliveries per second here are `received`
//!   over that span, timed from its "measuring" line to its JSON (less the 100 ms), and the
//!   broker's CPU time is read over the same span. (Its `throughput_steady` is not used: it
//!   leaves out what the broker delivers after publishing stops.) Its latency is from a separate
//!   `--mode latency` run: 1 publisher, 1 subscriber, 1,000 messages/s. It is not used for the
//!   fan-out: with 1,000 subscriber clients in one process on this kind of machine it measures
//!   itself (a trial published 32 messages in 3 s and took 90 s to finish).
//!
//! # Workloads
//! `qos0`, `qos1`: 4 publishers x 4 subscribers, 64-byte payloads. `fanout`: 1 publisher, 1,000
//! subscribers, QoS 0 (`mqttref bench` only). `idle`: 10,000 MQTT 5.0 connections (Keep Alive
//! 600) opened by this command and left idle, one broker at a time; RSS per connection is the
//! broker's growth divided by the connections.
//!
//! # Peers
//! Looked for in `<peers dir>/bin` (`--peers-dir`, `$XTASK_PEERS_DIR`, default `target/peers`);
//! what is missing is installed there with `cargo install --root`, without `--locked` (rumqttd
//! 0.20's lock file pins metrics 0.22.1, which current Rust does not build). Mosquitto comes
//! from the system (`apt-get install -y mosquitto`). A peer that cannot be had is left out with
//! a line saying why.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::brokers::{
    build_mqttref, cpu_secs, find_mosquitto, mib, mosquitto_version, open_idle, readable_dir,
    target_dir, thousands, write_readable, BrokerProcess,
};

/// Options of `cargo xtask bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Rounds per broker and generator; every figure is the median of its rounds [default: 3,
    /// or 1 with --quick].
    #[arg(long, value_name = "N")]
    rounds: Option<u32>,
    /// Small numbers for a smoke run: 5,000 / 3,000 messages per publisher (QoS 0 / QoS 1), 50
    /// fan-out messages, 1,000 idle connections, 1-second mqttv5 windows, 1 round.
    #[arg(long)]
    quick: bool,
    /// Run only this workload (repeatable): qos0, qos1, fanout, idle.
    #[arg(long, value_name = "WORKLOAD")]
    only: Vec<String>,
    /// Leave out this peer (repeatable): rumqttd, mosquitto (brokers) or mqttv5 (the
    /// independent load generator).
    #[arg(long, value_name = "NAME")]
    skip_peer: Vec<String>,
    /// Where the peers are installed (`cargo install --root DIR`, binaries in DIR/bin) [default:
    /// $XTASK_PEERS_DIR, else target/peers].
    #[arg(long, value_name = "DIR")]
    peers_dir: Option<PathBuf>,
    /// Run this `mqttref` binary instead of building one (`cargo build --release -p
    /// mqttref-cli`): to measure an older build beside the current one, in the same conditions.
    #[arg(long, value_name = "PATH")]
    mqttref_bin: Option<PathBuf>,
}

/// The brokers, in the order of the table; the reference first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Broker {
    Mqttref,
    Rumqttd,
    Mosquitto,
}

impl Broker {
    fn name(self) -> &'static str {
        match self {
            Broker::Mqttref => "mqttref",
            Broker::Rumqttd => "rumqttd",
            Broker::Mosquitto => "mosquitto",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    Qos0,
    Qos1,
    Fanout,
    Idle,
}

const WORKLOADS: [Workload; 4] = [
    Workload::Qos0,
    Workload::Qos1,
    Workload::Fanout,
    Workload::Idle,
];

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Qos0 => "qos0",
            Workload::Qos1 => "qos1",
            Workload::Fanout => "fanout",
            Workload::Idle => "idle",
        }
    }

    /// For the table.
    fn title(self, s: &Sizes) -> String {
        match self {
            Workload::Qos0 => "QoS 0, 4→4, 64 B".into(),
            Workload::Qos1 => "QoS 1, 4→4, 64 B".into(),
            Workload::Fanout => "QoS 0, 1→1,000, 64 B".into(),
            Workload::Idle => format!("{} idle connections", thousands(s.idle as u64)),
        }
    }
}

/// The numbers of one run: full or `--quick`.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    /// `mqttref bench -n`: messages per publisher.
    qos0: u32,
    qos1: u32,
    fanout: u32,
    /// Connections in `idle`.
    idle: usize,
    /// `mqttv5 bench --duration` and `--warmup`, seconds (whole: it takes no fractions).
    v5_secs: u32,
    v5_warmup: u32,
}

const FULL: Sizes = Sizes {
    qos0: 50_000,
    qos1: 30_000,
    fanout: 1_000,
    idle: 10_000,
    v5_secs: 5,
    v5_warmup: 1,
};

const QUICK: Sizes = Sizes {
    qos0: 5_000,
    qos1: 3_000,
    fanout: 50,
    idle: 1_000,
    v5_secs: 1,
    v5_warmup: 1,
};

const FANOUT_SUBSCRIBERS: u32 = 1_000;
/// The Keep Alive of the idle connections: not 0, which rumqttd refuses.
const IDLE_KEEP_ALIVE: u16 = 600;
/// `mqttv5 bench` waits for its delivery count to stay still this long before it reports.
const V5_STILL: f64 = 0.1;

/// What Mosquitto logs when a subscriber's queue (`max_queued_messages`) is full and it drops.
const MOSQUITTO_DROPS: &str = "Outgoing messages are being dropped";

/// A crate installed with `cargo install --root <peers dir>`.
pub(crate) struct Peer {
    pub(crate) name: &'static str,
    pub(crate) krate: &'static str,
    pub(crate) version: &'static str,
    pub(crate) bin: &'static str,
}

pub(crate) const RUMQTTD: Peer = Peer {
    name: "rumqttd",
    krate: "rumqttd",
    version: "0.20.0",
    bin: "rumqttd",
};

pub(crate) const MQTTV5: Peer = Peer {
    name: "mqttv5",
    krate: "mqttv5-cli",
    version: "0.29.10",
    bin: "mqttv5",
};

/// What one generator measured on one broker (medians over the rounds).
#[derive(Debug, Default, Clone)]
struct Figures {
    delivered: Option<f64>,
    per_cpu: Option<f64>,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    rss_kib: Option<u64>,
    /// `idle`: bytes of RSS per connection.
    per_conn: Option<f64>,
    note: String,
}

/// One broker's figures, or why there are none.
type Row = (Broker, Result<Figures, String>);

/// One block of the table: a workload, a generator, every broker's figures or error.
struct Group {
    workload: Workload,
    generator: &'static str,
    rows: Vec<Row>,
}

/// Where things are, for the whole run.
struct Setup {
    out: PathBuf,
    sizes: Sizes,
    rounds: u32,
    mqttref: PathBuf,
    rumqttd: Option<PathBuf>,
    mosquitto: Option<PathBuf>,
    mqttv5: Option<PathBuf>,
}

impl Setup {
    fn brokers(&self) -> Vec<Broker> {
        let mut b = vec![Broker::Mqttref];
        if self.rumqttd.is_some() {
            b.push(Broker::Rumqttd);
        }
        if self.mosquitto.is_some() {
            b.push(Broker::Mosquitto);
        }
        b
    }
}

/// Runs the comparison and prints the table (also written to `target/bench/bench.md`).
pub fn run(args: Args) -> Result<()> {
    let workloads: Vec<Workload> = if args.only.is_empty() {
        WORKLOADS.to_vec()
    } else {
        for name in &args.only {
            if !WORKLOADS.iter().any(|w| w.name() == name) {
                bail!(
                    "no workload named {name:?}; the workloads: {}",
                    WORKLOADS.map(Workload::name).join(", ")
                );
            }
        }
        WORKLOADS
            .into_iter()
            .filter(|w| args.only.iter().any(|n| n == w.name()))
            .collect()
    };
    for name in &args.skip_peer {
        if !["rumqttd", "mosquitto", "mqttv5"].contains(&name.as_str()) {
            bail!("no peer named {name:?}; the peers: rumqttd, mosquitto, mqttv5");
        }
    }
    let skip = |name: &str| args.skip_peer.iter().any(|s| s == name);
    let sizes = if args.quick { QUICK } else { FULL };
    let rounds = args.rounds.unwrap_or(if args.quick { 1 } else { 3 });
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let root = crate::workspace_root();
    let target = target_dir(&root);
    let out = target.join("bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let peers_dir = args
        .peers_dir
        .clone()
        .or_else(|| std::env::var_os("XTASK_PEERS_DIR").map(PathBuf::from))
        .unwrap_or_else(|| target.join("peers"));

    if workloads.contains(&Workload::Idle) {
        // Both ends hold one descriptor per connection; the brokers inherit our limit.
        let (soft, hard) =
            rlimit::getrlimit(rlimit::Resource::NOFILE).context("reading the descriptor limit")?;
        let nofile = rlimit::increase_nofile_limit(hard).unwrap_or(soft);
        let needed = sizes.idle as u64 + 256;
        if nofile < needed {
            bail!("idle needs {needed} file descriptors; the hard limit is {hard} (raise it with `ulimit -Hn`)");
        }
    }

    let mqttref = match &args.mqttref_bin {
        Some(bin) if bin.is_file() => bin.clone(),
        Some(bin) => bail!("--mqttref-bin {}: no such file", bin.display()),
        None => build_mqttref(&root, &target)?,
    };
    let rumqttd = if skip("rumqttd") {
        println!("rumqttd: left out (--skip-peer rumqttd)");
        None
    } else {
        ensure_peer(&RUMQTTD, &peers_dir, &out)
    };
    let mosquitto = if skip("mosquitto") {
        println!("mosquitto: left out (--skip-peer mosquitto)");
        None
    } else {
        let m = find_mosquitto();
        if m.is_none() {
            println!("mosquitto: left out: not found on PATH or in /usr/sbin (apt-get install -y mosquitto)");
        }
        m
    };
    let mqttv5 = if skip("mqttv5") {
        println!("mqttv5: left out (--skip-peer mqttv5)");
        None
    } else if workloads
        .iter()
        .any(|w| matches!(w, Workload::Qos0 | Workload::Qos1))
    {
        ensure_peer(&MQTTV5, &peers_dir, &out)
    } else {
        None
    };
    let versions = describe(
        &root,
        rumqttd.as_deref(),
        mosquitto.as_deref(),
        mqttv5.as_deref(),
    );
    let setup = Setup {
        out,
        sizes,
        rounds,
        mqttref,
        rumqttd,
        mosquitto,
        mqttv5,
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let started = Instant::now();
    println!(
        "bench{}: {} against {}; {rounds} round(s)",
        if args.quick { " (quick)" } else { "" },
        workloads
            .iter()
            .map(|w| w.name())
            .collect::<Vec<_>>()
            .join(", "),
        setup
            .brokers()
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(", "),
    );
    let mut groups = Vec::new();
    for &w in &workloads {
        if w == Workload::Idle {
            groups.push(idle(&rt, &setup));
            continue;
        }
        groups.push(with_mqttref_bench(&rt, &setup, w));
        if w != Workload::Fanout {
            if let Some(v5) = &setup.mqttv5 {
                groups.push(with_mqttv5(&rt, &setup, w, v5));
            }
        }
    }
    drop(rt);

    let secs = started.elapsed().as_secs_f64();
    let mut command = String::from("cargo xtask bench");
    if args.quick {
        command.push_str(" --quick");
    }
    if let Some(r) = args.rounds {
        let _ = write!(command, " --rounds {r}");
    }
    for o in &args.only {
        let _ = write!(command, " --only {o}");
    }
    for p in &args.skip_peer {
        let _ = write!(command, " --skip-peer {p}");
    }
    let md = report(&command, &versions, secs, &setup, &groups);
    println!("\n{md}");
    let md_path = setup.out.join("bench.md");
    std::fs::write(&md_path, &md).with_context(|| format!("writing {}", md_path.display()))?;
    println!("(also in {})", md_path.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Peers

/// `<dir>/bin/<bin>`, installed there with `cargo install --root <dir>` when missing; `None`
/// (with a line saying why) when that fails.
pub(crate) fn ensure_peer(peer: &Peer, dir: &Path, out: &Path) -> Option<PathBuf> {
    let bin = dir.join("bin").join(peer.bin);
    if bin.is_file() {
        return Some(bin);
    }
    let log = out.join(format!("install-{}.log", peer.name));
    println!(
        "{}: not in {}; installing: cargo install --root {} {} --version {} (not --locked; output in {})",
        peer.name,
        dir.join("bin").display(),
        dir.display(),
        peer.krate,
        peer.version,
        log.display()
    );
    let installed = std::fs::File::create(&log)
        .and_then(|f| {
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["install", "--root"])
                .arg(dir)
                .args([peer.krate, "--version", peer.version])
                .stdin(Stdio::null())
                .stdout(f.try_clone()?)
                .stderr(f)
                .status()
        })
        .map_err(|e| e.to_string())
        .and_then(|status| {
            if status.success() && bin.is_file() {
                Ok(())
            } else {
                Err(format!("{status}: {}", tail(&log, 3).replace('\n', " / ")))
            }
        });
    match installed {
        Ok(()) => {
            println!("{}: installed {}", peer.name, bin.display());
            Some(bin)
        }
        Err(why) => {
            println!(
                "{}: left out: cargo install {} failed ({why})",
                peer.name, peer.krate
            );
            None
        }
    }
}

/// `mqttref <commit>, rumqttd <v>, ...` for the report's first line.
fn describe(
    root: &Path,
    rumqttd: Option<&Path>,
    mosquitto: Option<&Path>,
    mqttv5: Option<&Path>,
) -> String {
    let version_of = |bin: &Path| {
        Command::new(bin)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .nth(1)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "?".into())
    };
    let mut parts = vec![format!("mqttref {}", crate::brokers::git_describe(root))];
    if let Some(b) = rumqttd {
        parts.push(format!("rumqttd {}", version_of(b)));
    }
    if let Some(b) = mosquitto {
        parts.push(format!(
            "Mosquitto {}",
            mosquitto_version(b).unwrap_or_else(|| "?".into())
        ));
    }
    if let Some(b) = mqttv5 {
        parts.push(format!("mqttv5-cli {}", version_of(b)));
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{}; {cores} cores", parts.join(", "))
}

// ---------------------------------------------------------------------------------------------
// Brokers

/// A broker started for one (workload, generator) pair.
struct Running {
    broker: Broker,
    process: BrokerProcess,
}

/// Starts every broker there is, each in `dir/<broker>`; a broker that fails to start is
/// returned as an error row.
fn start_all(rt: &tokio::runtime::Runtime, setup: &Setup, dir: &Path) -> (Vec<Running>, Vec<Row>) {
    let mut running = Vec::new();
    let mut failed = Vec::new();
    for b in setup.brokers() {
        match rt.block_on(start(b, setup, &dir.join(b.name()))) {
            Ok(process) => running.push(Running { broker: b, process }),
            Err(e) => failed.push((b, Err(format!("did not start: {e:#}")))),
        }
    }
    (running, failed)
}

/// Starts `broker` on a free loopback port, its configuration and log in `dir`.
async fn start(broker: Broker, setup: &Setup, dir: &Path) -> Result<BrokerProcess> {
    readable_dir(dir)?;
    let addr = crate::brokers::free_loopback_addr()?;
    let cmd = match broker {
        Broker::Mqttref => {
            let mut cmd = Command::new(&setup.mqttref);
            cmd.args(["broker", "--listen", &addr.to_string()]);
            cmd
        }
        Broker::Rumqttd => {
            let bin = setup.rumqttd.as_deref().context("no rumqttd")?;
            let out = Command::new(bin)
                .arg("generate-config")
                .output()
                .context("rumqttd generate-config")?;
            if !out.status.success() {
                bail!("rumqttd generate-config failed ({})", out.status);
            }
            let conf = rumqttd_config(&String::from_utf8_lossy(&out.stdout), &[("[v5.1]", addr)])?;
            let path = dir.join("rumqttd.toml");
            write_readable(&path, &conf)?;
            let mut cmd = Command::new(bin);
            cmd.arg("-q").arg("-c").arg(&path);
            cmd
        }
        Broker::Mosquitto => {
            let bin = setup.mosquitto.as_deref().context("no mosquitto")?;
            let path = dir.join("mosquitto.conf");
            write_readable(
                &path,
                &format!("listener {} 127.0.0.1\nallow_anonymous true\n", addr.port()),
            )?;
            let mut cmd = Command::new(bin);
            cmd.arg("-c").arg(&path);
            cmd
        }
    };
    BrokerProcess::start(broker.name(), cmd, addr, dir.join("log")).await
}

/// rumqttd's default configuration with the listeners named in `listeners` (section header,
/// such as `[v5.1]` for its MQTT 5.0 listener, and address) on their addresses and every other
/// `listen` (WebSocket, Prometheus, console, ...) on a free loopback port.
pub(crate) fn rumqttd_config(default: &str, listeners: &[(&str, SocketAddr)]) -> Result<String> {
    let mut section = "";
    let mut found = Vec::new();
    let mut out = String::new();
    for line in default.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            section = t.trim_end();
        }
        if t.starts_with("listen") && t.contains('=') {
            let indent = &line[..line.len() - t.len()];
            let addr = match listeners.iter().find(|(name, _)| *name == section) {
                Some((name, addr)) => {
                    found.push(*name);
                    *addr
                }
                None => crate::brokers::free_loopback_addr()?,
            };
            let _ = writeln!(out, "{indent}listen = \"{addr}\"");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if let Some((name, _)) = listeners.iter().find(|(name, _)| !found.contains(name)) {
        bail!("rumqttd generate-config has no {name} listen line");
    }
    Ok(out)
}

/// RSS of every broker, then stops them; a broker that died on the way is noted.
fn finish(running: Vec<Running>, rows: &mut [Row]) {
    for mut r in running {
        let rss = r.process.rss_kib();
        let exited = r.process.exited();
        if let Some((_, Ok(f))) = rows.iter_mut().find(|(b, _)| *b == r.broker) {
            f.rss_kib = (rss > 0).then_some(rss);
            if r.broker == Broker::Mosquitto && r.process.log_contains(MOSQUITTO_DROPS) {
                push_note(&mut f.note, &format!("its log: \"{MOSQUITTO_DROPS}\""));
            }
            if let Some(why) = exited {
                push_note(&mut f.note, &format!("{why}: {}", r.process.log_tail()));
            }
        }
        r.process.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// Generator 1: mqttref bench

fn with_mqttref_bench(rt: &tokio::runtime::Runtime, setup: &Setup, w: Workload) -> Group {
    let dir = setup.out.join(format!("{}-mqttref-bench", w.name()));
    let (running, mut rows) = start_all(rt, setup, &dir);
    let t0 = Instant::now();
    let s = &setup.sizes;
    let (qos, publishers, subscribers, messages) = match w {
        Workload::Qos0 => (0, 4, 4, s.qos0),
        Workload::Qos1 => (1, 4, 4, s.qos1),
        _ => (0, 1, FANOUT_SUBSCRIBERS, s.fanout),
    };
    let mut cmd = Command::new(&setup.mqttref);
    cmd.arg("bench");
    for r in &running {
        cmd.arg("-L").arg(format!("mqtt://{}", r.process.addr));
        cmd.arg("--broker-pid").arg(r.process.pid().to_string());
    }
    cmd.args(["--rounds", &setup.rounds.to_string()])
        .args(["-q", &qos.to_string()])
        .args(["--publishers", &publishers.to_string()])
        .args(["--subscribers", &subscribers.to_string()])
        .args(["-s", "64", "-n", &messages.to_string(), "--json"]);
    // Generous: Mosquitto's fan-out round of 1M deliveries takes about 7 s here.
    let limit = Duration::from_secs(300 + 120 * setup.rounds as u64);
    let log = dir.join("mqttref-bench.log");
    let result = if running.is_empty() {
        Err("no broker started".to_string())
    } else {
        watch(cmd, limit, &log, None, None)
            .map_err(|e| format!("{e:#}"))
            .and_then(|run| parse_mqttref_bench(&run, &log))
    };
    match result {
        Ok(figures) => {
            for (r, f) in running.iter().zip(figures) {
                rows.push((r.broker, Ok(f)));
            }
        }
        Err(e) => {
            for r in &running {
                rows.push((r.broker, Err(e.clone())));
            }
        }
    }
    rows.sort_by_key(|(b, _)| *b as u8);
    finish(running, &mut rows);
    progress(w, "mqttref bench", &rows, t0);
    Group {
        workload: w,
        generator: "mqttref bench",
        rows,
    }
}

/// The per-target medians of `mqttref bench --json`, in the order of the targets.
fn parse_mqttref_bench(run: &Watched, log: &Path) -> Result<Vec<Figures>, String> {
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).map_err(|_| {
        format!(
            "mqttref bench {}: {}",
            run.status_text(),
            tail(log, 2).replace('\n', " / ")
        )
    })?;
    let targets = json["targets"].as_array().ok_or("no targets in the JSON")?;
    Ok(targets
        .iter()
        .map(|t| {
            let m = &t["median"];
            let runs = t["runs"].as_array().cloned().unwrap_or_default();
            let sum = |k: &str| runs.iter().filter_map(|r| r[k].as_u64()).sum::<u64>();
            let (missing, dups, expected) = (sum("missing"), sum("duplicates"), sum("expected"));
            let windows: Vec<u64> = runs.iter().filter_map(|r| r["window"].as_u64()).collect();
            let mut note = String::new();
            if let Some(&w) = windows.first().filter(|&&w| w > 0) {
                let _ = write!(note, "window {w}");
            }
            if missing > 0 || dups > 0 {
                push_note(
                    &mut note,
                    &format!(
                        "{} of {} deliveries missing, {} duplicates",
                        thousands(missing),
                        thousands(expected),
                        thousands(dups)
                    ),
                );
            }
            Figures {
                delivered: m["deliver_rate"].as_f64(),
                per_cpu: m["deliveries_per_broker_cpu_sec"].as_f64(),
                p50_us: m["latency_p50_us"].as_f64(),
                p99_us: m["latency_p99_us"].as_f64(),
                note,
                ..Figures::default()
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Generator 2: mqttv5 bench

/// One `mqttv5 bench` throughput run.
struct V5Run {
    received: u64,
    published: u64,
    /// From its measuring window's start until its delivery count stood still.
    secs: f64,
    /// The broker's CPU seconds over `secs`.
    cpu: Option<f64>,
}

fn with_mqttv5(rt: &tokio::runtime::Runtime, setup: &Setup, w: Workload, v5: &Path) -> Group {
    let dir = setup.out.join(format!("{}-mqttv5-bench", w.name()));
    let (running, mut rows) = start_all(rt, setup, &dir);
    let t0 = Instant::now();
    let qos = if w == Workload::Qos1 { 1 } else { 0 };
    let s = &setup.sizes;
    let mut throughput: Vec<Vec<V5Run>> = running.iter().map(|_| Vec::new()).collect();
    let mut latency: Vec<Vec<(f64, f64)>> = running.iter().map(|_| Vec::new()).collect();
    let mut errors: Vec<Option<String>> = running.iter().map(|_| None).collect();
    for round in 1..=setup.rounds {
        for (i, r) in running.iter().enumerate() {
            if errors[i].is_some() {
                continue;
            }
            let log = dir.join(format!("mqttv5-{}-{round}.log", r.broker.name()));
            match mqttv5_throughput(v5, &r.process, qos, s, &log) {
                Ok(run) => throughput[i].push(run),
                Err(e) => errors[i] = Some(format!("{e:#}")),
            }
            let log = dir.join(format!("mqttv5-latency-{}-{round}.log", r.broker.name()));
            match mqttv5_latency(v5, r.process.addr, qos, s, &log) {
                Ok(l) => latency[i].push(l),
                Err(e) => errors[i] = Some(format!("{e:#}")),
            }
        }
    }
    for (i, r) in running.iter().enumerate() {
        if let Some(e) = errors[i].take() {
            rows.push((r.broker, Err(e)));
            continue;
        }
        let runs = &throughput[i];
        let rate = median(runs.iter().map(|r| r.received as f64 / r.secs).collect());
        let per_cpu = median(
            runs.iter()
                .filter_map(|r| r.cpu.filter(|&c| c > 0.0).map(|c| r.received as f64 / c))
                .collect(),
        );
        let received: u64 = runs.iter().map(|r| r.received).sum();
        let expected: u64 = runs.iter().map(|r| 4 * r.published).sum();
        let mut note = String::from("latency: 1→1 at 1,000/s");
        if expected > 0 && (received as f64) < 0.99 * expected as f64 {
            push_note(
                &mut note,
                &format!(
                    "subscribers got {:.2} of 4 × published by the end of its drain",
                    received as f64 / expected as f64
                ),
            );
        }
        rows.push((
            r.broker,
            Ok(Figures {
                delivered: rate,
                per_cpu,
                p50_us: median(latency[i].iter().map(|l| l.0).collect()),
                p99_us: median(latency[i].iter().map(|l| l.1).collect()),
                note,
                ..Figures::default()
            }),
        ));
    }
    rows.sort_by_key(|(b, _)| *b as u8);
    finish(running, &mut rows);
    progress(w, "mqttv5 bench", &rows, t0);
    Group {
        workload: w,
        generator: "mqttv5 bench",
        rows,
    }
}

fn mqttv5_command(v5: &Path, addr: SocketAddr, mode: &str, qos: u8, s: &Sizes) -> Command {
    let mut cmd = Command::new(v5);
    cmd.args(["bench", "--mode", mode, "-H", "127.0.0.1"])
        .args(["-p", &addr.port().to_string()])
        .args(["-q", &qos.to_string(), "--payload-size", "64"])
        .args(["--duration", &s.v5_secs.to_string()])
        .args(["--warmup", &s.v5_warmup.to_string()]);
    cmd
}

fn mqttv5_throughput(
    v5: &Path,
    broker: &BrokerProcess,
    qos: u8,
    s: &Sizes,
    log: &Path,
) -> Result<V5Run> {
    let mut cmd = mqttv5_command(v5, broker.addr, "throughput", qos, s);
    cmd.args(["--publishers", "4", "--subscribers", "4"]);
    let limit = Duration::from_secs((s.v5_secs + s.v5_warmup) as u64 + 60);
    let run = watch(cmd, limit, log, Some(broker.pid()), Some("measuring for"))?;
    let json = run.json(log)?;
    let r = &json["results"];
    let (Some(received), Some(published)) = (r["received"].as_u64(), r["published"].as_u64())
    else {
        bail!("mqttv5 bench: no received/published in its JSON");
    };
    let (Some((t0, c0)), Some((t1, c1))) = (run.mark, run.first_stdout) else {
        bail!("mqttv5 bench: no \"measuring for\" line before its JSON");
    };
    let secs = (t1.duration_since(t0).as_secs_f64() - V5_STILL).max(1e-3);
    Ok(V5Run {
        received,
        published,
        secs,
        cpu: c0.zip(c1).map(|(a, b)| b - a),
    })
}

/// p50 and p99 in µs of a `mqttv5 bench --mode latency` run.
fn mqttv5_latency(
    v5: &Path,
    addr: SocketAddr,
    qos: u8,
    s: &Sizes,
    log: &Path,
) -> Result<(f64, f64)> {
    let cmd = mqttv5_command(v5, addr, "latency", qos, s);
    let limit = Duration::from_secs((s.v5_secs + s.v5_warmup) as u64 + 60);
    let run = watch(cmd, limit, log, None, None)?;
    let json = run.json(log)?;
    let r = &json["results"];
    match (
        r["p50_us"].as_f64(),
        r["p99_us"].as_f64(),
        r["messages"].as_u64(),
    ) {
        (Some(p50), Some(p99), Some(n)) if n > 0 => Ok((p50, p99)),
        _ => bail!("mqttv5 bench --mode latency: no latencies in its JSON"),
    }
}

// ---------------------------------------------------------------------------------------------
// Idle connections

fn idle(rt: &tokio::runtime::Runtime, setup: &Setup) -> Group {
    let mut rows = Vec::new();
    let n = setup.sizes.idle;
    for b in setup.brokers() {
        let t0 = Instant::now();
        let dir = setup.out.join("idle").join(b.name());
        let result = rt.block_on(async {
            let process = start(b, setup, &dir).await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let before = process.rss_kib();
            let idle = open_idle(process.addr, n, |i| {
                connect_v5(&format!("bench-idle-{i}"), IDLE_KEEP_ALIVE)
            })
            .await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let after = process.rss_kib();
            let ok = idle.conns.len();
            let per_conn = after.saturating_sub(before) as f64 * 1024.0 / ok.max(1) as f64;
            let mut note = format!(
                "{}/{} connected in {:.1} s; {} before",
                thousands(ok as u64),
                thousands(n as u64),
                idle.took.as_secs_f64(),
                mib(before)
            );
            if let Some(e) = &idle.first_error {
                let _ = write!(note, "; {} failed, first: {e}", idle.errors);
            }
            drop(idle.conns);
            let mut process = process;
            if let Some(why) = process.exited() {
                push_note(&mut note, &why);
            }
            process.stop();
            anyhow::Ok(Figures {
                rss_kib: Some(after),
                per_conn: (ok == n).then_some(per_conn),
                note,
                ..Figures::default()
            })
        });
        let row = result.map_err(|e| format!("{e:#}"));
        match &row {
            Ok(f) => println!(
                "{:<6} {:<13} {:<9} {} KiB/conn; {} [{:.1} s]",
                "idle",
                "xtask",
                b.name(),
                f.per_conn
                    .map_or("n/a".into(), |p| format!("{:.2}", p / 1024.0)),
                f.note,
                t0.elapsed().as_secs_f64()
            ),
            Err(e) => println!("idle   xtask         {:<9} error: {e}", b.name()),
        }
        rows.push((b, row));
    }
    Group {
        workload: Workload::Idle,
        generator: "xtask",
        rows,
    }
}

/// An MQTT 5.0 CONNECT: clean start, the given Keep Alive, no properties, no will, no
/// credentials.
fn connect_v5(client_id: &str, keep_alive: u16) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 5, 0x02];
    body.extend_from_slice(&keep_alive.to_be_bytes());
    body.push(0);
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut out = vec![0x10];
    let mut n = body.len();
    loop {
        let byte = (n % 128) as u8;
        n /= 128;
        out.push(if n > 0 { byte | 0x80 } else { byte });
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&body);
    out
}

// ---------------------------------------------------------------------------------------------
// Running a generator

/// A generator's run: its stdout, how it ended, and when (and at what broker CPU time) chosen
/// moments came.
struct Watched {
    /// `None`: killed at the time limit.
    status: Option<ExitStatus>,
    stdout: String,
    /// The first stdout line: when, and the broker's CPU seconds then.
    first_stdout: Option<(Instant, Option<f64>)>,
    /// The first stderr line containing the mark.
    mark: Option<(Instant, Option<f64>)>,
}

impl Watched {
    fn status_text(&self) -> String {
        self.status
            .map_or("killed at the time limit".into(), |s| s.to_string())
    }

    fn json(&self, log: &Path) -> Result<serde_json::Value> {
        serde_json::from_str(self.stdout.trim()).map_err(|_| {
            anyhow::anyhow!(
                "no JSON ({}): {}",
                self.status_text(),
                tail(log, 2).replace('\n', " / ")
            )
        })
    }
}

/// Runs `cmd`, its stderr into `log`, killing it after `limit`. With `pid`, reads that
/// process's CPU time when `mark` shows up on stderr and when stdout starts.
fn watch(
    mut cmd: Command,
    limit: Duration,
    log: &Path,
    pid: Option<u32>,
    mark: Option<&'static str>,
) -> Result<Watched> {
    let mut log_file =
        std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let _ = writeln!(log_file, "$ {cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", cmd.get_program().to_string_lossy()))?;
    let cpu = move || pid.and_then(cpu_secs);
    let stderr = child.stderr.take().context("stderr")?;
    let errs = std::thread::spawn(move || {
        let mut seen = None;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if seen.is_none() && mark.is_some_and(|m| line.contains(m)) {
                seen = Some((Instant::now(), cpu()));
            }
            let _ = writeln!(log_file, "{line}");
        }
        seen
    });
    let mut stdout = child.stdout.take().context("stdout")?;
    let outs = std::thread::spawn(move || {
        let mut first = None;
        let mut text = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    first.get_or_insert_with(|| (Instant::now(), cpu()));
                    text.extend_from_slice(&buf[..n]);
                }
            }
        }
        (first, String::from_utf8_lossy(&text).into_owned())
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mark = errs.join().unwrap_or(None);
    let (first_stdout, stdout) = outs.join().unwrap_or((None, String::new()));
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(log) {
        let _ = write!(f, "--- stdout ---\n{stdout}");
    }
    Ok(Watched {
        status,
        stdout,
        first_stdout,
        mark,
    })
}

// ---------------------------------------------------------------------------------------------
// The report

fn report(command: &str, versions: &str, secs: f64, setup: &Setup, groups: &[Group]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "`{command}` — {versions}; {} round(s), medians; {:.0} s\n",
        setup.rounds, secs
    );
    md.push_str("| workload | generator | broker | delivered/s | deliveries per broker CPU-s | latency p50 / p99 | broker RSS at end | reference ÷ fastest peer | notes |\n");
    md.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for g in groups {
        let ratio = ratio_text(g);
        for (b, row) in &g.rows {
            let cells = match row {
                Err(e) => format!("error: {} | | | | |", e.replace('|', "\\|")),
                Ok(f) if g.workload == Workload::Idle => format!(
                    "– | – | – | {} | {} | {}",
                    f.rss_kib.map_or("n/a".into(), |k| match f.per_conn {
                        Some(p) => format!("{} ({:.2} KiB/conn)", mib(k), p / 1024.0),
                        None => mib(k),
                    }),
                    if *b == Broker::Mqttref { &ratio } else { "" },
                    f.note.replace('|', "\\|")
                ),
                Ok(f) => format!(
                    "{} | {} | {} | {} | {} | {}",
                    f.delivered.map_or("n/a".into(), rate),
                    f.per_cpu.map_or("n/a".into(), rate),
                    match (f.p50_us, f.p99_us) {
                        (Some(a), Some(b)) => format!("{} / {} ms", ms(a), ms(b)),
                        _ => "n/a".into(),
                    },
                    f.rss_kib.map_or("n/a".into(), mib),
                    if *b == Broker::Mqttref { &ratio } else { "" },
                    f.note.replace('|', "\\|")
                ),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {cells} |",
                g.workload.title(&setup.sizes),
                g.generator,
                b.name()
            );
        }
    }
    md.push('\n');
    md.push_str(
        "- Every broker runs with its defaults, fresh for each workload and generator, all on \
         this machine beside the generator; rounds alternate between the brokers.\n",
    );
    if setup.mosquitto.is_some() {
        md.push_str(
            "- Mosquitto's default `max_inflight_messages 20` is the Receive Maximum in its \
             CONNACK: `mqttref bench` keeps 20 QoS 1 PUBLISHes in flight per publisher against \
             it, 64 against the others (\"window\"), so its QoS 1 figures are not like for like. \
             Its default `max_queued_messages 1000` bounds what it queues per subscriber: past \
             it, it drops further messages for that subscriber, QoS 1 included (already \
             acknowledged to their publisher, the subscriber still connected), and logs \
             \"Outgoing messages are being dropped for client\"; MQTT-4.5.0-1 wants a message \
             the server took ownership of added to every matching session, and MQTT-4.1.0-1 \
             forbids discarding session state while the connection is open.\n",
        );
    }
    if setup.rumqttd.is_some() {
        md.push_str(
            "- rumqttd (its 5.0 listener) closes a connection whose CONNECT has Keep Alive 0 \
             without sending a CONNACK (its log: `ZeroKeepAlive`); the spec lets a server refuse \
             a CONNECT for its own reasons (3.1.4, MQTT-3.1.4-2: it MUST close, it MAY send a \
             CONNACK 0x80+) and a 5.0 server could instead answer with a Server Keep Alive \
             (3.2.2.3.14). No client here uses 0: `mqttref bench` 600, `mqttv5` 30, the idle \
             connections 600.\n",
        );
    }
    if setup.mqttv5.is_some() {
        md.push_str(
            "- `mqttv5 bench`: delivered/s is the messages its subscribers received from the \
             start of its measuring window until the count stood still (at most 2 s after \
             publishing stops), over that time; CPU over the same span. Its latency is a \
             separate 1 publisher → 1 subscriber run at 1,000 messages/s, not under load. It \
             does not run the fan-out (1,000 clients in one process measure the generator).\n",
        );
    }
    md.push_str(
        "- Ratio: the reference's delivered/s over the peer with the most, and its deliveries \
         per CPU-s over the peer with the most; for idle connections, its RSS per connection \
         over the leanest peer's (lower is better).\n",
    );
    md
}

/// The reference ÷ the best peer, for one group.
fn ratio_text(g: &Group) -> String {
    let ours = g.rows.iter().find_map(|(b, r)| match r {
        Ok(f) if *b == Broker::Mqttref => Some(f),
        _ => None,
    });
    let Some(ours) = ours else {
        return String::new();
    };
    let peers: Vec<(Broker, &Figures)> = g
        .rows
        .iter()
        .filter_map(|(b, r)| match r {
            Ok(f) if *b != Broker::Mqttref => Some((*b, f)),
            _ => None,
        })
        .collect();
    // The peer that maximises `key` (minimises, with `lower`), and ours over it.
    let best = |key: &dyn Fn(&Figures) -> Option<f64>, lower: bool| {
        let mine = key(ours)?;
        let (b, theirs) = peers
            .iter()
            .filter_map(|(b, f)| key(f).filter(|v| *v > 0.0).map(|v| (*b, v)))
            .max_by(|x, y| {
                let o = x.1.total_cmp(&y.1);
                if lower {
                    o.reverse()
                } else {
                    o
                }
            })?;
        Some(format!("{:.2}× {}", mine / theirs, b.name()))
    };
    if g.workload == Workload::Idle {
        return best(&|f| f.per_conn, true)
            .map(|r| format!("RSS/conn {r}"))
            .unwrap_or_default();
    }
    let mut parts = Vec::new();
    if let Some(r) = best(&|f| f.delivered, false) {
        parts.push(r);
    }
    if let Some(r) = best(&|f| f.per_cpu, false) {
        parts.push(format!("per CPU-s {r}"));
    }
    parts.join("; ")
}

/// One line per (workload, generator) as it finishes.
fn progress(w: Workload, generator: &str, rows: &[Row], t0: Instant) {
    let parts: Vec<String> = rows
        .iter()
        .map(|(b, r)| match r {
            Ok(f) => format!("{} {}/s", b.name(), f.delivered.map_or("n/a".into(), rate)),
            Err(e) => format!("{} error: {e}", b.name()),
        })
        .collect();
    println!(
        "{:<6} {:<13} {} [{:.1} s]",
        w.name(),
        generator,
        parts.join(", "),
        t0.elapsed().as_secs_f64()
    );
}

fn push_note(note: &mut String, more: &str) {
    if !note.is_empty() {
        note.push_str("; ");
    }
    note.push_str(more);
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// A rate: `1.38M`, `245k`, `912`.
fn rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.0}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// Microseconds as milliseconds, to 2 significant-ish digits.
fn ms(us: f64) -> String {
    let m = us / 1000.0;
    if m >= 100.0 {
        format!("{m:.0}")
    } else if m >= 1.0 {
        format!("{m:.1}")
    } else {
        format!("{m:.2}")
    }
}

/// The last `n` lines of a file.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rumqttd_listeners_move_to_loopback() {
        let default = "[v4.1]\nlisten = \"0.0.0.0:1883\"\n[v5.1]\nname = \"v5-1\"\nlisten = \"0.0.0.0:1884\"\n    [v5.1.connections]\n# listen = \"0.0.0.0:8883\"\n[console]\nlisten = \"0.0.0.0:3030\"\n";
        let v5: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let conf = rumqttd_config(default, &[("[v5.1]", v5)]).expect("config");
        assert!(conf.contains("[v5.1]\nname = \"v5-1\"\nlisten = \"127.0.0.1:4000\"\n"));
        assert!(!conf.contains("0.0.0.0:1883") && !conf.contains("0.0.0.0:3030"));
        assert!(conf.contains("# listen = \"0.0.0.0:8883\""));
        assert_eq!(conf.matches("listen = \"127.0.0.1:").count(), 3);
    }

    #[test]
    fn connect_bytes_and_figures() {
        assert_eq!(
            connect_v5("c", 600),
            [0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0x02, 0x58, 0, 0, 1, b'c']
        );
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(2.5));
        assert_eq!(
            (rate(1_380_000.0), rate(245_400.0), ms(1500.0)),
            ("1.38M".into(), "245k".into(), "1.5".into())
        );
    }
}
