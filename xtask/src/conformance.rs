//! `cargo xtask conformance`: runs the conformance scenarios against a broker and writes
//! `report.json`, `report.xml`, `report.md`, `report.html` and `verdicts.json`; compares with a
//! baseline.
//!
//! Exit codes: 0 no selected statement fails (or `--report-only`; a `lenient` statement, a
//! broker accepting a packet the client must not send, is reported but does not fail the run);
//! 1 a statement fails or the
//! verdicts differ from `--baseline`; 2 bad arguments or the target cannot be probed. Without
//! `--target` the reference broker is started in-process.

use anyhow::Context as _;
use clap::Args as ClapArgs;
use scenarios::report::{self, Verdicts};
use scenarios::run::RunOptions;
use scenarios::target::{TargetAddr, TargetFile};
use scenarios::{Verdict, Version};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Arguments of `cargo xtask conformance`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The broker under test, `mqtt://host:port`, `mqtts://host:port` (TLS: with --cafile or
    /// --insecure), `ws://host:port/path` (WebSocket, subprotocol mqtt) or
    /// `wss://host:port/path` (WebSocket over TLS: with --cafile or --insecure) or
    /// `quic://host:port` (QUIC, ALPN mqtt, one stream per connection: with --cafile or
    /// --insecure). Without it (and
    /// without `target` in the target file) the reference broker is started in this process on
    /// a free loopback port.
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// For an mqtts://, wss:// or quic:// target: the CA certificates (PEM) its certificate must chain to
    /// (overrides `cafile` under `[tls]` in the target file).
    #[arg(long, value_name = "FILE.pem")]
    cafile: Option<PathBuf>,
    /// For an mqtts://, wss:// or quic:// target: accept any server certificate. Testing only: it checks nothing
    /// about who the server is.
    #[arg(long, conflicts_with = "cafile")]
    insecure: bool,
    /// Without --target: the transport of the in-process reference broker and of the
    /// scenarios' connections. `tls`, `wss` and `quic` use a throwaway CA and server
    /// certificate generated for the run.
    #[arg(long, value_enum, default_value_t = InProcessTransport::Tcp, conflicts_with = "target")]
    transport: InProcessTransport,
    /// A TOML file with the target's name, credentials, capability overrides, limits and a
    /// refused topic (see `scenarios/src/target.rs`).
    #[arg(long, value_name = "FILE")]
    target_file: Option<PathBuf>,
    /// Which protocol version(s) to run: `5.0`, `3.1.1` or `all`.
    #[arg(long, value_name = "VERSION", default_value = "all", value_parser = parse_versions)]
    version: Versions,
    /// Run only what matches: a statement id (`MQTT-3.1.2-3`), a section prefix (`3.1` matches
    /// `3.1.2` but not `3.10`), or a scenario name or name prefix (`v5.connect`). Repeatable.
    #[arg(long, value_name = "ID|SECTION|SCENARIO")]
    only: Vec<String>,
    /// How many scenarios run at once [default: 16; with --client, twice the cores: each job
    /// starts a client process, and more than the machine can start at once turns the
    /// scripted server's connection wait into a measure of the machine, not of the client].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Overall time limit of one scenario, in seconds; past it the scenario fails.
    #[arg(long, value_name = "SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    scenario_timeout: u64,
    /// Where to write the reports (default: reports/<target-name>/ in the workspace).
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// Exit 0 even when statements fail (the reports still say so).
    #[arg(long)]
    report_only: bool,
    /// Compare the verdicts with DIR/verdicts.json; print every change; exit 1 on any.
    #[arg(long, value_name = "DIR")]
    baseline: Option<PathBuf>,
    /// Write the new verdicts.json into the --baseline DIR instead of comparing.
    #[arg(long, requires = "baseline")]
    bless: bool,
    /// After the run, rerun every failed and lenient scenario alone against the same target and
    /// report whether it reproduces (a failure that does not is evidence of a cascade or of
    /// flakiness; its verdict is not changed).
    #[arg(long)]
    isolate_failures: bool,
    /// With --isolate-failures: a shell command that restarts the broker, run before each rerun
    /// (overrides `restart` in the target file); the rerun waits for the port to accept
    /// connections again.
    #[arg(long, value_name = "CMD", requires = "isolate_failures")]
    restart_cmd: Option<String>,
    /// Test a client instead of a broker: run the client-role scenarios against it, each with
    /// a scripted server. A built-in adapter (`mqttref`: the reference client in process;
    /// `mosquitto`: mosquitto_pub/mosquitto_sub; `paho`: paho-mqtt for Python; `mqttjs`:
    /// MQTT.js, the last two installed beside their scripts) or the path of an adapter file (see
    /// scenarios/CLIENTS.md). Reports go to reports/<name>-client/ unless --report-dir says.
    #[arg(long, value_name = "NAME|PATH", conflicts_with_all = ["target", "cafile", "insecure", "isolate_failures"])]
    client: Option<String>,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
}

