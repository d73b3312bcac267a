//! The command line behind `cargo xtask sim` and `cargo xtask replay` (xtask runs the `sim`
//! binary of this crate in release mode: a debug simulation is ~30 times slower). `sim` runs seeds (one, a range, or a fresh one), prints `SEED=` first and
//! one line per seed, and on a failure the violated property, a short witness and the replay
//! command; it writes `reports/replays/seed-<n>.json` for every failing seed (every seed with
//! `--record`). `replay` re-runs such a file and reports identical digests or the first event
//! that diverged.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::plan::{Planted, StorageSelection};
use crate::replay::{self, Build, ReplayFile};
use crate::{FaultSelection, Outcome, Plan, Settings};
use anyhow::{anyhow, bail, Result};

/// Options of `sim`.
#[derive(clap::Args, Debug)]
pub struct SimArgs {
    /// Run this seed (default: a fresh seed from the clock, printed first).
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Run the seeds `A..B` (B excluded).
    #[arg(long, value_name = "A..B")]
    seeds: Option<String>,
    /// Client hosts.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Simulated seconds of the safety phase (faults on).
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Simulated seconds of the liveness phase that follows (everything healed; the system
    /// must converge within it).
    #[arg(long, default_value_t = 25)]
    liveness: u64,
    /// `swarm` (each seed draws its fault kinds), `none`, or a comma list of: partition,
    /// partition-oneway, hold, broker-crash, client-crash, latency.
    #[arg(long, default_value = "swarm")]
    faults: String,
    /// Where the broker keeps its state: `swarm` (each seed draws memory or file), `memory`,
    /// or `file` (the file store on a simulated disk; the auditor then forgives no broker
    /// crash). `--faults swarm+broker-crash` turns broker crashes on in every seed.
    #[arg(long, default_value = "swarm")]
    storage: String,
    /// Write a replay file for every seed, not only failing ones.
    #[arg(long)]
    record: bool,
    /// Where replay files go (default: reports/replays at the workspace root).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Seeds run in parallel (each simulation is single-threaded).
    #[arg(long, default_value_t = 0)]
    jobs: usize,
    /// Plant a bug in the broker engine (needs `--features fault-injection`; `cargo xtask sim`
    /// adds it): recorded in the plan's options, so the replay file plants it too.
    #[arg(long, value_enum, value_name = "BUG")]
    plant: Option<Plant>,
}

/// A bug `--plant` puts in the broker engine (`mqttref_core::broker::faults`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plant {
    /// Forget one unacknowledged QoS 1 message on every session resume.
    #[value(name = "qos1-drop-on-resume")]
    Qos1DropOnResume,
    /// Deliver the first QoS 2 message twice.
    #[value(name = "qos2-duplicate")]
    Qos2Duplicate,
    /// The file store acknowledges before it syncs (use with `--storage file`).
    #[value(name = "store-ack-before-sync")]
    StoreAckBeforeSync,
    /// The file store forgets QoS 2 state on recovery (use with `--storage file`).
    #[value(name = "store-forgets-qos2")]
    StoreForgetsQos2,
}

impl Plant {
    fn name(self) -> &'static str {
        match self {
            Plant::Qos1DropOnResume => "qos1-drop-on-resume",
            Plant::Qos2Duplicate => "qos2-duplicate",
            Plant::StoreAckBeforeSync => "store-ack-before-sync",
            Plant::StoreForgetsQos2 => "store-forgets-qos2",
        }
    }

    fn planted(self) -> Planted {
        match self {
            Plant::Qos1DropOnResume => Planted {
                drop_qos1_on_resume: true,
                ..Planted::default()
            },
            Plant::Qos2Duplicate => Planted {
                duplicate_qos2: true,
                ..Planted::default()
            },
            Plant::StoreAckBeforeSync => Planted {
                store_ack_before_sync: true,
                ..Planted::default()
            },
            Plant::StoreForgetsQos2 => Planted {
                store_forgets_qos2: true,
                ..Planted::default()
            },
        }
    }
}

/// Options of `replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// A replay file written by `cargo xtask sim`.
    file: PathBuf,
    /// Print the broker's and clients' logs (`RUST_LOG` syntax, e.g. `debug` or
    /// `mqttref_broker=info`), each line stamped with the simulated time, on stderr.
    #[arg(long, value_name = "FILTER")]
    trace: Option<String>,
}

