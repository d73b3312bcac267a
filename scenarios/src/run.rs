//! The runner: selects scenarios (`--version`, `--only`), probes the target's capabilities, runs
//! the scenarios concurrently with a per-scenario timeout, catches panics, and joins the outcomes
//! with the manifest into per-statement verdicts.

use crate::caps::Capabilities;
use crate::ctx::{self, lock, Ctx, Evidence, TargetInfo};
use crate::fail::FailKind;
use crate::scenario::{Role, Scenario};
use crate::target::{TargetAddr, TargetFile};
use crate::verdict::{self, Outcome, RunMeta, RunReport, ScenarioResult};
use crate::wire;
use raw_client::{build, RawClient};
use spec_manifest::model::section_in;
use spec_manifest::{Manifest, Version};
use std::collections::BTreeMap;
use std::future::Future;
use std::io::IsTerminal;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How a run is set up.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where the broker is.
    pub target: TargetAddr,
    /// What the wire cannot tell (default: empty).
    pub target_file: TargetFile,
    /// Versions to run, in report order.
    pub versions: Vec<Version>,
    /// Filters: statement id, section prefix (`3.1` not matching `3.10`), scenario name or name
    /// prefix (`v5.connect`). Empty: everything.
    pub only: Vec<String>,
    /// Scenarios in flight at once.
    pub jobs: usize,
    /// Overall limit for one scenario; past it the scenario fails with its transcripts.
    pub scenario_timeout: Duration,
    /// Progress on stderr: a bar on a terminal, plain lines otherwise, nothing when false.
    pub progress: bool,
    /// How every connection is dialled: TCP, or TLS for an `mqtts://` target
    /// ([`TargetAddr::connector`]).
    pub connector: raw_client::Connector,
    /// After the run, rerun every failed and lenient scenario alone and record whether it
    /// reproduces ([`crate::verdict::Isolated`]).
    pub isolate_failures: bool,
    /// A shell command run (`sh -c`) before each of those reruns to get a fresh broker; the
    /// rerun waits until the target accepts TCP connections again.
    pub restart_cmd: Option<String>,
    /// A client-role run: the client under test, driven through this adapter against scripted
    /// servers. Only client-role scenarios run, and nothing is probed; `target` is unused.
    /// `None` (the default): a broker run, only server-role scenarios.
    pub client: Option<Arc<dyn crate::adapter::ClientAdapter>>,
}

impl RunOptions {
    /// Defaults for `target`: both versions, no filter, 16 jobs, 15 s per scenario, progress on.
    pub fn new(target: TargetAddr) -> RunOptions {
        RunOptions {
            target,
            target_file: TargetFile::default(),
            versions: Version::ALL.to_vec(),
            only: Vec::new(),
            jobs: 16,
            scenario_timeout: Duration::from_secs(15),
            progress: true,
            connector: raw_client::Connector::Tcp,
            isolate_failures: false,
            restart_cmd: None,
            client: None,
        }
    }

    /// A client-role run against `adapter`'s client (the target address is a placeholder).
    pub fn for_client(adapter: Arc<dyn crate::adapter::ClientAdapter>) -> RunOptions {
        let mut opts = RunOptions::new(TargetAddr {
            host_port: "127.0.0.1:0".into(),
            tls: false,
            ws_path: None,
            quic: false,
        });
        opts.client = Some(adapter);
        opts
    }

    /// Which role the selected scenarios put under test.
    pub fn role(&self) -> Role {
        if self.client.is_some() {
            Role::Client
        } else {
            Role::Server
        }
    }

    /// The name for titles and the report directory: the target file's, else `host_port`.
    pub fn target_name(&self) -> String {
        if let Some(name) = &self.target_file.name {
            return name.clone();
        }
        match &self.client {
            Some(a) => format!("{}-client", a.name()),
            None => self.target.default_name(),
        }
    }
}

