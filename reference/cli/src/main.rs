//! `mqttref`: the command-line front end of the MQTT reference implementation.
//!
//! `mqttref broker [--listen URL]... [--cert FILE --key FILE [--cafile FILE]
//! [--require-certificate]] [--storage-dir DIR [--fsync always|interval|never]]
//! [--config FILE.toml]` runs the reference broker until Ctrl-C
//! or SIGTERM, then shuts down gracefully (DISCONNECT 0x8B to 5.0 clients); SIGHUP reloads the
//! TLS certificate and key. Logs go to stderr through `tracing`; set `RUST_LOG` (default
//! `info`).
//!
//! `mqttref pub` / `mqttref sub` are Mosquitto-compatible clients (flags as `mosquitto_pub` /
//! `mosquitto_sub`; `-h` is the host, help is `--help`); see [`pubsub`].
//!
//! `mqttref broker --password-file FILE --acl-file FILE [--allow-anonymous]` authenticates
//! and authorizes clients; `mqttref passwd` manages the password file; see [`passwd`].
//! `--scram-file` and `--jwt-keys` add SCRAM-SHA-256 and JWT (5.0 enhanced authentication);
//! `mqttref scram` manages the SCRAM file ([`scram`]), `mqttref acl` the ACL file ([`acl`]).
//!
//! `mqttref bench` is a load generator and broker comparison (`--compare URL URL`); see [`bench`].
//!
//! # Layout
//! One `match` over subcommands; each subcommand is a function below or a module (`pubsub`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use mqttref_broker::{Broker, BrokerConfig};

mod acl;
mod bench;
mod passwd;
mod pubsub;
mod scram;
mod tls_args;

/// The MQTT reference implementation.
#[derive(Parser)]
#[command(name = "mqttref", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Publish a message (flags as mosquitto_pub: -h is the host, help is --help).
    #[command(name = "pub")]
    Pub(pubsub::PubArgs),
    /// Subscribe and print messages (flags as mosquitto_sub: -h is the host, help is --help).
    #[command(name = "sub")]
    Sub(pubsub::SubArgs),
    /// Measure broker throughput and latency, or compare brokers (-h is the host, help is --help).
    Bench(bench::BenchArgs),
    /// Run the reference broker (MQTT 3.1.1 and 5.0 over TCP, TLS, WebSocket and WebSocket over TLS).
    Broker(BrokerArgs),
    /// Manage a password file (argon2id), as mosquitto_passwd does.
    Passwd(passwd::PasswdArgs),
    /// Manage a SCRAM-SHA-256 credentials file (the broker's --scram-file).
    #[command(subcommand)]
    Scram(scram::ScramCommand),
    /// Edit an ACL file (add, remove, list) or judge one access (check: exit 1 on deny).
    #[command(subcommand)]
    Acl(acl::AclCommand),
}

