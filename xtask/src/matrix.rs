//! `cargo xtask matrix`: the conformance suite against several brokers in one command, and one
//! statement × broker table of their verdicts.
//!
//! # Brokers
//! Each is started by this command on free loopback ports, tested, and stopped, one at a time
//! (the suite's timing waits are short; two brokers under test at once on a small machine would
//! blame each other's load on the broker). Their configuration and logs are in
//! `target/matrix/<name>/`.
//! - `mqttref`: the reference broker, in-process, as `cargo xtask conformance` with no target.
//! - `mosquitto-2.0`: the system's Mosquitto (`apt-get install mosquitto`) with
//!   `reports/mosquitto-2.0/acl` and `target.toml`, as `.ci/run` starts it.
//! - `rumqttd-0.20`: `rumqttd generate-config` as is, every `listen` moved to a free loopback
//!   port; 5.0 is run against its `[v5.1]` listener, 3.1.1 against `[v4.1]`, and the two runs
//!   are one report (`RunReport::merge`). Target file `reports/rumqttd-0.20/target.toml`.
//! - `mqttv5-0.29`: `mqttv5 broker` (mqttv5-cli) with anonymous access, in-memory storage and
//!   `reports/mqttv5-0.29/acl`; target file `reports/mqttv5-0.29/target.toml`.
//! - every `--target URL[=NAME]`: a broker already running, as `conformance --target`.
//! - every `[[target]]` of a `--targets FILE` (see [`TargetsFile`]): a name, a URL, an optional
//!   target file, and optional `start` (a shell command this command starts before the run and
//!   stops after it) and `restart` (run before each `--isolate-failures` rerun) commands.
//!
//! rumqttd and mqttv5 are looked for in `<peers dir>/bin` as `cargo xtask bench` installs them
//! (`--peers-dir`, `$XTASK_PEERS_DIR`, default `target/peers`); with `--install` what is missing
//! is installed there. A broker that is missing or does not start is a column that says why
//! (and how to install it), never left out.
//!
//! # Output
//! `<out>/<name>/`: each broker's own report (`report.{json,xml,md,html}`, `verdicts.json`);
//! `<out>/report.{md,json,html}`: the matrix (see `scenarios::report::matrix`). The default
//! `<out>` is `reports/matrix/`.
//!
//! # Baselines
//! `--baselines` compares every broker that has `reports/<name>/verdicts.json` with it (as
//! `conformance --baseline`, `unstable.toml` included) and exits 1 on a change; `--bless`
//! writes them instead, for the brokers that have a `reports/<name>/` directory.

use anyhow::{Context as _, Result};
use clap::Args as ClapArgs;
use scenarios::report::{self, matrix, Verdicts};
use scenarios::run::{RunError, RunOptions};
use scenarios::target::{TargetAddr, TargetFile};
use scenarios::{RunReport, Version};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use crate::bench::{ensure_peer, rumqttd_config, Peer, MQTTV5, RUMQTTD};
use crate::brokers::{
    find_mosquitto, free_loopback_addr, mosquitto_version, readable_dir, target_dir,
    write_readable, BrokerProcess,
};