/// Why a run could not be made at all (a scenario's failure is not one of these).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A built-in manifest did not load.
    #[error("the {version} manifest does not load: {message}")]
    Manifest {
        /// Which one.
        version: Version,
        /// The loader's error.
        message: String,
    },
    /// An `--only` filter matches no statement, section or scenario.
    #[error(
        "--only {0:?} matches no statement id, section or scenario name of the selected versions"
    )]
    UnknownFilter(String),
    /// The probe connection failed: the target is not there or refuses the version.
    #[error("probing {address} with MQTT {version}: {message}")]
    Probe {
        /// `host:port`.
        address: String,
        /// The version probed.
        version: Version,
        /// What went wrong.
        message: String,
    },
    /// `--jobs 0`.
    #[error("--jobs must be at least 1")]
    NoJobs,
}

/// Loads the built-in manifests of `versions`.
pub fn manifests(versions: &[Version]) -> Result<BTreeMap<Version, Manifest>, RunError> {
    versions
        .iter()
        .map(|&v| {
            Manifest::builtin(v)
                .map(|m| (v, m))
                .map_err(|e| RunError::Manifest {
                    version: v,
                    message: e.to_string(),
                })
        })
        .collect()
}

/// Whether `scenario` matches filter `f` (id, section prefix, or name / name prefix).
pub fn scenario_matches(scenario: &Scenario, manifest: &Manifest, f: &str) -> bool {
    let name = scenario.name();
    if name == f
        || name
            .strip_prefix(f)
            .is_some_and(|rest| rest.starts_with('.'))
    {
        return true;
    }
    scenario.ids().iter().any(|id| match manifest.get(id) {
        Some(s) => statement_matches(s, manifest, f),
        None => *id == f,
    })
}

/// Whether statement `s` matches filter `f` (its id, or its section under prefix `f`).
fn statement_matches(s: &spec_manifest::Statement, manifest: &Manifest, f: &str) -> bool {
    if f.starts_with("MQTT-") {
        return manifest.get(f).is_some_and(|m| m.id == s.id);
    }
    spec_manifest::id::is_dotted_number(f) && section_in(&s.section, f)
}

/// The scenarios and statements a run covers.
#[derive(Debug)]
pub struct Selection {
    /// Scenarios to run, in registration order.
    pub scenarios: Vec<Scenario>,
    /// Per version, the ids of the statements to report, in manifest order.
    pub statements: BTreeMap<Version, Vec<String>>,
}

/// Applies `--version` and `--only` to `all`.
pub fn select(
    all: Vec<Scenario>,
    manifests: &BTreeMap<Version, Manifest>,
    only: &[String],
) -> Result<Selection, RunError> {
    select_role(all, manifests, only, Role::Server)
}

/// [`select`] for the scenarios putting `role` under test.
pub fn select_role(
    all: Vec<Scenario>,
    manifests: &BTreeMap<Version, Manifest>,
    only: &[String],
    role: Role,
) -> Result<Selection, RunError> {
    let mut used = vec![false; only.len()];
    let mut scenarios = Vec::new();
    for s in all {
        let Some(m) = manifests.get(&s.version()) else {
            continue;
        };
        if s.role() != role {
            continue; // a broker run plays the client, a client run plays the server
        }
        let hits: Vec<usize> = (0..only.len())
            .filter(|&i| scenario_matches(&s, m, &only[i]))
            .collect();
        if only.is_empty() || !hits.is_empty() {
            for i in hits {
                used[i] = true;
            }
            scenarios.push(s);
        }
    }
    let mut statements = BTreeMap::new();
    for (&v, m) in manifests {
        let checked: Vec<&str> = scenarios
            .iter()
            .filter(|s| s.version() == v)
            .flat_map(|s| {
                s.ids()
                    .iter()
                    .filter_map(|id| m.get(id).map(|st| st.id.as_str()))
            })
            .collect();
        let ids = m
            .iter()
            .filter(|st| {
                let by_filter: Vec<usize> = (0..only.len())
                    .filter(|&i| statement_matches(st, m, &only[i]))
                    .collect();
                for &i in &by_filter {
                    used[i] = true;
                }
                only.is_empty() || !by_filter.is_empty() || checked.contains(&st.id.as_str())
            })
            .map(|st| st.id.clone())
            .collect();
        statements.insert(v, ids);
    }
    if let Some(i) = used.iter().position(|u| !u) {
        return Err(RunError::UnknownFilter(only[i].clone()));
    }
    Ok(Selection {
        scenarios,
        statements,
    })
}

