//! `mqttref-broker`: the MQTT reference broker — a thin tokio driver around the sans-IO broker
//! engine of `mqttref-core` ([`mqttref_core::broker::Broker`]).
//!
//! Every protocol decision is the engine's; this crate moves bytes between sockets and the
//! engine, keeps the engine's timer, caps connections and shuts down cleanly.
//!
//! # Using it
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use mqttref_broker::{Broker, BrokerConfig};
//! let config = BrokerConfig { listen: vec!["127.0.0.1:0".into()], ..BrokerConfig::default() };
//! let broker = Broker::bind(config).await?;
//! let addr = broker.local_addr()?; // the port the OS picked
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let task = tokio::spawn(broker.run(async { let _ = stopped.await; }));
//! // ... connect clients to `addr` ...
//! let _ = stop.send(());
//! task.await.expect("broker task")?;
//! # Ok(()) }
//! ```
//! Any listener works through [`Listener`] (the simulator plugs turmoil's in); see [`run`].
//! TLS and WebSocket are layers over any of them ([`tls::TlsListener`], [`ws::WsListener`]);
//! [`Broker::bind`] binds every `mqtt://`, `mqtts://`, `ws://`, `wss://` and `quic://` listener
//! of the configuration and serves them with one engine (`wss://` is the WebSocket layer over
//! the TLS layer over TCP; `quic://` a quinn endpoint whose connections each carry one stream).
//!
//! # Layout
//! - [`config`]: [`BrokerConfig`] from TOML, errors with file, line and field.
//! - [`bridge`]: bridges to remote brokers: `[[bridge]]` tables, their checks, and the two
//!   clients (local, in-process; remote) each bridge forwards between.
//! - [`auth`]: password file (argon2id) and ACL file, the engine's authenticator and
//!   authorizer built from them; [`scram`]: SCRAM-SHA-256 enhanced authentication and its
//!   credentials file; [`jwt`]: JWT enhanced authentication and its keys file.
//! - [`Listener`] and its TCP implementation.
//! - [`tls`]: the rustls server configuration from PEM files, [`tls::TlsListener`] over any
//!   listener, with the handshake in the connection's task.
//! - [`ws`]: [`ws::WsListener`] over any listener, with the HTTP upgrade in the connection's
//!   task, presenting binary frames as a byte stream.
//! - `quic` (feature `quic`, on by default): `QuicListener`, QUIC with the handshake in the
//!   connection's task, each connection's one bidirectional stream as its byte stream.
//! - [`listeners`]: [`Listeners`], every configured TCP, TLS, WebSocket, WebSocket-over-TLS and
//!   QUIC listener as one.
//! - [`store`]: [`store::FileStorage`], the durable store (an append-only, checksummed log),
//!   and [`store::Durable`], how the engine task makes each batch durable before it sends.
//! - `server`: the engine task and the per-connection tasks (design notes there).
//! - `connection`: one connection's task, a hand-written future, and its link to the engine
//!   task (small while idle: nothing allocated until something is read or queued).

pub mod auth;
pub mod bridge;
pub mod config;
mod connection;
pub mod jwt;
pub mod listeners;
#[cfg(feature = "quic")]
pub mod quic;
pub mod scram;
mod server;
pub mod store;
pub mod tls;
pub mod ws;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use mqttref_core::broker::Storage;
use tokio::io::{AsyncRead, AsyncWrite};

pub use auth::{AuthFileError, AuthSetup};
pub use config::{BrokerConfig, ConfigError, Endpoint, Transport, DEFAULT_LISTEN};
pub use listeners::Listeners;
pub use tls::TlsError;
pub use ws::WsListener;