/// The transports of `--transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum InProcessTransport {
    /// `mqtt://`.
    Tcp,
    /// `mqtts://`.
    Tls,
    /// `ws://`.
    Ws,
    /// `wss://`.
    Wss,
    /// `quic://`.
    Quic,
}

#[derive(Debug, Clone)]
struct Versions(Vec<Version>);

fn parse_versions(s: &str) -> Result<Versions, String> {
    if s == "all" {
        return Ok(Versions(Version::ALL.to_vec()));
    }
    s.parse::<Version>()
        .map(|v| Versions(vec![v]))
        .map_err(|_| format!("`{s}` is not a version: use 5.0, 3.1.1 or all"))
}

/// Runs the command and exits with its code (see the module doc).
pub fn main(args: Args) -> anyhow::Result<()> {
    let code = run(args)?;
    if code != 0 {
        std::process::exit(i32::from(code));
    }
    Ok(())
}

/// Runs the command; the result is the exit code.
fn run(args: Args) -> anyhow::Result<u8> {
    let target_file = match &args.target_file {
        Some(path) => match TargetFile::load(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(2);
            }
        },
        None => TargetFile::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if let Some(client) = &args.client {
        let adapter = match scenarios::adapter::resolve(client) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("error: --client: {e}");
                return Ok(2);
            }
        };
        let mut opts = RunOptions::for_client(adapter);
        opts.target_file = target_file;
        return finish(&args, opts, &runtime, None);
    }
    let mut target_file = target_file;
    // Without a target, the reference broker runs in this process on a free loopback port.
    let (url, in_process) = match args.target.clone().or_else(|| target_file.target.clone()) {
        Some(url) => (url, None),
        None => {
            let broker = runtime
                .block_on(reference::start(args.transport))
                .context("starting the in-process reference broker")?;
            if let Some(ca) = &broker.cafile {
                // Trust the run's own CA, under the name its certificate carries.
                target_file.tls.cafile = Some(ca.clone());
                target_file.tls.insecure = false;
                target_file.tls.server_name = Some(reference::SERVER_NAME.to_owned());
            }
            if target_file.name.is_none() {
                target_file.name = Some(reference::NAME.to_string());
            }
            if target_file.refused_topic.is_none() {
                target_file.refused_topic = Some(reference::REFUSED_TOPIC.to_string());
            }
            if target_file.auth.is_none() {
                // The in-process broker offers SCRAM-SHA-256: the enhanced-auth scenarios run.
                target_file.auth = Some(reference::auth());
            }
            eprintln!(
                "no --target: testing the in-process reference broker on {}",
                broker.url
            );
            (broker.url.clone(), Some(broker))
        }
    };
    let target = match TargetAddr::parse(&url) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: --target: {e}");
            return Ok(2);
        }
    };

    let mut tls = target_file.tls.clone();
    if let Some(ca) = &args.cafile {
        tls.cafile = Some(ca.clone());
        tls.insecure = false;
    }
    if args.insecure {
        tls.cafile = None;
        tls.insecure = true;
    }
    let connector = match target.connector(&tls) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let mut opts = RunOptions::new(target);
    opts.connector = connector;
    opts.target_file = target_file;
    finish(&args, opts, &runtime, in_process)
}