/// Log lines stamped with the simulated time (ms since the start of the run).
struct SimTime;

impl tracing_subscriber::fmt::time::FormatTime for SimTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match turmoil::sim_elapsed() {
            Some(d) => write!(w, "t={}ms", d.as_millis()),
            None => write!(w, "t=?"),
        }
    }
}

fn parse_seeds(a: &SimArgs) -> Result<(Vec<u64>, String)> {
    if let Some(s) = a.seed {
        return Ok((vec![s], s.to_string()));
    }
    if let Some(r) = &a.seeds {
        let (lo, hi) = r
            .split_once("..")
            .ok_or_else(|| anyhow!("--seeds takes A..B, got {r:?}"))?;
        let lo: u64 = lo
            .trim()
            .parse()
            .map_err(|e| anyhow!("--seeds {r:?}: {e}"))?;
        let hi: u64 = hi
            .trim()
            .parse()
            .map_err(|e| anyhow!("--seeds {r:?}: {e}"))?;
        if hi <= lo {
            bail!("--seeds {r:?}: empty range");
        }
        return Ok(((lo..hi).collect(), format!("{lo}..{hi}")));
    }
    // A fresh seed: the only place the clock is read, outside any simulation.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let seed = crate::rng::Rng::new(now).next_u64() >> 1;
    Ok((vec![seed], seed.to_string()))
}

fn reproduce(a: &SimArgs, seed: u64) -> String {
    let plant = a
        .plant
        .map(|p| format!(" --plant {}", p.name()))
        .unwrap_or_default();
    format!(
        "cargo xtask sim --seed {seed} --clients {} --duration {} --liveness {} --faults {} \
         --storage {}{plant}",
        a.clients, a.duration, a.liveness, a.faults, a.storage
    )
}

/// The workspace root (this crate lives one level below it).
pub fn workspace_root() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    dir.parent().map(PathBuf::from).unwrap_or(dir)
}

/// `cargo xtask sim`.
///
/// # Errors
/// Bad arguments, or failing seeds.
pub fn sim(a: SimArgs) -> Result<()> {
    let faults: FaultSelection = a.faults.parse().map_err(|e: String| anyhow!(e))?;
    let storage: StorageSelection = a.storage.parse().map_err(|e: String| anyhow!(e))?;
    let (seeds, label) = parse_seeds(&a)?;
    println!("SEED={label}");
    let settings = Settings {
        clients: a.clients,
        duration_secs: a.duration,
        liveness_secs: a.liveness,
        faults,
        storage,
    };
    let root = workspace_root();
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| root.join("reports/replays"));
    let build = Build::detect(&root);
    let jobs = if a.jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        a.jobs
    }
    .min(seeds.len())
    .max(1);

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<(Outcome, u128)>>> = Mutex::new(vec![None; seeds.len()]);
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    // Print in seed order as results arrive.
    let printed = Mutex::new(0usize);
    let failed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&seed) = seeds.get(i) else { break };
                let t = Instant::now();
                let mut plan = Plan::generate(seed, &settings);
                if let Some(p) = a.plant {
                    plan.options.planted = p.planted();
                }
                match crate::check(plan) {
                    Ok(o) => {
                        results.lock().expect("results")[i] = Some((o, t.elapsed().as_millis()));
                    }
                    Err(e) => errors
                        .lock()
                        .expect("errors")
                        .push(format!("seed {seed}: {e}")),
                }
                let mut p = printed.lock().expect("printed");
                let mut r = results.lock().expect("results");
                while *p < seeds.len() {
                    let Some((o, wall)) = r[*p].take() else { break };
                    if !report(&a, &o, wall, &out, &build) {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                    *p += 1;
                }
            });
        }
    });
    let errors = errors.into_inner().expect("errors");
    for e in &errors {
        eprintln!("error: {e}");
    }
    let failed = failed.load(Ordering::SeqCst);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} seeds, {failed} failed, {:.1} s wall, {:.0} seeds/min ({jobs} jobs)",
        seeds.len(),
        secs,
        seeds.len() as f64 * 60.0 / secs.max(1e-9)
    );
    if failed > 0 || !errors.is_empty() {
        bail!("{failed} of {} seeds failed", seeds.len());
    }
    Ok(())
}