/// Why [`Broker::bind`] could not start: each names the listener, field or file at fault.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The configuration is not usable (a bad listener URL, `mqtts://` without `cert`, ...).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS certificate, key or CA file could not be used.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The password or ACL file could not be used (never started open instead).
    #[error(transparent)]
    Auth(#[from] AuthFileError),
    /// The file store could not be opened (`storage = "file"`).
    #[error("storage: {0}")]
    Store(#[from] store::StoreError),
    /// A TLS listener (`mqtts://`, `wss://`, `quic://`) was given no TLS configuration.
    #[error("{0}: a TLS listener needs cert and key")]
    NoTls(Endpoint),
    /// A `quic://` listener in a build without the `quic` feature.
    #[error("{0}: this build has no QUIC (the `quic` feature)")]
    QuicUnavailable(Endpoint),
    /// Binding a listener failed.
    #[error("binding {endpoint}: {source}")]
    Bind {
        /// The listener.
        endpoint: Endpoint,
        /// Why.
        source: io::Error,
    },
}

impl From<BindError> for io::Error {
    fn from(e: BindError) -> io::Error {
        let kind = match &e {
            BindError::Bind { source, .. } => source.kind(),
            _ => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}

/// A source of incoming connections: `tokio::net::TcpListener` in production, a turmoil
/// listener in the simulator, TLS or WebSocket layers later.
pub trait Listener: Send + 'static {
    /// The connection stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Waits for the next connection. Must be cancel-safe: [`run`] drops a pending `accept`
    /// when shutdown starts.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    /// The address it listens on.
    ///
    /// # Errors
    /// Whatever the underlying listener reports.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, addr) = tokio::net::TcpListener::accept(self).await?;
        // Small packets (acknowledgements, PINGRESP) should not wait for Nagle.
        let _ = stream.set_nodelay(true);
        Ok((stream, addr))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }
}

/// Serves MQTT on `listener` until `shutdown` completes, then sends DISCONNECT 0x8B (Server
/// shutting down) to 5.0 clients, closes every connection and waits (at most
/// `shutdown_grace_secs`) for them to flush.
///
/// Bridges (`config.bridges`) are not started here: [`Broker::run`] starts them.
///
/// Not cancel-safe in the sense that dropping it drops every connection abruptly; complete
/// `shutdown` for a graceful stop.
///
/// # Errors
/// Only a failing `accept` that is not a per-connection error ends it early.
pub async fn run<L: Listener>(
    listener: L,
    config: BrokerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let auth = AuthSetup::load(&config)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, BindError::Auth(e)))?;
    let store = open_store(&config)?;
    serve_with(listener, config, auth, store, shutdown).await
}

/// Opens the file store if `config` selects it, logging what recovery found.
///
/// # Errors
/// [`BindError::Store`]: the store cannot be opened (damage is not an error: it is logged
/// and everything before it kept).
pub fn open_store(config: &BrokerConfig) -> Result<Option<store::FileStorage>, BindError> {
    open_store_on(config, store::StdDisk, store::wall_ms())
}

/// As [`open_store`], on `disk` (the simulator's simulated disk), with the engine's clock
/// starting at `origin` (Unix ms; the store keeps deadlines in wall-clock time, so a restart
/// counts the downtime).
///
/// # Errors
/// As [`open_store`].
pub fn open_store_on<D: store::Disk>(
    config: &BrokerConfig,
    disk: D,
    origin: u64,
) -> Result<Option<store::FileStorage<D>>, BindError> {
    let (config::StorageKind::File, Some(dir)) = (config.storage, &config.storage_dir) else {
        return Ok(None);
    };
    let (fs, recovery) = store::FileStorage::open_on(disk, dir, config.fsync_policy(), origin)?;
    if let Some(damage) = &recovery.damage {
        tracing::error!(%damage, "store damaged; the damaged file is kept as store.log.damaged");
    }
    if recovery.torn_tail > 0 {
        tracing::warn!(
            bytes = recovery.torn_tail,
            "store: a last batch without its commit record (a crash mid-write) was not applied"
        );
    }
    tracing::info!(
        path = %fs.path().display(),
        batches = recovery.batches,
        sessions = fs.session_count(),
        retained = fs.retained_count(),
        fsync = ?config.fsync,
        "file store opened"
    );
    Ok(Some(fs))
}

/// Serves with the engine over `store` (file) or in memory.
async fn serve_with<L: Listener, D: store::Disk>(
    listener: L,
    config: BrokerConfig,
    auth: AuthSetup,
    store: Option<store::FileStorage<D>>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let engine_config = config.engine_config();
    let failures = auth.failures();
    match store {
        Some(fs) => {
            let engine = auth.engine_with(engine_config, fs);
            server::serve(listener, config, engine, failures, shutdown).await
        }
        None => {
            let engine = auth.engine(engine_config);
            server::serve(listener, config, engine, failures, shutdown).await
        }
    }
}

/// As [`run`], with an engine built by the caller: another [`Storage`] or an
/// [`Authenticator`](mqttref_core::broker::Authenticator) (see
/// [`mqttref_core::broker::Broker::with_parts`]). `config` still gives the driver's own
/// settings (connection cap, shutdown grace, write timeout); the engine's limits are the engine's.
///
/// # Errors
/// As [`run`].
pub async fn run_with_engine<L: Listener, S: store::Durable + Send + 'static>(
    listener: L,
    config: BrokerConfig,
    engine: mqttref_core::broker::Broker<S>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    server::serve(listener, config, engine, None, shutdown).await
}