/// Arguments of `cargo xtask matrix`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Also test this running broker (repeatable): `mqtt://host:port`, optionally `=NAME` for its
    /// column and report directory (default: host_port).
    #[arg(long, value_name = "URL[=NAME]")]
    target: Vec<String>,
    /// Also test the brokers a TOML file lists, each a `[[target]]` with `name`, `url`, and
    /// optionally `target_file` (relative to FILE), `start` (a shell command started before its
    /// run and stopped after) and `restart` (run before each --isolate-failures rerun).
    #[arg(long, value_name = "FILE")]
    targets: Option<PathBuf>,
    /// Leave out a built-in broker (repeatable): mqttref, mosquitto, rumqttd, mqttv5. It is
    /// still a column, marked not run.
    #[arg(long, value_name = "NAME")]
    skip: Vec<String>,
    /// Install missing peers (rumqttd, mqttv5-cli) into the peers directory with
    /// `cargo install --root` (minutes each) instead of reporting them not run.
    #[arg(long)]
    install: bool,
    /// Where rumqttd and mqttv5 are installed (binaries in DIR/bin) [default: $XTASK_PEERS_DIR,
    /// else target/peers].
    #[arg(long, value_name = "DIR")]
    peers_dir: Option<PathBuf>,
    /// Which protocol version(s) to run: `5.0`, `3.1.1` or `all`.
    #[arg(long, value_name = "VERSION", default_value = "all")]
    version: String,
    /// Run only what matches (as `conformance --only`). Repeatable.
    #[arg(long, value_name = "ID|SECTION|SCENARIO")]
    only: Vec<String>,
    /// How many scenarios run at once against one broker.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,
    /// Overall time limit of one scenario, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    scenario_timeout: u64,
    /// Rerun every failed and lenient scenario alone on the same broker and report whether it
    /// reproduces.
    #[arg(long)]
    isolate_failures: bool,
    /// Where to write the matrix and the brokers' reports [default: reports/matrix].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Compare each broker with reports/<name>/verdicts.json where there is one; exit 1 on a
    /// change.
    #[arg(long, conflicts_with = "bless")]
    baselines: bool,
    /// Write each broker's verdicts.json into reports/<name>/ where that directory exists.
    #[arg(long)]
    bless: bool,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
}

/// The built-in brokers, in column order.
const BUILT_IN: [&str; 4] = ["mqttref", "mosquitto", "rumqttd", "mqttv5"];

/// Everything one broker's runs need besides the broker.
struct Env<'a> {
    args: &'a Args,
    rt: &'a tokio::runtime::Runtime,
    root: PathBuf,
    work: PathBuf,
    peers_dir: PathBuf,
    versions: Vec<Version>,
}

