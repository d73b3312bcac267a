//! `mqttref bench`: a load generator for MQTT brokers, and side-by-side comparison of brokers.
//!
//! P publishers publish to `bench/<run>/<i>`; S subscribers each subscribe to `bench/<run>/#`,
//! so every message is delivered S times. A run reports messages published and delivered per
//! second, delivery latency (p50 / p99 / max, from a timestamp in the payload) and the delivery
//! check: at QoS 1 every message must reach every subscriber (exit 1 otherwise); at QoS 0 the
//! losses are reported.
//!
//! `--compare URL URL ...` runs the same workload against each target in turn, alternating
//! (A B A B A B with `--rounds 3`), takes each figure's median per target and prints the ratio of
//! every target to the first. Shared, noisy machines make absolute figures drift between runs;
//! a ratio against a peer measured in the same session is what to quote.
//!
//! The generator is built directly on tokio TCP and the core codec (see [`run`]); compare its
//! CPU time (printed) with the broker's (`--broker-pid`) to see that it is not the bottleneck.
//!
//! # Layout
//! - this module: the flags, the rounds, the report (text and `--json`);
//! - [`run`]: one run against one broker;
//! - [`stats`]: histogram, percentiles, delivery tally, medians.

pub mod run;
pub mod stats;

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;
use mqttref_client::MqttUrl;
use mqttref_core::codec::{ProtocolVersion, QoS};

use run::{RunResult, Target, Workload, HEADER_LEN};
use stats::median;

/// Measure a broker's throughput and latency (or compare brokers: --compare URL URL ...).
#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct BenchArgs {
    /// MQTT host to connect to.
    #[arg(short = 'h', long = "host", default_value = "localhost")]
    pub host: String,
    /// Network port [default: 1883, 8883 with TLS].
    #[arg(short = 'p', long = "port")]
    pub port: Option<u16>,
    /// `mqtt://[user[:password]@]host[:port]` (or `mqtts://`, `ws://host:port/path`,
    /// `wss://host:port/path`, `quic://`): the broker (instead of -h / -p). Repeatable: several targets
    /// are compared as with --compare.
    #[arg(short = 'L', long = "url", value_name = "URL", action = clap::ArgAction::Append)]
    pub url: Vec<String>,
    /// Compare these brokers: run the workload against each in turn, alternating, for
    /// --rounds rounds; report medians and the ratio of each target to the first.
    #[arg(long = "compare", value_name = "URL", num_args = 2.., conflicts_with = "url")]
    pub compare: Vec<String>,
    /// Rounds per target in a comparison (the median is reported).
    #[arg(long = "rounds", default_value_t = 3)]
    pub rounds: usize,
    /// Publisher connections.
    #[arg(long = "publishers", default_value_t = 4)]
    pub publishers: usize,
    /// Subscriber connections (each receives every message).
    #[arg(long = "subscribers", default_value_t = 4)]
    pub subscribers: usize,
    /// QoS of the publishes and subscriptions: 0 or 1.
    #[arg(short = 'q', long = "qos", default_value = "0", value_parser = parse_bench_qos)]
    pub qos: QoS,
    /// Payload size in bytes (at least 20: time, publisher, sequence).
    #[arg(short = 's', long = "size", default_value_t = 64)]
    pub size: usize,
    /// Messages per publisher [default: 100000 unless --duration].
    #[arg(short = 'n', long = "messages", conflicts_with = "duration")]
    pub messages: Option<u64>,
    /// Publish for this many seconds instead of a message count (fractions allowed).
    #[arg(short = 'd', long = "duration")]
    pub duration: Option<f64>,
    /// QoS 1: unacknowledged PUBLISHes per publisher [default: min(64, the broker's Receive
    /// Maximum)].
    #[arg(short = 'w', long = "inflight", value_name = "W")]
    pub inflight: Option<u16>,
    /// QoS 0: how many messages a publisher may run ahead of its slowest subscriber (0: no
    /// bound; the broker's queues then overflow and drop).
    #[arg(long = "ahead", default_value_t = 1000)]
    pub ahead: u64,
    /// Protocol version: 5 (mqttv5) or 311 (mqttv311).
    #[arg(short = 'V', long = "protocol-version", default_value = "5", value_parser = parse_bench_version)]
    pub version: ProtocolVersion,
    /// Seconds without a delivery, once publishing is over, before the rest counts as missing.
    #[arg(long = "drain", default_value_t = 2.0)]
    pub drain: f64,
    /// Process id of the broker (per target, in order) to report its CPU time.
    #[arg(long = "broker-pid", value_name = "PID", action = clap::ArgAction::Append)]
    pub broker_pid: Vec<u32>,
    /// Print the report as JSON on stdout.
    #[arg(long = "json")]
    pub json: bool,
    /// TLS (for every target).
    #[command(flatten)]
    pub tls: crate::tls_args::TlsArgs,
    /// Print help.
    #[arg(long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