/// Runs every registered scenario selected by `opts` against the target.
pub async fn run(opts: &RunOptions) -> Result<RunReport, RunError> {
    run_scenarios(crate::all(), opts).await
}

/// Runs the given scenarios (after `opts`' filters) against the target. `run` with a chosen
/// list: tests use it to run a few.
pub async fn run_scenarios(all: Vec<Scenario>, opts: &RunOptions) -> Result<RunReport, RunError> {
    if opts.jobs == 0 {
        return Err(RunError::NoJobs);
    }
    let started = std::time::SystemTime::now();
    let clock = Instant::now();
    let manifests = manifests(&opts.versions)?;
    let selection = select_role(all, &manifests, &opts.only, opts.role())?;

    let mut caps = BTreeMap::new();
    for &v in &opts.versions {
        if opts.client.is_none() && selection.scenarios.iter().any(|s| s.version() == v) {
            caps.insert(v, probe(opts, v).await?);
        }
    }
    let target = Arc::new(TargetInfo {
        host_port: opts.target.host_port.clone(),
        connector: opts.connector.clone(),
        file: opts.target_file.clone(),
        caps: caps.clone(),
        run_token: ctx::run_token(),
        adapter: opts.client.clone(),
    });

    let mut results = execute(&selection.scenarios, &target, opts).await;
    if opts.isolate_failures {
        isolate(&selection.scenarios, &mut results, &target, opts).await;
    }
    let findings = crosstalk_findings(&results);
    let mut statements = selection.statements;
    for f in &findings {
        let ids = statements.entry(f.version).or_default();
        if !ids.iter().any(|i| i == CROSSTALK_ID) {
            ids.push(CROSSTALK_ID.to_string());
        }
    }
    results.extend(findings);
    let meta = RunMeta {
        tool: "mqttref conformance".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        target_name: opts.target_name(),
        target_address: match &opts.client {
            Some(a) => format!(
                "client {}{} (against scripted servers)",
                a.name(),
                a.version().map(|v| format!(" ({v})")).unwrap_or_default()
            ),
            None => opts.target.url(),
        },
        transport: match opts.connector {
            raw_client::Connector::Tcp => "tcp",
            raw_client::Connector::Tls { .. } => "tls",
            raw_client::Connector::Ws { .. } => "ws",
            raw_client::Connector::Wss { .. } => "wss",
            raw_client::Connector::Quic { .. } => "quic",
        }
        .to_owned(),
        started_at: verdict::rfc3339(started),
        duration: clock.elapsed(),
        versions: opts.versions.clone(),
        only: opts.only.clone(),
        jobs: opts.jobs,
        capabilities: caps,
        run_token: target.run_token.clone(),
    };
    Ok(verdict::join(meta, &manifests, &statements, results))
}