/// Runs the command (see the module doc); exits 1 on a baseline change with `--baselines`.
pub fn run(args: Args) -> Result<()> {
    let versions = match args.version.as_str() {
        "all" => Version::ALL.to_vec(),
        v => vec![v
            .parse::<Version>()
            .map_err(|_| anyhow::anyhow!("`{v}` is not a version: use 5.0, 3.1.1 or all"))?],
    };
    for s in &args.skip {
        if !BUILT_IN.contains(&s.as_str()) {
            anyhow::bail!(
                "--skip {s}: the built-in brokers are {}",
                BUILT_IN.join(", ")
            );
        }
    }
    let extra: Vec<(String, String)> = args
        .target
        .iter()
        .map(|t| parse_target(t))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    let listed = match &args.targets {
        Some(path) => TargetsFile::load(path).map_err(anyhow::Error::msg)?.target,
        None => Vec::new(),
    };
    let root = crate::workspace_root();
    let target = target_dir(&root);
    let work = target.join("matrix");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let peers_dir = args
        .peers_dir
        .clone()
        .or_else(|| std::env::var_os("XTASK_PEERS_DIR").map(PathBuf::from))
        .unwrap_or_else(|| target.join("peers"));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("reports").join("matrix"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let env = Env {
        args: &args,
        rt: &rt,
        root: root.clone(),
        work,
        peers_dir,
        versions,
    };

    let started = SystemTime::now();
    let clock = Instant::now();
    let mut columns = Vec::new();
    for b in BUILT_IN {
        let t = Instant::now();
        let col = if args.skip.iter().any(|s| s == b) {
            not_run(b, format!("left out (--skip {b})"))
        } else {
            match b {
                "mqttref" => mqttref(&env),
                "mosquitto" => mosquitto(&env),
                "rumqttd" => rumqttd(&env),
                _ => mqttv5(&env),
            }
        };
        say(&col, t.elapsed());
        columns.push(col);
    }
    for (url, name) in &extra {
        let t = Instant::now();
        let file = TargetFile {
            name: Some(name.clone()),
            ..TargetFile::default()
        };
        let col = matrix::Column {
            name: name.clone(),
            software: format!("running broker at {url}"),
            run: suite(&env, &[(env.versions.clone(), url.clone())], &file),
        };
        say(&col, t.elapsed());
        columns.push(col);
    }
    for t in &listed {
        let clock = Instant::now();
        let col = listed_target(&env, t);
        say(&col, clock.elapsed());
        columns.push(col);
    }
    let m = matrix::Matrix {
        started_at: scenarios::verdict::rfc3339(started),
        duration: clock.elapsed(),
        columns,
    };

    for col in &m.columns {
        if let Ok(r) = &col.run {
            let dir = out.join(&col.name);
            report::write_all(r, &dir)
                .with_context(|| format!("writing the reports into {}", dir.display()))?;
        }
    }
    let written = matrix::write_all(&m, &out)
        .with_context(|| format!("writing the matrix into {}", out.display()))?;
    for col in &m.columns {
        match &col.run {
            Ok(r) => {
                for &v in &r.meta.versions {
                    let c = r.counts(Some(v));
                    let parts: Vec<String> = scenarios::Verdict::ALL
                        .iter()
                        .map(|verdict| format!("{} {}", c[verdict], verdict.as_str()))
                        .collect();
                    println!("{} MQTT {v}: {}", col.name, parts.join(", "));
                }
                println!(
                    "{}: {}; {} finding(s){}",
                    col.name,
                    r.violations_line(None),
                    r.findings.len(),
                    r.isolation_line()
                        .map(|l| format!("; {l}"))
                        .unwrap_or_default()
                );
            }
            Err(why) => println!("{}: NOT RUN: {why}", col.name),
        }
    }
    println!(
        "matrix of {} broker(s) in {:.1} s: {}",
        m.columns.len(),
        m.duration.as_secs_f64(),
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let mut changed = false;
    for col in &m.columns {
        let Ok(r) = &col.run else { continue };
        let dir = root.join("reports").join(&col.name);
        let verdicts = Verdicts::of(r);
        if args.bless && dir.is_dir() {
            crate::conformance::bless(&dir, &verdicts)?;
        } else if args.baselines && dir.join("verdicts.json").is_file() {
            let old = crate::conformance::load_baseline(&dir)?;
            let unstable = report::Unstable::load(&dir).map_err(anyhow::Error::msg)?;
            if !crate::conformance::compare_with_baseline(&dir, &old, &unstable, &verdicts) {
                changed = true;
            }
        }
    }
    if changed {
        std::process::exit(1);
    }
    Ok(())
}

/// A `--targets` file: the brokers to test besides the built-in ones.
///
/// ```toml
/// [[target]]
/// name = "emqx-5"                         # column and report directory
/// url = "mqtt://127.0.0.1:18830"
/// target_file = "emqx/target.toml"        # optional; relative to this file
/// start = "docker run --rm -p 18830:1883 emqx:5"   # optional: started before, stopped after
/// restart = "docker restart emqx"         # optional: before each --isolate-failures rerun
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    /// The brokers, in column order.
    #[serde(default)]
    pub target: Vec<ListedTarget>,
}

/// One `[[target]]` of a [`TargetsFile`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedTarget {
    /// Column and report directory name.
    pub name: String,
    /// `mqtt://host:port` (or any URL `conformance --target` takes).
    pub url: String,
    /// Its target file, resolved against the targets file's directory when loaded.
    #[serde(default)]
    pub target_file: Option<PathBuf>,
    /// A shell command that starts the broker, run as `sh -c 'exec COMMAND'` so that the broker
    /// is the process stopped when the run ends: one command (a script for more), in the
    /// foreground.
    #[serde(default)]
    pub start: Option<String>,
    /// A shell command that restarts it, before each `--isolate-failures` rerun (overrides the
    /// target file's `restart`).
    #[serde(default)]
    pub restart: Option<String>,
}

impl TargetsFile {
    /// Reads and checks `path`: every URL parses, names are unique, usable as a directory and
    /// not a built-in broker's; target files are resolved against `path`'s directory.
    pub fn load(path: &Path) -> Result<TargetsFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--targets {}: {e}", path.display()))?;
        let mut file =
            TargetsFile::parse(&text).map_err(|e| format!("--targets {}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for t in &mut file.target {
            if let Some(f) = &t.target_file {
                t.target_file = Some(base.join(f));
            }
        }
        Ok(file)
    }