fn parse_bench_qos(s: &str) -> Result<QoS, String> {
    match s {
        "0" => Ok(QoS::AtMostOnce),
        "1" => Ok(QoS::AtLeastOnce),
        other => Err(format!("bench supports QoS 0 or 1, not `{other}`")),
    }
}

fn parse_bench_version(s: &str) -> Result<ProtocolVersion, String> {
    match s {
        "5" | "mqttv5" => Ok(ProtocolVersion::V5),
        "311" | "mqttv311" => Ok(ProtocolVersion::V3_1_1),
        other => Err(format!(
            "unknown protocol version `{other}`: use 5 (mqttv5) or 311 (mqttv311)"
        )),
    }
}

/// The checked plan: targets, workload, rounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Brokers, in order; ratios are against the first.
    pub targets: Vec<Target>,
    /// Broker process ids, aligned with `targets`.
    pub pids: Vec<Option<u32>>,
    /// What each run does.
    pub workload: Workload,
    /// Runs per target (1 unless comparing).
    pub rounds: usize,
}

fn target_of(url: &str, tls: &crate::tls_args::TlsArgs) -> anyhow::Result<Target> {
    let u = MqttUrl::parse(url).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Target {
        transport: tls
            .transport(Some(u.scheme), u.ws_path.as_deref())
            .map_err(anyhow::Error::msg)?,
        tls: tls.options(),
        host: u.host,
        port: u.port,
        username: u.username,
        password: u.password,
    })
}

impl BenchArgs {
    /// Checks the flags and builds the plan.
    ///
    /// # Errors
    /// A bad URL or an impossible combination, named.
    pub fn plan(&self) -> anyhow::Result<Plan> {
        let urls = if self.compare.is_empty() {
            &self.url
        } else {
            &self.compare
        };
        let targets = if urls.is_empty() {
            let transport = self.tls.transport(None, None).map_err(anyhow::Error::msg)?;
            vec![Target {
                host: self.host.clone(),
                port: self
                    .port
                    .unwrap_or_else(|| crate::tls_args::default_port(&transport)),
                transport,
                tls: self.tls.options(),
                username: None,
                password: None,
            }]
        } else {
            urls.iter()
                .map(|u| target_of(u, &self.tls))
                .collect::<anyhow::Result<_>>()?
        };
        if self.publishers == 0 || self.subscribers == 0 {
            bail!("--publishers and --subscribers must be at least 1");
        }
        if self.size < HEADER_LEN {
            bail!("--size must be at least {HEADER_LEN} (the payload carries time, publisher and sequence)");
        }
        if self.rounds == 0 {
            bail!("--rounds must be at least 1");
        }
        if self.inflight == Some(0) {
            bail!("--inflight must be at least 1");
        }
        let duration = match self.duration {
            Some(d) if !(d > 0.0 && d.is_finite()) => bail!("--duration must be positive"),
            Some(d) => Some(Duration::from_secs_f64(d)),
            None => None,
        };
        if !(self.drain >= 0.0 && self.drain.is_finite()) {
            bail!("--drain must be a non-negative number of seconds");
        }
        if !self.broker_pid.is_empty() && self.broker_pid.len() != targets.len() {
            bail!(
                "--broker-pid given {} times for {} targets (give one per target, in order)",
                self.broker_pid.len(),
                targets.len()
            );
        }
        let pids = if self.broker_pid.is_empty() {
            vec![None; targets.len()]
        } else {
            self.broker_pid.iter().map(|&p| Some(p)).collect()
        };
        let rounds = if targets.len() > 1 { self.rounds } else { 1 };
        Ok(Plan {
            targets,
            pids,
            workload: Workload {
                publishers: self.publishers,
                subscribers: self.subscribers,
                qos: self.qos,
                size: self.size,
                messages: if duration.is_some() {
                    None
                } else {
                    Some(self.messages.unwrap_or(100_000))
                },
                duration,
                inflight: self.inflight,
                ahead: self.ahead,
                version: self.version,
                drain: Duration::from_secs_f64(self.drain),
            },
            rounds,
        })
    }
}