/// Runs with `opts` (completed from `args`), writes the reports, prints the summary, compares
/// with the baseline; the result is the exit code.
fn finish(
    args: &Args,
    mut opts: RunOptions,
    runtime: &tokio::runtime::Runtime,
    in_process: Option<reference::Running>,
) -> anyhow::Result<u8> {
    opts.versions = args.version.0.clone();
    opts.only = args.only.clone();
    opts.jobs = match (args.jobs, &args.client) {
        (Some(jobs), _) => usize::from(jobs),
        (None, None) => 16,
        (None, Some(_)) => std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
    };
    opts.scenario_timeout = Duration::from_secs(args.scenario_timeout);
    opts.progress = !args.quiet;
    opts.isolate_failures = args.isolate_failures;
    opts.restart_cmd = args.restart_cmd.clone();
    let report_dir = args.report_dir.clone().unwrap_or_else(|| {
        crate::workspace_root()
            .join("reports")
            .join(opts.target_name())
    });

    // Read the baseline before the run writes anything: the report directory may be the
    // baseline directory itself.
    let baseline = match (&args.baseline, args.bless) {
        (Some(dir), false) => {
            let unstable = report::Unstable::load(dir).map_err(anyhow::Error::msg)?;
            Some((load_baseline(dir)?, unstable))
        }
        _ => None,
    };
    let report = match runtime.block_on(scenarios::run(&opts)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let transport = report.meta.transport.clone();
    if let Some(broker) = in_process {
        runtime.block_on(broker.stop());
    }
    let written = report::write_all(&report, &report_dir)
        .with_context(|| format!("writing the reports into {}", report_dir.display()))?;

    // Summary.
    for &v in &opts.versions {
        let c = report.counts(Some(v));
        if c.values().sum::<usize>() == 0 {
            continue;
        }
        let parts: Vec<String> = Verdict::ALL
            .iter()
            .map(|verdict| format!("{} {}", c[verdict], verdict.as_str()))
            .collect();
        println!("MQTT {v}: {}", parts.join(", "));
    }
    println!(
        "{}; {} finding(s) (one per root cause)",
        report.violations_line(None),
        report.findings.len()
    );
    if let Some(line) = report.isolation_line() {
        println!("{line} (rerun alone with --isolate-failures)");
    }
    for f in &report.findings {
        println!(
            "FINDING {} {} ({} scenario(s): {}): {}",
            f.id,
            f.outcome.as_str(),
            f.scenarios.len(),
            f.scenarios.join(", "),
            f.summary
        );
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    for r in report
        .scenarios
        .iter()
        .filter(|r| r.outcome == scenarios::Outcome::Blocked)
    {
        println!(
            "BLOCKED {} ({}): {}",
            r.name,
            r.ids.join(", "),
            r.blocked_cause().unwrap_or_default()
        );
    }
    for r in report
        .scenarios
        .iter()
        .filter(|r| r.outcome == scenarios::Outcome::Lenient)
    {
        println!(
            "LENIENT {} ({}): expected {}; got {}{}",
            r.name,
            r.ids.join(", "),
            r.expected.as_deref().unwrap_or(""),
            r.got.as_deref().unwrap_or(""),
            alone(r)
        );
    }
    let scenario_failures: Vec<_> = report.scenarios.iter().filter(|r| r.failed()).collect();
    for r in &scenario_failures {
        println!(
            "FAIL {} ({}): expected {}; got {}{}",
            r.name,
            r.ids.join(", "),
            r.expected.as_deref().unwrap_or(""),
            r.got.as_deref().unwrap_or(""),
            alone(r)
        );
    }
    println!(
        "{} scenarios over {transport} in {:.2} s; reports: {}",
        report.scenarios.len(),
        report.meta.duration.as_secs_f64(),
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let mut code = 0;
    if let Some(dir) = &args.baseline {
        let verdicts = Verdicts::of(&report);
        match &baseline {
            None => bless(dir, &verdicts)?,
            Some((old, unstable)) => {
                if !compare_with_baseline(dir, old, unstable, &verdicts) {
                    code = 1;
                }
            }
        }
    }
    if report.any_failed() && !args.report_only {
        code = 1;
    }
    Ok(code)
}

/// ` [reproduces alone (fail)]` after a failure that was rerun alone; empty otherwise.
fn alone(r: &scenarios::verdict::ScenarioResult) -> String {
    r.isolated
        .as_ref()
        .map(|i| format!(" [{}]", i.line()))
        .unwrap_or_default()
}

pub(crate) fn bless(dir: &Path, verdicts: &Verdicts) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("verdicts.json");
    std::fs::write(&path, verdicts.to_json())
        .with_context(|| format!("writing {}", path.display()))?;
    println!("baseline written: {}", path.display());
    Ok(())
}

/// Reads `dir/verdicts.json`.
pub(crate) fn load_baseline(dir: &Path) -> anyhow::Result<Verdicts> {
    let path = dir.join("verdicts.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading the baseline {} (create it with --bless)",
            path.display()
        )
    })?;
    Verdicts::from_json(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Prints every change against the baseline read from `dir`; true when there is none, or
/// when every change is of a scenario the baseline lists as unstable (`unstable.toml`).
pub(crate) fn compare_with_baseline(
    dir: &Path,
    baseline: &Verdicts,
    unstable: &report::Unstable,
    verdicts: &Verdicts,
) -> bool {
    let path = dir.join("verdicts.json");
    let changes = report::compare(baseline, verdicts);
    if changes.is_empty() {
        println!("baseline {}: no change", path.display());
        return true;
    }
    let mut breaking = 0;
    println!("baseline {}: {} change(s)", path.display(), changes.len());
    for c in &changes {
        match unstable.tolerates(c) {
            Some(reason) => println!("  {c} (listed as unstable: {reason})"),
            None => {
                breaking += 1;
                println!("  {c}");
            }
        }
    }
    if breaking == 0 {
        println!("baseline: every change is of a scenario listed as unstable");
    }
    breaking == 0
}

/// The reference broker, started in-process when no target is given.
pub(crate) mod reference {
    use std::path::PathBuf;

    use mqttref_broker::scram::ScramFile;
    use mqttref_broker::{Broker, BrokerConfig};
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::InProcessTransport;

    /// The name the throwaway server certificate carries (and the scenarios check).
    pub const SERVER_NAME: &str = "localhost";

    /// The report name (`reports/mqttref/`).
    pub const NAME: &str = "mqttref";
    /// A topic space the in-process broker refuses (0x87), so the scenarios that need a refused
    /// topic run against it too.
    pub const REFUSED_TOPIC: &str = "mqttconf-refused/topic";
    /// The SCRAM-SHA-256 user of the in-process broker (anonymous clients are let in too, so
    /// every other scenario runs as before).
    pub const SCRAM_USER: &str = "conformance";
    /// Its password.
    pub const SCRAM_PASSWORD: &str = "conformance-scram";

    /// The target file's `[auth]` for the in-process broker.
    pub fn auth() -> scenarios::target::AuthSettings {
        scenarios::target::AuthSettings {
            method: "SCRAM-SHA-256".into(),
            user: SCRAM_USER.into(),
            password: SCRAM_PASSWORD.into(),
        }
    }

    pub struct Running {
        pub url: String,
        /// The throwaway CA of a `tls`, `wss` or `quic` run.
        pub cafile: Option<PathBuf>,
        /// Where the throwaway certificates and the SCRAM file are (removed by
        /// [`Running::stop`]).
        dir: PathBuf,
        stop: oneshot::Sender<()>,
        task: JoinHandle<std::io::Result<()>>,
    }

    /// A CA and a server certificate for [`SERVER_NAME`] in a fresh temp dir: (dir, CA file,
    /// certificate file, key file).
    fn throwaway_pki(dir: &std::path::Path) -> anyhow::Result<(PathBuf, PathBuf, PathBuf)> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "mqttref conformance throwaway CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(vec![SERVER_NAME.to_owned()])?.signed_by(&key, &ca)?;
        let write = |file: &str, text: String| -> anyhow::Result<PathBuf> {
            let p = dir.join(file);
            std::fs::write(&p, text)?;
            Ok(p)
        };
        let ca_file = write("ca.pem", ca.pem())?;
        let cert_file = write("server.pem", cert.pem())?;
        let key_file = write("server.key", key.serialize_pem())?;
        Ok((ca_file, cert_file, key_file))
    }

    /// Binds a free loopback port with a listener of `transport` and serves on it until
    /// [`Running::stop`].
    pub async fn start(transport: InProcessTransport) -> anyhow::Result<Running> {
        let listen = match transport {
            InProcessTransport::Tcp => "mqtt://127.0.0.1:0",
            InProcessTransport::Tls => "mqtts://127.0.0.1:0",
            InProcessTransport::Ws => "ws://127.0.0.1:0/mqtt",
            InProcessTransport::Wss => "wss://127.0.0.1:0/mqtt",
            InProcessTransport::Quic => "quic://127.0.0.1:0",
        };
        let mut config = BrokerConfig {
            listen: vec![listen.into()],
            ..BrokerConfig::default()
        };
        let dir = std::env::temp_dir().join(format!(
            "mqttref-conformance-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir)?;
        let mut cafile = None;
        if matches!(
            transport,
            InProcessTransport::Tls | InProcessTransport::Wss | InProcessTransport::Quic
        ) {
            let (ca, cert, key) = throwaway_pki(&dir)?;
            config.cert = Some(cert);
            config.key = Some(key);
            cafile = Some(ca);
        }
        // SCRAM-SHA-256 for the enhanced-auth scenarios; 4096 iterations (RFC 7677's floor)
        // keep each exchange cheap.
        let mut scram = ScramFile::default();
        scram
            .set(SCRAM_USER, SCRAM_PASSWORD, 4096)
            .map_err(anyhow::Error::msg)?;
        let scram_file = dir.join("scram");
        scram.save(&scram_file)?;
        config.scram_file = Some(scram_file);
        config.allow_anonymous = Some(true);
        // Every scenario connects from 127.0.0.1, and several are refused on purpose (a
        // wrong SCRAM proof, an unknown method): the per-address login limit would shut the
        // suite out of its own broker.
        config.max_login_failures_per_address = 0;
        config.engine.denied_topics = vec!["mqttconf-refused/#".into()];
        let broker = Broker::bind(config).await?;
        let endpoint = broker
            .endpoints()
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("no listener"))?;
        let url = endpoint.to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(broker.run(async {
            let _ = stopped.await;
        }));
        Ok(Running {
            url,
            cafile,
            dir,
            stop,
            task,
        })
    }

    impl Running {
        /// Graceful shutdown; a broker error is reported, not fatal to the run.
        pub async fn stop(self) {
            let _ = std::fs::remove_dir_all(&self.dir);
            let _ = self.stop.send(());
            match self.task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("warning: the in-process broker stopped with: {e}"),
                Err(e) => eprintln!("warning: the in-process broker task failed: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("conformance").chain(argv.iter().copied()))
            .map(|c| c.args)
    }

    #[test]
    fn arguments() {
        let a = parse(&[
            "--target",
            "mqtt://h:1",
            "--version",
            "3.1.1",
            "--only",
            "3.1",
            "--only",
            "MQTT-3.12.4-1",
        ])
        .unwrap();
        assert_eq!(a.version.0, [Version::V3_1_1]);
        assert_eq!(a.only, ["3.1", "MQTT-3.12.4-1"]);
        assert_eq!(a.jobs, None);
        assert_eq!(parse(&[]).unwrap().version.0, Version::ALL);

        let e = parse(&["--version", "4"]).unwrap_err().to_string();
        assert!(
            e.contains("`4` is not a version: use 5.0, 3.1.1 or all"),
            "{e}"
        );
        assert!(parse(&["--jobs", "0"]).is_err());
        assert!(parse(&["--bless"]).is_err(), "--bless needs --baseline");
        assert!(
            parse(&["--restart-cmd", "true"]).is_err(),
            "--restart-cmd needs --isolate-failures"
        );
        assert_eq!(parse(&[]).unwrap().transport, InProcessTransport::Tcp);
        assert_eq!(
            parse(&["--transport", "wss"]).unwrap().transport,
            InProcessTransport::Wss
        );
        assert!(
            parse(&["--transport", "tls", "--target", "mqtt://h:1"]).is_err(),
            "--transport is for the in-process broker only"
        );
        assert_eq!(
            parse(&["--transport", "quic"]).unwrap().transport,
            InProcessTransport::Quic
        );
        assert!(parse(&["--transport", "udp"]).is_err());
        let a = parse(&["--isolate-failures", "--restart-cmd", "systemctl restart x"]).unwrap();
        assert!(a.isolate_failures);
        assert_eq!(a.restart_cmd.as_deref(), Some("systemctl restart x"));
    }

    #[test]
    fn bad_target_exits_2() {
        assert_eq!(
            run(parse(&["--target", "localhost:1883"]).unwrap()).unwrap(),
            2
        );
    }
}