/// `mqttref broker`: flags override the config file's keys of the same name.
#[derive(clap::Args)]
struct BrokerArgs {
    /// A listener: mqtt://HOST:PORT (TCP), mqtts://HOST:PORT (TLS, needs --cert and --key),
    /// ws://HOST:PORT/PATH (WebSocket, subprotocol mqtt), wss://HOST:PORT/PATH (WebSocket over
    /// TLS, needs --cert and --key), quic://HOST:PORT (QUIC over UDP, ALPN mqtt, needs --cert
    /// and --key) or a bare HOST:PORT (TCP). A TLS listener may end in ?cert=FILE&key=FILE (its
    /// own certificate instead of --cert/--key). Repeatable; replaces `listen` in the config
    /// file [default: 127.0.0.1:1883].
    #[arg(long, value_name = "URL")]
    listen: Vec<String>,
    /// Server certificate chain (PEM, leaf first) for mqtts://, wss:// and quic:// listeners.
    #[arg(long, value_name = "FILE.pem")]
    cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "FILE.pem")]
    key: Option<PathBuf>,
    /// CA certificates (PEM) to verify client certificates against.
    #[arg(long, value_name = "FILE.pem")]
    cafile: Option<PathBuf>,
    /// Refuse TLS clients without a certificate verified by --cafile (mutual TLS).
    #[arg(long)]
    require_certificate: bool,
    /// Password file (`user:argon2id-hash` lines, see `mqttref passwd`); clients without a
    /// user name are then refused unless --allow-anonymous.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// ACL file (Mosquitto's format: user, topic, pattern); what no rule allows is denied.
    #[arg(long, value_name = "FILE")]
    acl_file: Option<PathBuf>,
    /// SCRAM-SHA-256 credentials file (see `mqttref scram add`): 5.0 clients authenticate
    /// with the Authentication Method SCRAM-SHA-256; clients without a method are then
    /// refused unless --allow-anonymous (or a --password-file lets them in).
    #[arg(long, value_name = "FILE")]
    scram_file: Option<PathBuf>,
    /// JWT keys (a JWK Set of HS256, RS256 or ES256 keys): 5.0 clients authenticate with the
    /// Authentication Method JWT, the token in Authentication Data.
    #[arg(long, value_name = "FILE.json")]
    jwt_keys: Option<PathBuf>,
    /// The `iss` a JWT must carry.
    #[arg(long, value_name = "ISSUER", requires = "jwt_keys")]
    jwt_issuer: Option<String>,
    /// An `aud` a JWT must carry.
    #[arg(long, value_name = "AUDIENCE", requires = "jwt_keys")]
    jwt_audience: Option<String>,
    /// Let clients without a user name connect even with a password or SCRAM file.
    #[arg(long)]
    allow_anonymous: bool,
    /// Keep sessions, queued and in-flight messages, retained messages and wills in a file
    /// store in DIR (`storage = "file"`, `storage_dir`): they survive a restart or a kill -9.
    #[arg(long, value_name = "DIR")]
    storage_dir: Option<PathBuf>,
    /// When the file store syncs to disk: always (before acknowledgements leave), interval,
    /// never [default: the config file's `fsync`, else always].
    #[arg(long, value_name = "POLICY", value_parser = ["always", "interval", "never"])]
    fsync: Option<String>,
    /// TOML configuration file; every key is optional, unknown keys are errors.
    #[arg(long, value_name = "FILE.toml")]
    config: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Broker(args) => broker(args),
        Command::Pub(args) => pubsub::pub_cmd::run(args),
        Command::Sub(args) => pubsub::sub_cmd::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Passwd(args) => passwd::run(args),
        Command::Scram(cmd) => scram::run(cmd),
        Command::Acl(cmd) => {
            if !acl::run(cmd)? {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

fn broker(args: BrokerArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => BrokerConfig::from_file(path)?,
        None => BrokerConfig::default(),
    };
    if !args.listen.is_empty() {
        config.listen = args.listen;
    }
    config.cert = args.cert.or(config.cert);
    config.key = args.key.or(config.key);
    config.cafile = args.cafile.or(config.cafile);
    config.require_certificate |= args.require_certificate;
    config.password_file = args.password_file.or(config.password_file);
    config.acl_file = args.acl_file.or(config.acl_file);
    config.scram_file = args.scram_file.or(config.scram_file);
    if let Some(keys) = args.jwt_keys {
        config.jwt = Some(mqttref_broker::jwt::JwtConfig {
            keys,
            issuer: args.jwt_issuer,
            audience: args.jwt_audience,
        });
    }
    if args.allow_anonymous {
        config.allow_anonymous = Some(true);
    }
    if let Some(dir) = args.storage_dir {
        config.storage = mqttref_broker::config::StorageKind::File;
        config.storage_dir = Some(dir);
    }
    config.fsync = match args.fsync.as_deref() {
        Some("always") => mqttref_broker::config::FsyncMode::Always,
        Some("interval") => mqttref_broker::config::FsyncMode::Interval,
        Some("never") => mqttref_broker::config::FsyncMode::Never,
        _ => config.fsync,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async move {
        // BindError names the listener, field or file at fault.
        let broker = Broker::bind(config).await?;
        for endpoint in broker.endpoints() {
            tracing::info!(%endpoint, "mqttref broker listening");
        }
        #[cfg(unix)]
        if let Some(reloader) = broker.cert_reloader() {
            tokio::spawn(reload_on_sighup(reloader));
        }
        broker.run(shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Reloads the TLS certificate and key on every SIGHUP (new handshakes get them); files that
/// cannot be used are logged and the certificate in use stays.
#[cfg(unix)]
async fn reload_on_sighup(reloader: mqttref_broker::tls::CertReloader) {
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP: no certificate reload");
            return;
        }
    };
    while hup.recv().await.is_some() {
        match reloader.reload() {
            Ok(()) => tracing::info!(
                certs = reloader.files().count(),
                "SIGHUP: TLS certificates and keys reloaded"
            ),
            Err(e) => tracing::error!(
                error = %e,
                "SIGHUP: TLS certificate not reloaded; the one in use stays"
            ),
        }
    }
}

/// Completes on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