/// The figures compared, with how to read them.
const FIGURES: [(&str, &str); 7] = [
    ("publish_rate", "msg/s published"),
    ("deliver_rate", "msg/s delivered"),
    ("latency_p50_us", "latency p50 µs"),
    ("latency_p99_us", "latency p99 µs"),
    ("generator_cpu_pct", "generator CPU %"),
    ("broker_cpu_pct", "broker CPU %"),
    ("deliveries_per_broker_cpu_sec", "deliv/broker CPU-s"),
];

fn figures(r: &RunResult) -> [Option<f64>; 7] {
    let pct = |cpu: Option<f64>| cpu.map(|c| 100.0 * c / r.wall_secs.max(1e-9));
    [
        Some(r.publish_rate()),
        Some(r.deliver_rate()),
        r.latency.percentile(0.5).map(|n| n as f64 / 1000.0),
        r.latency.percentile(0.99).map(|n| n as f64 / 1000.0),
        pct(r.generator_cpu),
        pct(r.broker_cpu),
        // Throughput per CPU second the broker used: on a machine with other load, a
        // multi-threaded broker gets more CPU time than a single-threaded one, and this figure
        // is the one that does not reward that.
        r.broker_cpu
            .filter(|&c| c > 0.0)
            .map(|c| r.delivered as f64 / c),
    ]
}

/// The median of each figure over some runs.
fn medians(runs: &[RunResult]) -> [Option<f64>; 7] {
    let all: Vec<[Option<f64>; 7]> = runs.iter().map(figures).collect();
    std::array::from_fn(|i| {
        let v: Vec<f64> = all.iter().filter_map(|f| f[i]).collect();
        median(&v)
    })
}

/// `b / a`, if both exist and `a` is not zero.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if a != 0.0 => Some(b / a),
        _ => None,
    }
}

fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.prec$}"))
}

fn json_num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.3}"),
        _ => "null".to_owned(),
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn run_json(r: &RunResult) -> String {
    let f = figures(r);
    let c = r.counts;
    let mut s = String::from("{");
    for (i, (name, _)) in FIGURES.iter().enumerate() {
        let _ = write!(s, "\"{name}\":{},", json_num(f[i]));
    }
    let _ = write!(
        s,
        "\"latency_mean_us\":{},\"latency_max_us\":{},\"published\":{},\"delivered\":{},\"expected\":{},\"delivered_unique\":{},\"duplicates\":{},\"out_of_order\":{},\"missing\":{},\"window\":{},\"stalls\":{},\"wall_secs\":{:.3}}}",
        json_num(r.latency.mean().map(|n| n / 1000.0)),
        json_num(r.latency.max().map(|n| n as f64 / 1000.0)),
        c.published,
        r.delivered,
        c.expected,
        c.unique,
        c.duplicates,
        c.out_of_order,
        c.missing,
        r.window,
        r.stalls,
        r.wall_secs
    );
    s
}