/// One probe connection: CONNECT (with the target file's credentials, or through `auth`'s
/// SCRAM exchange) and its CONNACK.
async fn probe_connack(
    opts: &RunOptions,
    version: Version,
    auth: Option<&crate::target::AuthSettings>,
) -> Result<(RawClient, wire::Connack), String> {
    let v5 = version == Version::V5_0;
    let mut raw = RawClient::connect(
        &opts.target.host_port,
        &opts.connector,
        ctx::protocol(version),
        "probe",
    )
    .await
    .map_err(|e| format!("cannot connect: {e}"))?;
    let id = format!("{}probe", ctx::run_token());
    let mut connect = build::Connect::new(ctx::protocol(version), id);
    if let Some(c) = &opts.target_file.credentials {
        if let Some(u) = &c.username {
            connect = connect.username(u);
        }
        if let Some(p) = &c.password {
            connect = connect.password(p);
        }
    }
    let mut scram = None;
    if let Some(a) = auth {
        let mut s = mqttref_client::ScramClient::new(&a.user, &a.password);
        let first = s.client_first()?;
        connect = connect
            .username(&a.user)
            .property(build::prop::authentication_method(&a.method))
            .property(build::prop::authentication_data(first));
        scram = Some((s, a));
    }
    raw.send_bytes(&connect.build())
        .await
        .map_err(|e| e.to_string())?;
    let mut got = raw
        .recv(Duration::from_secs(5))
        .await
        .map_err(|e| format!("no CONNACK: {e}"))?;
    if let (Some((s, a)), Ok(challenge)) = (&mut scram, wire::auth(&got.bytes)) {
        let server_first = challenge
            .property_bytes(build::prop::AUTHENTICATION_DATA)
            .unwrap_or_default();
        let fin = s
            .client_final(server_first)
            .map_err(|e| format!("[auth] exchange: {e}"))?;
        let answer = build::Auth::v5()
            .reason(0x18)
            .property(build::prop::authentication_method(&a.method))
            .property(build::prop::authentication_data(fin))
            .build();
        raw.send_bytes(&answer).await.map_err(|e| e.to_string())?;
        got = raw
            .recv(Duration::from_secs(5))
            .await
            .map_err(|e| format!("no CONNACK after the [auth] exchange: {e}"))?;
    }
    let ack = wire::connack(&got.bytes, v5)
        .map_err(|e| format!("{}: {e}", wire::describe(&got.bytes)))?;
    Ok((raw, ack))
}

/// Connects once per version with a plain CONNECT to learn what the target announces. A 5.0
/// target that refuses it with 0x86, 0x87 or 0x8C while the target file names an `[auth]`
/// method is probed again through that method's exchange (a broker that admits only
/// enhanced authentication: the scenarios that connect without it will then be refused).
async fn probe(opts: &RunOptions, version: Version) -> Result<Capabilities, RunError> {
    let err = |message: String| RunError::Probe {
        address: opts.target.host_port.clone(),
        version,
        message,
    };
    let v5 = version == Version::V5_0;
    let (mut raw, mut ack) = probe_connack(opts, version, None).await.map_err(err)?;
    if let (true, Some(a), 0x86 | 0x87 | 0x8C) = (v5, &opts.target_file.auth, ack.code) {
        raw.close().await;
        (raw, ack) = probe_connack(opts, version, Some(a)).await.map_err(err)?;
    }
    if ack.code != 0 {
        return Err(err(format!(
            "CONNACK refused the connection with code 0x{:02X} ({}){}",
            ack.code,
            if v5 {
                wire::reason_name(ack.code)
            } else {
                wire::return_code_name(ack.code)
            },
            if opts.target_file.credentials.is_none() {
                "; give credentials in a target file"
            } else {
                ""
            }
        )));
    }
    let _ = raw
        .send_bytes(&build::Disconnect::new(ctx::protocol(version)).build())
        .await;
    raw.close().await;

    let mut caps = Capabilities::default();
    for (id, p) in &ack.properties {
        if let wire::Prop::Int(v) = p {
            caps.apply_connack_property(*id, *v);
        }
    }
    caps.apply_overrides(&opts.target_file.capabilities);
    caps.refused_topic = opts.target_file.refused_topic.clone();
    caps.credentials = opts.target_file.credentials.is_some();
    caps.enhanced_auth = opts.target_file.auth.is_some();
    caps.websocket = matches!(
        opts.connector,
        raw_client::Connector::Ws { .. } | raw_client::Connector::Wss { .. }
    );
    Ok(caps)
}

/// Progress output: a bar on a terminal, plain lines otherwise.
enum Progress {
    Off,
    Lines { total: usize, done: usize },
    Bar(indicatif::ProgressBar),
}

