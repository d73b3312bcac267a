//! The command line behind `cargo xtask sim` and `cargo xtask replay` (xtask runs the `sim`
//! binary of this crate in release mode: a debug simulation is ~30 times slower). `sim` runs seeds (one, a range, or a fresh one), prints `SEED=` first and
//! one line per seed, and on a failure the violated property, a short witness and the replay
//! command; it writes `reports/replays/seed-<n>.json` for every failing seed (every seed with
//! `--record`). `replay` re-runs such a file and reports identical digests or the first event
//! that diverged. A sweep too large for one machine runs as shards (`--shard K/N`, each
//! writing `--summary FILE`), which `merge` (`cargo xtask sim-merge`) joins into one report.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::plan::{Planted, StorageSelection};
use crate::replay::{self, Build, ReplayFile};
use crate::{FaultSelection, Outcome, Plan, Settings};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Options of `sim`.
#[derive(clap::Args, Debug)]
pub struct SimArgs {
    /// Run this seed (default: a fresh seed from the clock, printed first).
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Run the seeds `A..B` (B excluded).
    #[arg(long, value_name = "A..B")]
    seeds: Option<String>,
    /// Run only the K-th of N disjoint slices of `--seeds` (1 ≤ K ≤ N; seed index i is in
    /// slice i mod N + 1, so slices take equal shares of slow and fast seeds), so that CI
    /// workers or machines can split one sweep; `sim merge` joins their `--summary` files.
    #[arg(long, value_name = "K/N", requires = "seeds")]
    shard: Option<String>,
    /// Write a JSON summary of the run (range, shard, settings, counts, failing seeds with
    /// their violated properties and replay files) for `sim merge`.
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
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

/// Options of `merge`.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// Summary files written by `sim --summary` (one per shard).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// A failing seed, in a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedSeed {
    /// The seed.
    pub seed: u64,
    /// Violated properties, without repeats.
    pub properties: Vec<String>,
    /// The replay file written for it, if any.
    pub replay: Option<PathBuf>,
    /// The command that re-runs it.
    pub rerun: String,
}

/// What `sim --summary` writes: enough for `sim merge` to check that shards cover one sweep
/// exactly and to report it as one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Format version.
    pub format: u32,
    /// The whole sweep's seed range, `A..B`.
    pub range: String,
    /// This run's slice, `(K, N)`; `None`: the whole range.
    pub shard: Option<(u64, u64)>,
    /// Everything else that decides the outcome (clients, durations, faults, storage, plant):
    /// shards of one sweep must agree on it.
    pub settings: String,
    /// Seeds run.
    pub seeds: u64,
    /// Seeds that passed.
    pub passed: u64,
    /// Seeds that failed.
    pub failed: Vec<FailedSeed>,
    /// Seeds that could not run (with why).
    pub errors: Vec<String>,
    /// Wall-clock seconds.
    pub wall_secs: f64,
}

/// `--shard K/N`.
fn parse_shard(s: &str) -> Result<(u64, u64)> {
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| anyhow!("--shard takes K/N, got {s:?}"))?;
    let k: u64 = k
        .trim()
        .parse()
        .map_err(|e| anyhow!("--shard {s:?}: {e}"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|e| anyhow!("--shard {s:?}: {e}"))?;
    if n == 0 || k == 0 || k > n {
        bail!("--shard {s:?}: need 1 <= K <= N");
    }
    Ok((k, n))
}

/// The `k`-th of `n` slices of `seeds` (1-based): every `n`-th seed from index `k - 1`.
fn shard_of(seeds: &[u64], k: u64, n: u64) -> Vec<u64> {
    seeds
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as u64 % n == k - 1)
        .map(|(_, s)| *s)
        .collect()
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
    format!("cargo xtask sim --seed {seed} {}", settings_key(a))
}