fn version_name(v: ProtocolVersion) -> &'static str {
    if v == ProtocolVersion::V5 {
        "5.0"
    } else {
        "3.1.1"
    }
}

fn workload_line(w: &Workload) -> String {
    let amount = match (w.messages, w.duration) {
        (Some(n), _) => format!("{n} msg/publisher"),
        (None, Some(d)) => format!("{:.1} s", d.as_secs_f64()),
        _ => String::new(),
    };
    let flow = if w.qos == QoS::AtMostOnce {
        format!("ahead {}", w.ahead)
    } else {
        format!(
            "inflight {}",
            w.inflight
                .map_or("min(64, Receive Maximum)".to_owned(), |i| i.to_string())
        )
    };
    format!(
        "{}x{} QoS {} {} B MQTT {} {amount} {flow}",
        w.publishers,
        w.subscribers,
        w.qos.as_u8(),
        w.size,
        version_name(w.version)
    )
}

fn run_line(label: &str, round: usize, r: &RunResult) -> String {
    let f = figures(r);
    let c = r.counts;
    format!(
        "{label} round {}: published {} in {:.2}s ({} msg/s), delivered {} ({} msg/s), latency p50 {} µs p99 {} µs, missing {}, duplicates {}, out of order {}, window {}, stalls {}, CPU generator {}% broker {}%",
        round + 1,
        c.published,
        r.publish_secs,
        fmt_opt(f[0], 0),
        r.delivered,
        fmt_opt(f[1], 0),
        fmt_opt(f[2], 0),
        fmt_opt(f[3], 0),
        c.missing,
        c.duplicates,
        c.out_of_order,
        r.window,
        r.stalls,
        fmt_opt(f[4], 0),
        fmt_opt(f[5], 0),
    )
}