/// A broker bound to its listeners, ready to [`run`](Broker::run). The entry point for
/// embedding (the conformance runner starts one in-process).
#[derive(Debug)]
pub struct Broker {
    listeners: Listeners,
    config: BrokerConfig,
    /// Loaded in `bind`, so a bad file stops the broker before it serves.
    auth: AuthSetup,
    /// The file store, opened in `bind` for the same reason (`None`: in memory).
    store: Option<store::FileStorage>,
    /// Swaps the TLS listeners' certificate and key (`None`: no TLS listener).
    reloader: Option<tls::CertReloader>,
}

impl Broker {
    /// Checks `config`, loads the password and ACL files if any, loads the TLS files if any
    /// listener is `mqtts://`, `wss://` or `quic://`, and binds every
    /// listener of `config.listen` (use port 0 for any free port).
    ///
    /// # Errors
    /// [`BindError`]: a bad listener or TLS setting, an unusable certificate, key, CA,
    /// password or ACL file (named, with the line), or a failed bind.
    pub async fn bind(config: BrokerConfig) -> Result<Broker, BindError> {
        config.validate(std::path::Path::new("<config>"))?;
        let auth = AuthSetup::load(&config)?;
        let store = open_store(&config)?;
        let endpoints = config.endpoints().map_err(|message| ConfigError::Invalid {
            path: "<config>".into(),
            field: "listen",
            message,
        })?;
        // One configuration for the TLS listeners without a certificate of their own (so one
        // reload swaps theirs together), one per listener with its own.
        let mut shared: Option<Arc<rustls::ServerConfig>> = None;
        let mut reloader: Option<tls::CertReloader> = None;
        let mut with_tls = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let tls = match (endpoint.transport.is_tls(), &endpoint.cert_key, &shared) {
                (false, _, _) => None,
                (true, None, Some(shared)) => Some(shared.clone()),
                (true, _, _) => match config.tls_files_for(&endpoint) {
                    None => None,
                    Some(files) => {
                        let (tls, r) = tls::server_config_reloadable(&files)?;
                        match &mut reloader {
                            Some(all) => all.merge(r),
                            None => reloader = Some(r),
                        }
                        if endpoint.cert_key.is_none() {
                            shared = Some(tls.clone());
                        }
                        Some(tls)
                    }
                },
            };
            with_tls.push((endpoint, tls));
        }
        let listeners = Listeners::bind(&with_tls, config.engine.seed).await?;
        Ok(Broker {
            listeners,
            config,
            auth,
            store,
            reloader,
        })
    }

    /// What reloads the certificate and key of every TLS, `wss://` and QUIC listener while the
    /// broker runs ([`tls::CertReloader::reload`]: new handshakes get the new ones); `None`
    /// without a TLS listener. Take it before [`Broker::run`].
    pub fn cert_reloader(&self) -> Option<tls::CertReloader> {
        self.reloader.clone()
    }

    /// The first listener's bound address.
    ///
    /// # Errors
    /// None in practice (kept for the callers that treat it as fallible).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listeners.local_addr()
    }

    /// Every listener with its bound address, in the order of `config.listen`.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.listeners.endpoints()
    }

    /// Serves until `shutdown` completes; see [`crate::run`].
    ///
    /// Bridges (`config.bridges`) start with it: each connects its local session through an
    /// in-process connection and dials its remote; they stop (remote DISCONNECT, sessions
    /// kept) when `shutdown` completes.
    ///
    /// # Errors
    /// As [`crate::run`], and `InvalidInput` for a bridge whose configuration is invalid.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> io::Result<()> {
        let bridges = bridge::check_all(&self.config.bridges).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                ConfigError::Bridge {
                    path: "<config>".into(),
                    error,
                },
            )
        })?;
        let (internal_tx, internal_rx) = tokio::sync::mpsc::channel(16);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let seed = self.config.engine.seed;
        let tasks: Vec<_> = bridges
            .into_iter()
            .map(|b| {
                let dialer = bridge::InternalDialer::new(internal_tx.clone());
                tokio::spawn(bridge::run(b, dialer, seed, stop_rx.clone()))
            })
            .collect();
        let internal_open = !tasks.is_empty();
        drop(internal_tx);
        let listener = bridge::WithInternal {
            outer: self.listeners,
            internal: internal_rx,
            internal_open,
        };
        let grace = std::time::Duration::from_secs(self.config.shutdown_grace_secs);
        // Bridges stop first, so their remote sessions end with a DISCONNECT and their local
        // ones before the engine closes every connection.
        let shutdown = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
            for t in tasks {
                let abort = t.abort_handle();
                if tokio::time::timeout(grace, t).await.is_err() {
                    abort.abort();
                }
            }
        };
        serve_with(listener, self.config, self.auth, self.store, shutdown).await
    }
}