    /// Parses and checks the text of a targets file (see [`TargetsFile::load`]).
    pub fn parse(text: &str) -> Result<TargetsFile, String> {
        let file: TargetsFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if file.target.is_empty() {
            return Err("no [[target]]".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for t in &file.target {
            TargetAddr::parse(&t.url).map_err(|e| format!("target {:?}: url: {e}", t.name))?;
            if t.name.is_empty()
                || !t
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            {
                return Err(format!(
                    "target {:?}: a name is letters, digits, '.', '-' and '_'",
                    t.name
                ));
            }
            if BUILT_IN.iter().any(|b| t.name.starts_with(b)) {
                return Err(format!(
                    "target {:?}: the name is taken by a built-in broker",
                    t.name
                ));
            }
            if !seen.insert(t.name.clone()) {
                return Err(format!("target {:?}: the name is given twice", t.name));
            }
        }
        Ok(file)
    }
}

/// Tests one `[[target]]`: starts it if it has a `start` command (waiting up to 10 s for its
/// port), runs the suite, stops what it started.
fn listed_target(env: &Env<'_>, t: &ListedTarget) -> matrix::Column {
    let software = match &t.start {
        Some(cmd) => format!("{} (started with `{cmd}`)", t.url),
        None => format!("running broker at {}", t.url),
    };
    let run = (|| {
        let mut file = match &t.target_file {
            Some(path) => TargetFile::load(path).map_err(|e| e.to_string())?,
            None => TargetFile::default(),
        };
        file.name = Some(t.name.clone());
        if t.restart.is_some() {
            file.restart = t.restart.clone();
        }
        let parts = [(env.versions.clone(), t.url.clone())];
        let Some(cmd) = &t.start else {
            return suite(env, &parts, &file);
        };
        let addr = TargetAddr::parse(&t.url).map_err(|e| e.to_string())?;
        let sock: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&addr.host_port)
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("{}: the address does not resolve", addr.host_port))?;
        let dir = env.work.join(&t.name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(format!("exec {cmd}"));
        with_process(env, &t.name, sh, sock, &dir, &parts, &file)
    })();
    matrix::Column {
        name: t.name.clone(),
        software,
        run,
    }
}

/// `URL` or `URL=NAME` -> (URL, NAME); the name defaults to the URL's host_port.
fn parse_target(t: &str) -> Result<(String, String), String> {
    let (url, name) = match t.rsplit_once('=') {
        Some((url, name))
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) =>
        {
            (url, Some(name.to_string()))
        }
        _ => (t, None),
    };
    let addr = TargetAddr::parse(url).map_err(|e| format!("--target {t}: {e}"))?;
    let name = name.unwrap_or_else(|| addr.default_name());
    if BUILT_IN.iter().any(|b| name.starts_with(b)) {
        return Err(format!(
            "--target {t}: the name {name:?} is taken by a built-in broker; give another with =NAME"
        ));
    }
    Ok((url.to_string(), name))
}

fn say(col: &matrix::Column, took: Duration) {
    match &col.run {
        Ok(r) => eprintln!(
            "{}: done in {:.0} s ({})",
            col.name,
            took.as_secs_f64(),
            r.violations_line(None)
        ),
        Err(why) => eprintln!("{}: not run: {why}", col.name),
    }
}

fn not_run(name: &str, why: String) -> matrix::Column {
    let name = match name {
        "mosquitto" => "mosquitto-2.0",
        "rumqttd" => "rumqttd-0.20",
        "mqttv5" => "mqttv5-0.29",
        n => n,
    };
    matrix::Column {
        name: name.to_string(),
        software: String::new(),
        run: Err(why),
    }
}

/// Runs the suite once per (versions, URL) part, against one broker, and merges the parts.
fn suite(
    env: &Env<'_>,
    parts: &[(Vec<Version>, String)],
    file: &TargetFile,
) -> Result<RunReport, String> {
    let mut reports = Vec::new();
    for (versions, url) in parts {
        let versions: Vec<Version> = versions
            .iter()
            .copied()
            .filter(|v| env.versions.contains(v))
            .collect();
        if versions.is_empty() {
            continue;
        }
        let target = TargetAddr::parse(url).map_err(|e| format!("{url}: {e}"))?;
        let mut opts = RunOptions::new(target.clone());
        opts.connector = target.connector(&file.tls)?;
        opts.target_file = file.clone();
        opts.versions = versions;
        opts.only = env.args.only.clone();
        opts.jobs = usize::from(env.args.jobs);
        opts.scenario_timeout = Duration::from_secs(env.args.scenario_timeout);
        opts.progress = !env.args.quiet;
        opts.isolate_failures = env.args.isolate_failures;
        // A filter of another version's statements selects nothing from this listener: drop
        // it here and run what the others select (no part left to run when none do).
        loop {
            match env.rt.block_on(scenarios::run(&opts)) {
                Ok(r) => reports.push(r),
                Err(RunError::UnknownFilter(f)) if parts.len() > 1 => {
                    opts.only.retain(|o| *o != f);
                    if !opts.only.is_empty() {
                        continue;
                    }
                }
                Err(e) => return Err(e.to_string()),
            }
            break;
        }
    }
    RunReport::merge(reports).ok_or_else(|| "nothing selected".to_string())
}