/// Prints one seed's line (and its failure details); writes its replay file if needed.
/// Returns whether it passed.
fn report(a: &SimArgs, o: &Outcome, wall_ms: u128, out: &std::path::Path, build: &Build) -> bool {
    let seed = o.plan.options.seed;
    let h = &o.result.history;
    let kinds: Vec<&str> = o
        .plan
        .options
        .fault_kinds
        .iter()
        .map(|k| k.name())
        .collect();
    let pass = o.violations.is_empty();
    // File storage: what the simulated disk saw (syncs, crashes, unsynced bytes lost, torn).
    let disk = o
        .result
        .disk
        .map(|d| {
            format!(
                " disk={}syncs/{}crashes/{}lost/{}torn",
                d.syncs, d.crashes, d.lost, d.torn
            )
        })
        .unwrap_or_default();
    println!(
        "seed {seed}: {} faults=[{}] storage={}{disk} events={} sim={:.1}s wall={}ms \
         digest={:016x}",
        if pass { "ok" } else { "FAIL" },
        kinds.join(","),
        o.plan.options.storage.name(),
        h.events.len(),
        o.result.sim_ms as f64 / 1000.0,
        wall_ms,
        h.digest()
    );
    let mut path = None;
    if !pass || a.record {
        let file = ReplayFile::new(o, build.clone(), reproduce(a, seed));
        match file.write(out) {
            Ok(p) => path = Some(p),
            Err(e) => eprintln!("error: writing the replay file: {e}"),
        }
    }
    if !pass {
        for v in o.violations.iter().take(5) {
            println!("  violated: {}: {}", v.property, v.message);
            for e in v.witness.iter().take(8) {
                println!("    {}", e.line());
            }
        }
        if o.violations.len() > 5 {
            println!("  ... and {} more violations", o.violations.len() - 5);
        }
        if let Some(p) = &path {
            println!("  replay: cargo xtask replay {}", p.display());
        }
        println!("  rerun:  {}", reproduce(a, seed));
    }
    pass
}

/// `cargo xtask replay`.
///
/// # Errors
/// An unreadable file, or a diverging replay.
pub fn replay_file(a: ReplayArgs) -> Result<()> {
    if let Some(filter) = &a.trace {
        let filter = tracing_subscriber::EnvFilter::try_new(filter)
            .map_err(|e| anyhow!("--trace {filter:?}: {e}"))?;
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_timer(SimTime)
            .with_writer(std::io::stderr)
            .init();
    }
    let file = ReplayFile::read(&a.file).map_err(|e| anyhow!(e))?;
    println!("SEED={}", file.seed);
    let here = Build::detect(&workspace_root());
    if here.git_rev != file.build.git_rev || here.features != file.build.features {
        println!(
            "note: recorded by {} (features {:?}), replaying on {} (features {:?})",
            file.build.git_rev.as_deref().unwrap_or("unknown revision"),
            file.build.features,
            here.git_rev.as_deref().unwrap_or("unknown revision"),
            here.features
        );
    }
    let r = replay::replay(&file).map_err(|e| anyhow!(e))?;
    let props = |v: &[crate::Violation]| {
        let mut p: Vec<String> = v.iter().map(|v| v.property.clone()).collect();
        p.dedup();
        p
    };
    match &r.divergence {
        None => println!(
            "identical: {} digests over {} events",
            file.digests.len(),
            file.events
        ),
        Some(d) => {
            println!(
                "DIVERGED at digest checkpoint {} (events {}..{})",
                d.checkpoint,
                d.checkpoint * file.digest_every,
                (d.checkpoint + 1) * file.digest_every
            );
            if let Some(i) = d.event {
                println!("  first different event: #{i}");
                match &d.recorded {
                    Some(e) => println!("  recorded: {}", e.line()),
                    None => println!("  recorded: (history ended)"),
                }
                match &d.replayed {
                    Some(e) => println!("  replayed: {}", e.line()),
                    None => println!("  replayed: (history ended)"),
                }
            }
        }
    }
    println!(
        "violations: recorded {:?}, replayed {:?}",
        props(&file.violations),
        props(&r.outcome.violations)
    );
    for v in r.outcome.violations.iter().take(5) {
        println!("  violated: {}: {}", v.property, v.message);
        for e in v.witness.iter().take(8) {
            println!("    {}", e.line());
        }
    }
    if r.divergence.is_some() {
        bail!("the replay diverged");
    }
    Ok(())
}