impl Progress {
    fn new(enabled: bool, total: usize) -> Progress {
        if !enabled {
            Progress::Off
        } else if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}",
            ) {
                bar.set_style(style);
            }
            Progress::Bar(bar)
        } else {
            Progress::Lines { total, done: 0 }
        }
    }

    fn finished(&mut self, r: &ScenarioResult) {
        match self {
            Progress::Off => {}
            Progress::Lines { total, done } => {
                *done += 1;
                eprintln!(
                    "[{done}/{total}] {:<8} {} ({} ms)",
                    r.outcome.as_str(),
                    r.name,
                    r.duration.as_millis()
                );
            }
            Progress::Bar(bar) => {
                if matches!(
                    r.outcome,
                    Outcome::Fail | Outcome::Error | Outcome::Blocked | Outcome::Lenient
                ) {
                    bar.println(format!("{:<8} {}", r.outcome.as_str(), r.name));
                }
                bar.set_message(r.name.clone());
                bar.inc(1);
            }
        }
    }

    fn done(self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

async fn execute(
    scenarios: &[Scenario],
    target: &Arc<TargetInfo>,
    opts: &RunOptions,
) -> Vec<ScenarioResult> {
    let semaphore = Arc::new(Semaphore::new(opts.jobs));
    let jobs = u32::try_from(opts.jobs).unwrap_or(u32::MAX);
    let mut set = JoinSet::new();
    let mut index_of = BTreeMap::new();
    // The semaphore is fair (first come, first served), so the exclusive scenarios, queued last
    // and each taking every permit, run one at a time once all the others are done.
    let order = scenarios
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_exclusive())
        .chain(
            scenarios
                .iter()
                .enumerate()
                .filter(|(_, s)| s.is_exclusive()),
        );
    for (seq, s) in order {
        let (s, target, semaphore) = (s.clone(), target.clone(), semaphore.clone());
        let timeout = opts.scenario_timeout;
        let permits = if s.is_exclusive() { jobs } else { 1 };
        let handle = set.spawn(async move {
            let _permit = semaphore.acquire_many_owned(permits).await;
            run_one(&s, target, seq, timeout).await
        });
        index_of.insert(handle.id(), seq);
    }
    let mut results: Vec<Option<ScenarioResult>> = vec![None; scenarios.len()];
    let mut progress = Progress::new(opts.progress, scenarios.len());
    while let Some(joined) = set.join_next_with_id().await {
        let (seq, result) = match joined {
            Ok((id, r)) => (index_of[&id], r),
            Err(e) => {
                let seq = index_of[&e.id()];
                (
                    seq,
                    runner_error(
                        &scenarios[seq],
                        format!("the scenario task ended abnormally: {e}"),
                    ),
                )
            }
        };
        progress.finished(&result);
        results[seq] = Some(result);
    }
    progress.done();
    results.into_iter().flatten().collect()
}

/// Reruns every failed, errored or lenient scenario alone, one at a time, each with a fresh run
/// token (new client ids and topics, so that what the first run left behind is foreign to it),
/// after the restart command if there is one. Records the rerun in
/// [`ScenarioResult::isolated`]; the first outcome, and so the verdict, stays.
async fn isolate(
    scenarios: &[Scenario],
    results: &mut [ScenarioResult],
    target: &Arc<TargetInfo>,
    opts: &RunOptions,
) {
    let restart = opts
        .restart_cmd
        .clone()
        .or_else(|| opts.target_file.restart.clone());
    for (seq, s) in scenarios.iter().enumerate() {
        let Some(first) = results.get(seq).filter(|r| r.has_evidence()) else {
            continue;
        };
        let first = first.outcome;
        if let Some(cmd) = &restart {
            if let Err(why) = restart_target(cmd, &opts.target.host_port).await {
                results[seq]
                    .notes
                    .push(format!("not rerun alone: the restart command {why}"));
                continue;
            }
        }
        let fresh = Arc::new(TargetInfo {
            host_port: target.host_port.clone(),
            connector: target.connector.clone(),
            file: target.file.clone(),
            caps: target.caps.clone(),
            run_token: ctx::run_token(),
            adapter: target.adapter.clone(),
        });
        let rerun = run_one(s, fresh, seq, opts.scenario_timeout).await;
        let isolated = verdict::Isolated::of(first, &rerun);
        if opts.progress {
            eprintln!("isolated {}: {}", s.name(), isolated.line());
        }
        results[seq].isolated = Some(isolated);
    }
}