/// The reference broker, in-process.
fn mqttref(env: &Env<'_>) -> matrix::Column {
    use crate::conformance::reference;
    let software = format!("mqttref {}", crate::brokers::git_describe(&env.root));
    let run = env
        .rt
        .block_on(reference::start(
            crate::conformance::InProcessTransport::Tcp,
        ))
        .map_err(|e| format!("the in-process reference broker did not start: {e}"))
        .and_then(|broker| {
            let file = TargetFile {
                name: Some(reference::NAME.into()),
                refused_topic: Some(reference::REFUSED_TOPIC.into()),
                auth: Some(reference::auth()),
                ..TargetFile::default()
            };
            let r = suite(env, &[(Version::ALL.to_vec(), broker.url.clone())], &file);
            env.rt.block_on(broker.stop());
            r
        });
    matrix::Column {
        name: reference::NAME.into(),
        software,
        run,
    }
}

/// A baseline's target file, `reports/<name>/target.toml`.
fn target_file(env: &Env<'_>, name: &str) -> Result<TargetFile, String> {
    let path = env.root.join("reports").join(name).join("target.toml");
    TargetFile::load(&path).map_err(|e| e.to_string())
}

/// Starts a broker process, runs `parts` against it, stops it.
fn with_process(
    env: &Env<'_>,
    name: &str,
    cmd: Command,
    addr: SocketAddr,
    dir: &Path,
    parts: &[(Vec<Version>, String)],
    file: &TargetFile,
) -> Result<RunReport, String> {
    let process = env
        .rt
        .block_on(BrokerProcess::start(name, cmd, addr, dir.join("log")))
        .map_err(|e| format!("did not start: {e:#}"))?;
    let r = suite(env, parts, file);
    process.stop();
    r
}

fn mosquitto(env: &Env<'_>) -> matrix::Column {
    const NAME: &str = "mosquitto-2.0";
    let Some(bin) = find_mosquitto() else {
        return matrix::Column {
            name: NAME.into(),
            software: "Mosquitto".into(),
            run: Err(
                "no mosquitto on PATH, /usr/sbin or /usr/local/sbin; install: \
                      apt-get install -y mosquitto"
                    .into(),
            ),
        };
    };
    let software = format!(
        "Mosquitto {}",
        mosquitto_version(&bin).unwrap_or_else(|| "?".into())
    );
    let run = (|| {
        let file = target_file(env, NAME)?;
        let dir = env.work.join(NAME);
        let addr = free_loopback_addr().map_err(|e| e.to_string())?;
        let setup = || -> Result<Command> {
            // Mosquitto started as root drops to its own user: keep what it reads readable.
            readable_dir(&dir)?;
            let acl = std::fs::read_to_string(env.root.join("reports").join(NAME).join("acl"))
                .context("reading the baseline's acl")?;
            write_readable(&dir.join("acl"), &acl)?;
            let conf = dir.join("mosquitto.conf");
            write_readable(
                &conf,
                &format!(
                    "listener {} 127.0.0.1\nallow_anonymous true\nacl_file {}\n",
                    addr.port(),
                    dir.join("acl").display()
                ),
            )?;
            let mut cmd = Command::new(&bin);
            cmd.arg("-c").arg(&conf);
            Ok(cmd)
        };
        let cmd = setup().map_err(|e| format!("{e:#}"))?;
        with_process(
            env,
            NAME,
            cmd,
            addr,
            &dir,
            &[(Version::ALL.to_vec(), format!("mqtt://{addr}"))],
            &file,
        )
    })();
    matrix::Column {
        name: NAME.into(),
        software,
        run,
    }
}