/// Runs the plan; returns the report's text (or JSON) and whether the delivery check passed.
///
/// # Errors
/// A broker that cannot be reached, refuses, or breaks the protocol.
pub async fn execute(plan: &Plan, json: bool) -> anyhow::Result<(String, bool)> {
    let w = &plan.workload;
    let labels: Vec<String> = plan.targets.iter().map(Target::label).collect();
    let mut results: Vec<Vec<RunResult>> = vec![Vec::new(); plan.targets.len()];
    let base = format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() % 0xff_ffff)
    );
    eprintln!("bench: {}", workload_line(w));
    for round in 0..plan.rounds {
        for (t, target) in plan.targets.iter().enumerate() {
            let run_id = format!("{base}-{round}-{t}");
            let r = run::run_once(target, w, &run_id, plan.pids[t])
                .await
                .with_context(|| format!("{} round {}", labels[t], round + 1))?;
            eprintln!("{}", run_line(&labels[t], round, &r));
            results[t].push(r);
        }
    }
    let mut ok = true;
    for runs in &results {
        for r in runs {
            if w.qos != QoS::AtMostOnce && !r.counts.complete() {
                ok = false;
            }
        }
    }
    let meds: Vec<[Option<f64>; 7]> = results.iter().map(|r| medians(r)).collect();
    let out = if json {
        let mut s = String::new();
        let _ = write!(
            s,
            "{{\"workload\":{{\"publishers\":{},\"subscribers\":{},\"qos\":{},\"size\":{},\"messages\":{},\"duration_secs\":{},\"version\":\"{}\",\"rounds\":{}}},\"ok\":{ok},\"targets\":[",
            w.publishers,
            w.subscribers,
            w.qos.as_u8(),
            w.size,
            w.messages.map_or("null".to_owned(), |n| n.to_string()),
            json_num(w.duration.map(|d| d.as_secs_f64())),
            version_name(w.version),
            plan.rounds
        );
        for (t, runs) in results.iter().enumerate() {
            if t > 0 {
                s.push(',');
            }
            let _ = write!(s, "{{\"url\":{},\"median\":{{", json_str(&labels[t]));
            for (i, (name, _)) in FIGURES.iter().enumerate() {
                let sep = if i > 0 { "," } else { "" };
                let _ = write!(s, "{sep}\"{name}\":{}", json_num(meds[t][i]));
            }
            s.push_str("},\"runs\":[");
            let runs: Vec<String> = runs.iter().map(run_json).collect();
            s.push_str(&runs.join(","));
            s.push(']');
            if t > 0 {
                s.push_str(",\"ratio_to_first\":{");
                for (i, (name, _)) in FIGURES.iter().enumerate() {
                    let sep = if i > 0 { "," } else { "" };
                    let _ = write!(
                        s,
                        "{sep}\"{name}\":{}",
                        json_num(ratio(meds[0][i], meds[t][i]))
                    );
                }
                s.push('}');
            }
            s.push('}');
        }
        s.push_str("]}");
        s
    } else {
        let mut s = String::new();
        let _ = writeln!(s, "workload: {}", workload_line(w));
        let mut header = format!("{:<18}", "figure");
        for (t, l) in labels.iter().enumerate() {
            let _ = write!(
                header,
                " {:>22}",
                if plan.rounds > 1 {
                    format!("{l} (median)")
                } else {
                    l.clone()
                }
            );
            if t > 0 {
                let _ = write!(header, " {:>10}", format!("{}/{}", t + 1, 1));
            }
        }
        let _ = writeln!(s, "{header}");
        for (i, (_, title)) in FIGURES.iter().enumerate() {
            let prec = if i < 2 || i == 6 { 0 } else { 1 };
            let mut line = format!("{title:<18}");
            for t in 0..labels.len() {
                let _ = write!(line, " {:>22}", fmt_opt(meds[t][i], prec));
                if t > 0 {
                    let _ = write!(line, " {:>10}", fmt_opt(ratio(meds[0][i], meds[t][i]), 2));
                }
            }
            let _ = writeln!(s, "{line}");
        }
        for (t, runs) in results.iter().enumerate() {
            let missing: u64 = runs.iter().map(|r| r.counts.missing).sum();
            let dups: u64 = runs.iter().map(|r| r.counts.duplicates).sum();
            let expected: u64 = runs.iter().map(|r| r.counts.expected).sum();
            let _ = writeln!(
                s,
                "{}: deliveries {}/{} ({} missing, {} duplicates){}",
                labels[t],
                expected - missing,
                expected,
                missing,
                dups,
                if w.qos != QoS::AtMostOnce && (missing > 0 || dups > 0) {
                    " FAIL: QoS 1 must deliver every message to every subscriber"
                } else {
                    ""
                }
            );
        }
        if labels.len() > 1 {
            let _ = writeln!(
                s,
                "ratios: each target / the first (for latency and CPU lower is better)"
            );
        }
        s
    };
    Ok((out, ok))
}

