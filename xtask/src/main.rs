//! `cargo xtask`: the project's commands, one module per task (rust-analyzer's xtask shape).
//!
//! Every subcommand's doc comment is its `--help` text.

mod bench;
mod brokers;
mod conformance;
mod coverage;
mod fuzz;
mod manifest;
mod matrix;
mod nostd;
mod qemu;
mod sim;
mod soak;
mod wasm;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The project's commands.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the protocol core for embedded and wasm targets, without std; fails if any build
    /// needs std. Adds missing targets with `rustup target add`.
    Nostd,
    /// Run the core's test vectors (golden packets of both versions, malformed input with its
    /// reason codes, topic validation and matching; with alloc also owned packets, the stream
    /// decoder and the trie) on QEMU's MPS2 AN386 board (Cortex-M4, thumbv7em-none-eabihf)
    /// over semihosting, once without and once with `alloc`. Prints the failed cases and the
    /// pass/fail counts; exits 1 on any failure or when QEMU runs past --timeout-secs (it is
    /// killed). Needs qemu-system-arm: `.ci/install-qemu`.
    Qemu(qemu::Args),
    /// Build `mqttref-wasm` (the in-page broker and the Promise client) for
    /// wasm32-unknown-unknown in release and generate its JavaScript bindings into
    /// target/wasm/pkg, printing the .wasm size; `cargo xtask wasm test` runs its wasm tests in
    /// Node. Needs wasm-bindgen-cli at the version of wasm-bindgen in Cargo.lock (the error
    /// says which `cargo install` to run).
    Wasm(wasm::Args),
    /// Run the conformance scenarios against a broker (`--target mqtt://host:port`) and write
    /// report.json, report.xml (JUnit), report.md, report.html and verdicts.json into the report
    /// directory.
    /// Exits 1 when a statement fails (unless --report-only) or the verdicts differ from
    /// --baseline, 2 on bad arguments or an unreachable target.
    Conformance(conformance::Args),
    /// Run the conformance suite against several brokers, each started and stopped here on free
    /// loopback ports: the reference broker (in-process), Mosquitto (system), rumqttd 0.20 (its
    /// 5.0 and 3.1.1 listeners) and the mqttv5 broker (mqttv5-cli), plus every --target. Writes
    /// each broker's report into <out>/<name>/ and a statement × broker matrix
    /// (<out>/report.md, report.json, report.html; default out: reports/matrix). A broker that is
    /// missing or does not start is a column marked not run, with why and how to install it.
    Matrix(matrix::Args),
    /// Work with the spec manifests (spec-manifest/mqtt-v5.0.toml, mqtt-v3.1.1.toml).
    Manifest {
        #[command(subcommand)]
        command: manifest::Command,
    },
    /// Report which normative statements the scenarios declare: totals, per section and per
    /// role, for 5.0 and 3.1.1; writes reports/coverage.json and reports/coverage.md.
    Coverage(coverage::Args),
    /// Run the deterministic simulator: the reference broker and clients on a turmoil network
    /// with swarm faults drawn from each seed, audited against MQTT's guarantees. Prints SEED=
    /// first, one line per seed; on failure the violated property, a witness and the replay
    /// command, and writes reports/replays/seed-<n>.json. Exits 1 if any seed fails.
    Sim(sim::Args),
    /// Re-run a replay file written by `sim`; reports identical trace digests or the first
    /// event that diverged (exit 1).
    Replay(sim::Args),
    /// Join the summaries of a sharded sweep (`sim --seeds A..B --shard K/N --summary FILE` on
    /// each worker): checks that the shards agree and cover the range exactly once, lists every
    /// failing seed with its replay file, exits 1 if any failed.
    SimMerge(sim::Args),
    /// Run each cargo-fuzz target of the core (reference/core/fuzz) for --secs seconds (default
    /// 60) on stable Rust; fails naming the input file when a target crashes or hangs. Needs
    /// `cargo install cargo-fuzz --locked`; installs nothing itself.
    Fuzz(fuzz::Args),
    /// Overload checks against the real brokers: `mqttref broker` (release build) and Mosquitto,
    /// each started fresh per check on a free loopback port; prints one Markdown table (check,
    /// mqttref's figure, Mosquitto's, the bound for mqttref, pass/fail) and writes it to
    /// target/soak/soak.md.
    ///
    /// Both brokers run with their defaults, except silent-sockets, which sets max_connections
    /// to 100 in both. The clients are tokio TCP with hand-made MQTT bytes; RSS is the broker's
    /// VmRSS. Full numbers (--short in brackets):
    ///
    /// qos1-burst: a 3.1.1 publisher writes 50,000 (10,000) QoS 1 PUBLISHes without waiting
    /// for PUBACKs; subscriber A (5.0) reads and acknowledges, subscriber B (3.1.1) never reads.
    /// Bound: A gets all, in order. It waits up to 60 s (20 s): mqttref cuts B off after
    /// slow_subscriber_timeout_ms, 10 s.
    ///
    /// pingreq-flood: 4 clients send PINGREQs as fast as they can for 10 s (3 s) and never
    /// read; RSS before, at peak, and 5 s (3 s) after they close. Bound: peak growth < 64 MiB.
    ///
    /// subscribe-storm: 100,000 (20,000) retained messages stored, then 5 SUBSCRIBEs of 1,000
    /// filters each while another client sends a PINGREQ every 100 ms. Bound: worst PINGRESP
    /// delay < 1 s.
    ///
    /// retained-to-all: 100,000 (20,000) retained messages stored, a client subscribes to
    /// soak/r/# at QoS 1. Bound: it gets them all.
    ///
    /// idle-connections: 5,000 (1,000) idle 3.1.1 connections; RSS per connection, and after
    /// they close. Bound: all connect, and per connection at most Mosquitto's + 1 KiB (n/a
    /// without Mosquitto's figure).
    ///
    /// silent-sockets: max_connections 100, 116 TCP sockets that send nothing, then a client
    /// CONNECTs. Bound: CONNACK 0 within 1 s.
    ///
    /// Exits 1 when a bound for mqttref fails, unless --report-only.
    Soak(soak::Args),
    /// Speed against peers: the reference broker (`mqttref broker`, release build), rumqttd
    /// 0.20 (its MQTT 5.0 listener) and Mosquitto 2.0, each with its defaults on a free loopback
    /// port, in one run on this machine. Two load generators: `mqttref bench` (this project's)
    /// and `mqttv5 bench` (mqttv5-cli, written elsewhere), each alternating between the brokers
    /// round by round and reporting medians.
    ///
    /// Workloads (--only): qos0 and qos1, 4 publishers x 4 subscribers, 64-byte payloads (both
    /// generators); fanout, 1 publisher -> 1,000 subscribers, QoS 0 (mqttref bench); idle,
    /// 10,000 idle MQTT 5.0 connections, one broker at a time.
    ///
    /// Prints one Markdown table (also target/bench/bench.md): per workload, generator and
    /// broker, deliveries per second, deliveries per second of broker CPU, latency p50 / p99,
    /// broker RSS at the end of the run (and per idle connection), and the reference over the
    /// fastest peer. Mosquitto's Receive Maximum of 20 limits QoS 1 windows against it; the
    /// notes under the table say so, and how each figure is taken.
    ///
    /// Missing peers are installed into target/peers (`cargo install --root`, not --locked;
    /// --peers-dir or $XTASK_PEERS_DIR to use another); one that cannot be installed is left
    /// out with a line saying why. Mosquitto comes from the system.
    ///
    /// Not part of CI: it takes minutes, and its figures move by tens of percent between runs
    /// on a shared machine; quote a ratio against a peer from the same run, not an absolute.
    Bench(bench::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Nostd => nostd::run(),
        Command::Qemu(args) => qemu::run(args),
        Command::Wasm(args) => wasm::run(args),
        Command::Conformance(args) => conformance::main(args),
        Command::Matrix(args) => matrix::run(args),
        Command::Manifest { command } => manifest::run(command),
        Command::Coverage(args) => coverage::run(args),
        Command::Sim(args) => sim::run("run", args),
        Command::Replay(args) => sim::run("replay", args),
        Command::SimMerge(args) => sim::run("merge", args),
        Command::Fuzz(args) => fuzz::run(args),
        Command::Soak(args) => soak::run(args),
        Command::Bench(args) => bench::run(args),
    }
}

/// The workspace root: xtask lives one level below it.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}