/// A peer's binary, installed with `--install`; otherwise the reason it is missing, with the
/// command that installs it.
fn peer(env: &Env<'_>, peer: &Peer) -> Result<PathBuf, String> {
    let bin = env.peers_dir.join("bin").join(peer.bin);
    if bin.is_file() {
        return Ok(bin);
    }
    if env.args.install {
        return ensure_peer(peer, &env.peers_dir, &env.work)
            .ok_or_else(|| format!("cargo install {} failed (see target/matrix)", peer.krate));
    }
    Err(format!(
        "{} not found; install it with `cargo xtask matrix --install`, or `cargo install --root {} {} --version {}`",
        bin.display(),
        env.peers_dir.display(),
        peer.krate,
        peer.version
    ))
}

/// `<bin> --version` -> its second word.
fn version_of(bin: &Path) -> String {
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
}

fn rumqttd(env: &Env<'_>) -> matrix::Column {
    const NAME: &str = "rumqttd-0.20";
    let bin = match peer(env, &RUMQTTD) {
        Ok(b) => b,
        Err(why) => return not_run("rumqttd", why),
    };
    let software = format!("rumqttd {}", version_of(&bin));
    let run = (|| {
        let file = target_file(env, NAME)?;
        let dir = env.work.join(NAME);
        let setup = || -> Result<(Command, SocketAddr, SocketAddr)> {
            readable_dir(&dir)?;
            let out = Command::new(&bin)
                .arg("generate-config")
                .output()
                .context("rumqttd generate-config")?;
            anyhow::ensure!(
                out.status.success(),
                "rumqttd generate-config failed ({})",
                out.status
            );
            let (v5, v4) = (free_loopback_addr()?, free_loopback_addr()?);
            let conf = rumqttd_config(
                &String::from_utf8_lossy(&out.stdout),
                &[("[v5.1]", v5), ("[v4.1]", v4)],
            )?;
            let path = dir.join("rumqttd.toml");
            write_readable(&path, &conf)?;
            let mut cmd = Command::new(&bin);
            cmd.arg("-q").arg("-c").arg(&path);
            Ok((cmd, v5, v4))
        };
        let (cmd, v5, v4) = setup().map_err(|e| format!("{e:#}"))?;
        with_process(
            env,
            NAME,
            cmd,
            v5,
            &dir,
            &[
                (vec![Version::V5_0], format!("mqtt://{v5}")),
                (vec![Version::V3_1_1], format!("mqtt://{v4}")),
            ],
            &file,
        )
    })();
    matrix::Column {
        name: NAME.into(),
        software,
        run,
    }
}