/// The options besides the seeds, as `sim` takes them: what shards of one sweep share.
fn settings_key(a: &SimArgs) -> String {
    let plant = a
        .plant
        .map(|p| format!(" --plant {}", p.name()))
        .unwrap_or_default();
    format!(
        "--clients {} --duration {} --liveness {} --faults {} --storage {}{plant}",
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
    let (mut seeds, range) = parse_seeds(&a)?;
    let shard = a.shard.as_deref().map(parse_shard).transpose()?;
    let label = match shard {
        Some((k, n)) => {
            seeds = shard_of(&seeds, k, n);
            format!("{range} shard {k}/{n}")
        }
        None => range.clone(),
    };
    if seeds.is_empty() {
        bail!("shard {label}: no seeds in it");
    }
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
    type Done = Result<(Outcome, u128), String>;
    let results: Mutex<Vec<Option<Done>>> = Mutex::new(vec![None; seeds.len()]);
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let failures: Mutex<Vec<FailedSeed>> = Mutex::new(Vec::new());
    // Print in seed order as results arrive.
    let printed = Mutex::new(0usize);
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
                let done = crate::check(plan)
                    .map(|o| (o, t.elapsed().as_millis()))
                    .map_err(|e| format!("seed {seed}: {e}"));
                let mut p = printed.lock().expect("printed");
                let mut r = results.lock().expect("results");
                r[i] = Some(done);
                while *p < seeds.len() {
                    let Some(done) = r[*p].take() else { break };
                    match done {
                        Ok((o, wall)) => {
                            if let Some(f) = report(&a, &o, wall, &out, &build) {
                                failures.lock().expect("failures").push(f);
                            }
                        }
                        Err(e) => errors.lock().expect("errors").push(e),
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
    let failures = failures.into_inner().expect("failures");
    let failed = failures.len();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} seeds, {failed} failed, {:.1} s wall, {:.0} seeds/min ({jobs} jobs)",
        seeds.len(),
        secs,
        seeds.len() as f64 * 60.0 / secs.max(1e-9)
    );
    if let Some(path) = &a.summary {
        let summary = Summary {
            format: 1,
            range,
            shard,
            settings: settings_key(&a),
            seeds: seeds.len() as u64,
            passed: (seeds.len() - failed - errors.len()) as u64,
            failed: failures,
            errors: errors.clone(),
            wall_secs: secs,
        };
        let text = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if failed > 0 || !errors.is_empty() {
        bail!("{failed} of {} seeds failed", seeds.len());
    }
    Ok(())
}

/// Prints one seed's line (and its failure details); writes its replay file if needed.
/// Returns the failure, if it failed.
fn report(
    a: &SimArgs,
    o: &Outcome,
    wall_ms: u128,
    out: &std::path::Path,
    build: &Build,
) -> Option<FailedSeed> {
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
    if pass {
        return None;
    }
    let mut properties: Vec<String> = o.violations.iter().map(|v| v.property.clone()).collect();
    properties.sort();
    properties.dedup();
    Some(FailedSeed {
        seed,
        properties,
        replay: path,
        rerun: reproduce(a, seed),
    })
}

/// `cargo xtask sim-merge`: joins the summaries of the shards of one sweep, checks that they
/// agree on the range and settings and cover every slice exactly once, and reports them as one
/// sweep.
///
/// # Errors
/// Unreadable or disagreeing summaries, a missing or repeated shard, or failing seeds.
pub fn merge(a: MergeArgs) -> Result<()> {
    let mut all = Vec::new();
    for f in &a.files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let s: Summary =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", f.display()))?;
        all.push((f, s));
    }
    let merged = merge_summaries(all.iter().map(|(f, s)| (f.display().to_string(), s)))?;
    println!("SEED={}", merged.range);
    for f in &merged.failed {
        println!(
            "seed {}: FAIL {} (replay: {}; rerun: {})",
            f.seed,
            f.properties.join(", "),
            f.replay
                .as_ref()
                .map_or("none".into(), |p| p.display().to_string()),
            f.rerun
        );
    }
    for e in &merged.errors {
        println!("error: {e}");
    }
    println!(
        "{} seeds in {} shards, {} failed, {} errors; slowest shard {:.1} s wall",
        merged.seeds,
        all.len(),
        merged.failed.len(),
        merged.errors.len(),
        merged.wall_secs
    );
    if !merged.failed.is_empty() || !merged.errors.is_empty() {
        bail!("{} of {} seeds failed", merged.failed.len(), merged.seeds);
    }
    Ok(())
}

/// Joins shard summaries (named for errors) into one: same range and settings, shards `1..=N`
/// of one `N` each exactly once (or a single unsharded summary). `wall_secs` is the slowest
/// shard's.
///
/// # Errors
/// Disagreeing range, settings or shard count; a missing or repeated shard.
pub fn merge_summaries<'a>(
    parts: impl IntoIterator<Item = (String, &'a Summary)>,
) -> Result<Summary> {
    let parts: Vec<(String, &Summary)> = parts.into_iter().collect();
    let Some((first_name, first)) = parts.first() else {
        bail!("no summaries to merge");
    };
    let n = first.shard.map_or(1, |(_, n)| n);
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Summary {
        format: 1,
        range: first.range.clone(),
        shard: None,
        settings: first.settings.clone(),
        seeds: 0,
        passed: 0,
        failed: Vec::new(),
        errors: Vec::new(),
        wall_secs: 0.0,
    };
    for (name, s) in &parts {
        if s.range != first.range || s.settings != first.settings {
            bail!(
                "{name}: range {} with {} differs from {first_name}: range {} with {}",
                s.range,
                s.settings,
                first.range,
                first.settings
            );
        }
        let (k, sn) = s.shard.unwrap_or((1, 1));
        if sn != n {
            bail!("{name}: shard {k}/{sn}, but {first_name} is one of {n}");
        }
        if !seen.insert(k) {
            bail!("{name}: shard {k}/{n} given twice");
        }
        out.seeds += s.seeds;
        out.passed += s.passed;
        out.failed.extend(s.failed.iter().cloned());
        out.errors.extend(s.errors.iter().cloned());
        out.wall_secs = out.wall_secs.max(s.wall_secs);
    }
    let missing: Vec<String> = (1..=n)
        .filter(|k| !seen.contains(k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        bail!("shards missing: {}", missing.join(", "));
    }
    out.failed.sort_by_key(|f| f.seed);
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(shard: Option<(u64, u64)>, seeds: u64, failed: &[u64]) -> Summary {
        Summary {
            format: 1,
            range: "0..10".into(),
            shard,
            settings: "--clients 4".into(),
            seeds,
            passed: seeds - failed.len() as u64,
            failed: failed
                .iter()
                .map(|s| FailedSeed {
                    seed: *s,
                    properties: vec!["retained".into()],
                    replay: None,
                    rerun: format!("--seed {s}"),
                })
                .collect(),
            errors: Vec::new(),
            wall_secs: if seeds > 3 { 2.0 } else { 1.0 },
        }
    }

    /// The N slices of a range are disjoint and cover it.
    #[test]
    fn shards_partition_the_range() {
        let seeds: Vec<u64> = (100..110).collect();
        let mut all: Vec<u64> = (1..=3).flat_map(|k| shard_of(&seeds, k, 3)).collect();
        all.sort_unstable();
        assert_eq!(all, seeds);
        assert_eq!(shard_of(&seeds, 2, 3), vec![101, 104, 107]);
        assert_eq!(parse_shard("2/3").unwrap(), (2, 3));
        for bad in ["0/3", "4/3", "1/0", "x/3", "3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    /// Merging checks coverage and agreement, and adds the shards up.
    #[test]
    fn merge_checks_the_shards_and_adds_them_up() {
        let a = summary(Some((1, 3)), 4, &[6]);
        let b = summary(Some((2, 3)), 3, &[]);
        let c = summary(Some((3, 3)), 3, &[2]);
        let name = |s: &'static str| s.to_string();
        let m = merge_summaries([(name("a"), &a), (name("b"), &b), (name("c"), &c)]).unwrap();
        assert_eq!((m.seeds, m.passed), (10, 8));
        let failed: Vec<u64> = m.failed.iter().map(|f| f.seed).collect();
        assert_eq!(failed, vec![2, 6]);
        assert!((m.wall_secs - 2.0).abs() < 1e-9);
        let missing = merge_summaries([(name("a"), &a), (name("c"), &c)]).unwrap_err();
        assert!(missing.to_string().contains("2/3"), "{missing}");
        let twice = merge_summaries([(name("a"), &a), (name("a2"), &a)]).unwrap_err();
        assert!(twice.to_string().contains("twice"), "{twice}");
        let mut other = b.clone();
        other.settings = "--clients 20".into();
        assert!(merge_summaries([(name("a"), &a), (name("b"), &other), (name("c"), &c)]).is_err());
        let whole = summary(None, 10, &[]);
        assert_eq!(merge_summaries([(name("w"), &whole)]).unwrap().seeds, 10);
    }
}