/// Runs `mqttref bench` and exits: 0, 1 on an error or a failed QoS 1 delivery check, 2 on bad
/// arguments.
pub fn run(args: BenchArgs) -> ! {
    let plan = match args.plan() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: starting the tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(execute(&plan, args.json)) {
        Ok((out, ok)) => {
            println!("{}", out.trim_end());
            std::process::exit(if ok { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::exit(1);
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
        bench: BenchArgs,
    }

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).map(|c| c.bench)
    }

    #[test]
    fn defaults_are_the_issue_workload() {
        let p = parse(&[]).unwrap().plan().unwrap();
        assert_eq!(p.targets.len(), 1);
        assert_eq!(p.targets[0].host, "localhost");
        assert_eq!(p.targets[0].port, 1883);
        assert_eq!(p.rounds, 1);
        let w = p.workload;
        assert_eq!((w.publishers, w.subscribers, w.size), (4, 4, 64));
        assert_eq!(w.qos, QoS::AtMostOnce);
        assert_eq!(w.messages, Some(100_000));
        assert_eq!(w.duration, None);
        assert_eq!(w.version, ProtocolVersion::V5);
        assert_eq!(w.inflight, None);
    }

    #[test]
    fn host_port_and_workload_flags() {
        let a = parse(&[
            "-h",
            "10.0.0.1",
            "-p",
            "1884",
            "--publishers",
            "2",
            "--subscribers",
            "3",
            "-q",
            "1",
            "--size",
            "128",
            "--messages",
            "500",
            "--inflight",
            "16",
            "-V",
            "311",
        ])
        .unwrap();
        let p = a.plan().unwrap();
        assert_eq!(p.targets[0].label(), "mqtt://10.0.0.1:1884");
        let w = p.workload;
        assert_eq!((w.publishers, w.subscribers, w.size), (2, 3, 128));
        assert_eq!(w.qos, QoS::AtLeastOnce);
        assert_eq!(w.messages, Some(500));
        assert_eq!(w.inflight, Some(16));
        assert_eq!(w.version, ProtocolVersion::V3_1_1);
    }

    #[test]
    fn duration_replaces_the_message_count() {
        let p = parse(&["--duration", "2.5"]).unwrap().plan().unwrap();
        assert_eq!(p.workload.messages, None);
        assert_eq!(p.workload.duration, Some(Duration::from_millis(2500)));
        assert!(parse(&["--duration", "2", "--messages", "5"]).is_err());
        assert!(parse(&["--duration", "0"]).unwrap().plan().is_err());
    }

    #[test]
    fn compare_takes_urls_rounds_and_pids() {
        let p = parse(&[
            "--compare",
            "mqtt://127.0.0.1:1883",
            "mqtt://u:pw@127.0.0.1:1884",
            "--broker-pid",
            "10",
            "--broker-pid",
            "20",
        ])
        .unwrap()
        .plan()
        .unwrap();
        assert_eq!(p.targets.len(), 2);
        assert_eq!(p.targets[1].port, 1884);
        assert_eq!(p.targets[1].username.as_deref(), Some("u"));
        assert_eq!(p.targets[1].password.as_deref(), Some("pw"));
        assert_eq!(p.rounds, 3);
        assert_eq!(p.pids, vec![Some(10), Some(20)]);
        // -L is repeatable and compares too.
        let p = parse(&["-L", "mqtt://a:1", "-L", "mqtt://b:2", "--rounds", "2"])
            .unwrap()
            .plan()
            .unwrap();
        assert_eq!(p.targets.len(), 2);
        assert_eq!(p.rounds, 2);
        // One target: one round.
        let p = parse(&["-L", "mqtt://a:1", "--rounds", "5"])
            .unwrap()
            .plan()
            .unwrap();
        assert_eq!(p.rounds, 1);
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["-q", "2"]).is_err());
        assert!(parse(&["-V", "31"]).is_err());
        assert!(parse(&["--compare", "mqtt://a:1"]).is_err());
        assert!(parse(&["--size", "19"]).unwrap().plan().is_err());
        assert!(parse(&["--publishers", "0"]).unwrap().plan().is_err());
        assert!(parse(&["--inflight", "0"]).unwrap().plan().is_err());
        assert!(parse(&["--rounds", "0"]).unwrap().plan().is_err());
        assert!(parse(&["-L", "http://a:1"]).unwrap().plan().is_err());
        assert!(
            parse(&["--compare", "mqtt://a:1", "mqtt://b:2", "--broker-pid", "1"])
                .unwrap()
                .plan()
                .is_err()
        );
    }

    #[test]
    fn ratios_and_json_strings() {
        assert_eq!(ratio(Some(2.0), Some(3.0)), Some(1.5));
        assert_eq!(ratio(Some(0.0), Some(3.0)), None);
        assert_eq!(ratio(None, Some(3.0)), None);
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
        assert_eq!(json_num(Some(f64::NAN)), "null");
        assert_eq!(json_num(Some(1.5)), "1.500");
    }
}