fn mqttv5(env: &Env<'_>) -> matrix::Column {
    const NAME: &str = "mqttv5-0.29";
    let bin = match peer(env, &MQTTV5) {
        Ok(b) => b,
        Err(why) => return not_run("mqttv5", why),
    };
    let software = format!("mqttv5-cli {}", version_of(&bin));
    let run = (|| {
        let file = target_file(env, NAME)?;
        let dir = env.work.join(NAME);
        let addr = free_loopback_addr().map_err(|e| e.to_string())?;
        let setup = || -> Result<Command> {
            readable_dir(&dir)?;
            let acl = std::fs::read_to_string(env.root.join("reports").join(NAME).join("acl"))
                .context("reading the baseline's acl")?;
            write_readable(&dir.join("acl"), &acl)?;
            let mut cmd = Command::new(&bin);
            cmd.current_dir(&dir)
                .args(["broker", "--host", &addr.to_string()])
                .args(["--allow-anonymous", "true", "--acl-file"])
                .arg(dir.join("acl"))
                .args(["--storage-backend", "memory", "--non-interactive"]);
            Ok(cmd)
        };
        let cmd = setup().map_err(|e| format!("{e:#}"))?;
        with_process(
            env,
            NAME,
            cmd,
            addr,
            &dir,
            &[(Version::ALL.to_vec(), format!("mqtt://{addr}"))],
            &file,
        )
    })();
    matrix::Column {
        name: NAME.into(),
        software,
        run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_take_an_optional_name() {
        assert_eq!(
            parse_target("mqtt://127.0.0.1:1883=amqtt-0.12").unwrap(),
            ("mqtt://127.0.0.1:1883".into(), "amqtt-0.12".into())
        );
        assert_eq!(
            parse_target("mqtt://127.0.0.1:1883").unwrap().0,
            "mqtt://127.0.0.1:1883"
        );
        assert!(parse_target("localhost:1883").is_err());
        assert!(parse_target("mqtt://h:1=mosquitto-2.0").is_err());
    }

    #[test]
    fn targets_file_lists_brokers_and_resolves_target_files() {
        let dir = std::env::temp_dir().join(format!("xtask-targets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("targets.toml");
        std::fs::write(
            &path,
            r#"
[[target]]
name = "emqx-5"
url = "mqtt://127.0.0.1:18830"
target_file = "emqx/target.toml"
start = "emqx foreground"
restart = "emqx restart"

[[target]]
name = "running"
url = "mqtt://127.0.0.1:1883"
"#,
        )
        .unwrap();
        let f = TargetsFile::load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(f.target.len(), 2);
        assert_eq!(
            f.target[0].target_file.as_deref(),
            Some(dir.join("emqx/target.toml").as_path())
        );
        assert_eq!(f.target[0].start.as_deref(), Some("emqx foreground"));
        assert_eq!(f.target[0].restart.as_deref(), Some("emqx restart"));
        assert_eq!(f.target[1].target_file, None);
        assert_eq!(f.target[1].start, None);
    }

    #[test]
    fn targets_file_errors_name_the_target() {
        let one = |body: &str| TargetsFile::parse(&format!("[[target]]\n{body}"));
        assert!(one(r#"name = "a"
url = "mqtt://h:1"
colour = "red""#)
        .unwrap_err()
        .contains("colour"));
        assert!(one(r#"name = "a""#).unwrap_err().contains("url"));
        assert!(one(r#"name = "a"
url = "h:1""#)
        .unwrap_err()
        .contains("target \"a\": url"));
        assert!(one(r#"name = "a b"
url = "mqtt://h:1""#)
        .unwrap_err()
        .contains("a name is"));
        assert!(one(r#"name = "rumqttd-0.21"
url = "mqtt://h:1""#)
        .unwrap_err()
        .contains("built-in"));
        assert!(TargetsFile::parse(
            "[[target]]\nname = \"a\"\nurl = \"mqtt://h:1\"\n\
             [[target]]\nname = \"a\"\nurl = \"mqtt://h:2\"\n"
        )
        .unwrap_err()
        .contains("twice"));
        assert_eq!(TargetsFile::parse("").unwrap_err(), "no [[target]]");
    }

    /// A `start` command is started, waited for until its port listens, and stopped after the
    /// run: here a listener that speaks no MQTT, so the column says the probe failed, and the
    /// port is closed afterwards.
    #[test]
    fn a_listed_target_is_started_and_stopped() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let start = format!(
            "python3 -c 'import socket,time; s=socket.socket(); \
             s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); \
             s.bind((\"127.0.0.1\", {port})); s.listen(); c=s.accept()[0]; c.close(); \
             time.sleep(60)'"
        );
        let args =
            <Args as clap::FromArgMatches>::from_arg_matches(
                &<Args as clap::Args>::augment_args(clap::Command::new("matrix"))
                    .get_matches_from(["matrix", "--quiet", "--version", "5.0"]),
            )
            .unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let work = std::env::temp_dir().join(format!("xtask-listed-{}", std::process::id()));
        let env = Env {
            args: &args,
            rt: &rt,
            root: crate::workspace_root(),
            work: work.clone(),
            peers_dir: work.clone(),
            versions: vec![Version::V5_0],
        };
        let t = ListedTarget {
            name: "fake".into(),
            url: format!("mqtt://127.0.0.1:{port}"),
            target_file: None,
            start: Some(start),
            restart: None,
        };
        let col = listed_target(&env, &t);
        let _ = std::fs::remove_dir_all(&work);
        let why = col.run.unwrap_err();
        assert!(why.contains("probing"), "{why}");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "the started listener is stopped after the run"
        );
    }
}