/// How long a restarted target may take to accept connections again.
const RESTART_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs `cmd` with `sh -c`, then waits until `host_port` accepts a TCP connection.
async fn restart_target(cmd: &str, host_port: &str) -> Result<(), String> {
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .await
        .map_err(|e| format!("`{cmd}` did not start: {e}"))?;
    if !status.success() {
        return Err(format!("`{cmd}` failed: {status}"));
    }
    let deadline = Instant::now() + RESTART_TIMEOUT;
    loop {
        if tokio::net::TcpStream::connect(host_port).await.is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "`{cmd}` ran, but {host_port} did not accept connections within {} s",
                RESTART_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn runner_error(s: &Scenario, message: String) -> ScenarioResult {
    let mut r = ScenarioResult::new(s);
    r.outcome = Outcome::Error;
    r.expected = Some("the scenario to run to completion".into());
    r.got = Some(message);
    r
}

/// Runs one scenario: capability check, body under timeout and panic guard, retained cleanup.
pub(crate) async fn run_one(
    s: &Scenario,
    target: Arc<TargetInfo>,
    seq: usize,
    timeout: Duration,
) -> ScenarioResult {
    let mut result = ScenarioResult::new(s);
    let caps = target.caps.get(&s.version()).cloned().unwrap_or_default();
    let missing: Vec<String> = s
        .needs_list()
        .iter()
        .filter_map(|&n| caps.check(n).err())
        .collect();
    if !missing.is_empty() {
        result.outcome = Outcome::Skipped;
        result.skip_reason = Some(missing.join("; "));
        return result;
    }
    let mut ctx = Ctx::new(target, s.version(), seq);
    let start = Instant::now();
    let ended = {
        let body = CatchUnwind(s.start(&mut ctx));
        tokio::time::timeout(timeout, body).await
        // The body is dropped here, and with it every client: their transcripts are filed.
    };
    result.duration = start.elapsed();
    match ended {
        Ok(Ok(Ok(()))) => result.outcome = Outcome::Pass,
        Ok(Ok(Err(fail))) => match fail.kind {
            FailKind::Failed { expected, got } => {
                result.outcome = if s.is_lenient_receiver() {
                    Outcome::Lenient
                } else {
                    Outcome::Fail
                };
                result.expected = Some(expected);
                result.got = Some(got);
            }
            FailKind::Skipped { reason } => {
                result.outcome = Outcome::Skipped;
                result.skip_reason = Some(reason);
            }
            // A setup step that breaks one of the scenario's own statements is that statement's
            // failure, not a block: the scenario checks it.
            FailKind::Blocked {
                expected,
                got,
                statement,
            } if statement.as_deref().is_some_and(|id| s.ids().contains(&id)) => {
                result.outcome = Outcome::Fail;
                result.expected = Some(expected);
                result.got = Some(got);
            }
            FailKind::Blocked {
                expected,
                got,
                statement,
            } => {
                result.outcome = Outcome::Blocked;
                result.blocked = Some(format!("setup step: expected {expected}; got {got}"));
                result.blocked_by = statement;
            }
        },
        Ok(Err(panic)) => {
            result.outcome = Outcome::Error;
            result.expected = Some("the scenario to run to completion".into());
            result.got = Some(format!("the scenario panicked: {panic}"));
        }
        Err(_) => {
            result.outcome = Outcome::Fail;
            result.expected = Some(format!(
                "the scenario to complete within {} s",
                timeout.as_secs_f32()
            ));
            result.got = Some("it was still waiting (see the transcripts)".into());
        }
    }
    match tokio::time::timeout(CLEANUP_TIMEOUT, ctx.clear_retained()).await {
        Ok(Ok(())) => {}
        Ok(Err(f)) => {
            result.cleanup_failed = Some(format!("expected {}; got {}", f.expected(), f.got()))
        }
        Err(_) => {
            result.cleanup_failed = Some(format!("not done within {} s", CLEANUP_TIMEOUT.as_secs()))
        }
    }
    result.foreign = std::mem::take(&mut *lock(&ctx.record.foreign));
    result.contaminated = !result.foreign.is_empty();
    result.choices = std::mem::take(&mut *lock(&ctx.record.choices));
    let evidence: Vec<Evidence> = std::mem::take(&mut *lock(&ctx.record.evidence));
    result.evidence = evidence;
    result
}

/// How long the retained-message cleanup of one scenario may take, retries included.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The id of the statement cross-talk breaks (the same in 5.0 and 3.1.1): the Topic Name of a
/// PUBLISH the server sends a client matches one of that client's subscriptions.
pub const CROSSTALK_ID: &str = "MQTT-3.3.2-3";

/// One finding per version for every foreign PUBLISH the scenarios of that version received:
/// one root cause (the broker's shared state), reported once against [`CROSSTALK_ID`], with
/// the transcripts of the first contaminated scenario as evidence.
pub(crate) fn crosstalk_findings(results: &[ScenarioResult]) -> Vec<ScenarioResult> {
    let mut out = Vec::new();
    for v in Version::ALL {
        let hit: Vec<&ScenarioResult> = results
            .iter()
            .filter(|r| r.version == v && r.contaminated)
            .collect();
        let Some(first) = hit.first() else { continue };
        let total: usize = hit.iter().map(|r| r.foreign.len()).sum();
        let examples: Vec<String> = hit
            .iter()
            .flat_map(|r| r.foreign.iter().map(move |f| (r, f)))
            .take(5)
            .map(|(r, f)| format!("{:?} to `{}` of {}", f.topic, f.client, r.name))
            .collect();
        let prefix = if v == Version::V5_0 { "v5" } else { "v311" };
        out.push(ScenarioResult {
            name: format!("{prefix}.crosstalk.foreign_publish"),
            version: v,
            ids: vec![CROSSTALK_ID.to_string()],
            outcome: Outcome::Fail,
            duration: Duration::ZERO,
            choices: Vec::new(),
            expected: Some(
                "only PUBLISHes whose topic matches a subscription of the receiving client (each \
                 scenario has its own topics and client ids)"
                    .into(),
            ),
            got: Some(format!(
                "{total} PUBLISH(es) matching no subscription of the receiving scenario reached \
                 {} scenario(s) (marked contaminated; the PUBLISHes were acknowledged and set \
                 aside): {}{}",
                hit.len(),
                examples.join("; "),
                if total > examples.len() { "; ..." } else { "" }
            )),
            skip_reason: None,
            blocked: None,
            blocked_by: None,
            notes: hit
                .iter()
                .map(|r| format!("contaminated: {}", r.name))
                .collect(),
            cleanup_failed: None,
            contaminated: false,
            foreign: Vec::new(),
            isolated: None,
            evidence: first.evidence.clone(),
        });
    }
    out
}

/// Polls a future, turning a panic into `Err(message)`.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string panic payload".into());
                Poll::Ready(Err(msg))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ctx, Fail};

    async fn nothing(_: &mut Ctx) -> Result<(), Fail> {
        Ok(())
    }

    /// A small registry of the tests' own, so that the real one can grow or shrink freely:
    /// per version a CONNECT (3.1), an UNSUBSCRIBE (3.10) and a PINGREQ (3.12) scenario, and a
    /// second CONNECT scenario in 5.0.
    fn registry() -> Vec<Scenario> {
        let mut all = Vec::new();
        for (v, names) in [
            (
                Version::V5_0,
                [
                    "v5.connect.clean_start",
                    "v5.unsubscribe.removes",
                    "v5.pingreq.gets_pingresp",
                ],
            ),
            (
                Version::V3_1_1,
                [
                    "v311.connect.clean_session",
                    "v311.unsubscribe.removes",
                    "v311.pingreq.gets_pingresp",
                ],
            ),
        ] {
            all.push(Scenario::server(v, names[0], &["MQTT-3.1.2-3"], nothing));
            all.push(Scenario::server(v, names[1], &["MQTT-3.10.4-1"], nothing));
            all.push(Scenario::server(v, names[2], &["MQTT-3.12.4-1"], nothing));
        }
        all.push(Scenario::server(
            Version::V5_0,
            "v5.connect.second",
            &["MQTT-3.1.2-3"],
            nothing,
        ));
        all
    }

    fn selection(versions: &[Version], only: &[&str]) -> Result<Selection, RunError> {
        let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
        select(registry(), &manifests(versions).unwrap(), &only)
    }

    fn names(s: &Selection) -> Vec<&'static str> {
        s.scenarios.iter().map(Scenario::name).collect()
    }

    #[test]
    fn no_filter_selects_every_statement_and_scenario_of_the_versions() {
        let s = selection(&[Version::V5_0], &[]).unwrap();
        assert_eq!(s.statements[&Version::V5_0].len(), 251);
        assert_eq!(
            names(&s),
            [
                "v5.connect.clean_start",
                "v5.unsubscribe.removes",
                "v5.pingreq.gets_pingresp",
                "v5.connect.second"
            ]
        );
    }

    #[test]
    fn the_real_registry_selects_by_version() {
        let all = crate::all();
        let s = select(all, &manifests(&[Version::V5_0]).unwrap(), &[]).unwrap();
        assert!(s.scenarios.iter().all(|s| s.version() == Version::V5_0));
        assert_eq!(
            s.scenarios.len(),
            crate::all()
                .iter()
                .filter(|s| s.version() == Version::V5_0 && s.role() == Role::Server)
                .count()
        );
        let c = select_role(
            crate::all(),
            &manifests(&Version::ALL).unwrap(),
            &[],
            Role::Client,
        )
        .unwrap();
        assert!(!c.scenarios.is_empty());
        assert!(c.scenarios.iter().all(|s| s.role() == Role::Client));
    }

    /// The lenient-receiver license is 5.0 section 4.13.1's; 3.1.1 has none.
    #[test]
    fn lenient_receivers_are_5_0_scenarios() {
        for s in crate::all().iter().filter(|s| s.is_lenient_receiver()) {
            assert_eq!(s.version(), Version::V5_0, "{}", s.name());
        }
        assert!(crate::all().iter().any(Scenario::is_lenient_receiver));
    }

    #[test]
    fn section_filter_respects_component_boundaries() {
        let s = selection(&Version::ALL, &["3.1"]).unwrap();
        for ids in s.statements.values() {
            assert!(ids.contains(&"MQTT-3.1.2-3".to_string()));
            assert!(
                !ids.iter()
                    .any(|id| id.starts_with("MQTT-3.10.") || id.starts_with("MQTT-3.12.")),
                "{ids:?}"
            );
        }
        assert_eq!(
            names(&s),
            [
                "v5.connect.clean_start",
                "v311.connect.clean_session",
                "v5.connect.second"
            ]
        );
    }

    #[test]
    fn id_and_name_filters() {
        let s = selection(&Version::ALL, &["MQTT-3.12.4-1"]).unwrap();
        assert_eq!(s.statements[&Version::V5_0], ["MQTT-3.12.4-1"]);
        assert_eq!(s.statements[&Version::V3_1_1], ["MQTT-3.12.4-1"]);
        assert_eq!(
            names(&s),
            ["v5.pingreq.gets_pingresp", "v311.pingreq.gets_pingresp"],
            "one per version"
        );

        let s = selection(&Version::ALL, &["v5.connect"]).unwrap();
        assert_eq!(names(&s), ["v5.connect.clean_start", "v5.connect.second"]);
        assert_eq!(s.statements[&Version::V5_0], ["MQTT-3.1.2-3"]);
        assert!(s.statements[&Version::V3_1_1].is_empty());

        let s = selection(&Version::ALL, &["v5.connect.second"]).unwrap();
        assert_eq!(names(&s), ["v5.connect.second"]);
        // A name prefix matches whole components only.
        assert!(
            matches!(selection(&Version::ALL, &["v5.conn"]), Err(RunError::UnknownFilter(f)) if f == "v5.conn")
        );
    }

    #[test]
    fn unknown_filters_are_errors() {
        for f in ["MQTT-9.9.9-9", "3.99", "nothing"] {
            let e = selection(&Version::ALL, &["3.1", f]).unwrap_err();
            assert_eq!(e.to_string(), format!("--only \"{f}\" matches no statement id, section or scenario name of the selected versions"));
        }
    }
}
