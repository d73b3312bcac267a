//! The adapter contract: how the runner drives a client under test in a client-role scenario.
//!
//! The scripted server ([`raw_client::RawServer`]) plays the broker on the wire; what the
//! client does is provoked through its application interface, which differs for every client.
//! An adapter maps a small set of operations onto it:
//!
//! - **start** a client pointed at the scripted server with [`ConnectOptions`] (version, client
//!   id, keep alive, clean start, session expiry, reconnect), optionally with a first operation
//!   the client performs once connected ([`Session::first`]);
//! - then **publish**, **subscribe**, **unsubscribe**, **disconnect** ([`Op`]);
//! - and report what happened as [`Event`]s: an operation done (or failed), an Application
//!   Message delivered to the application, the client stopped.
//!
//! An operation an adapter cannot perform returns [`Unsupported`] with the reason; the scenario
//! then ends `skipped` with that reason, never a silent pass. Adapters: [`mqttref`] (the
//! reference client, in process) and adapter files ([`command`]): command lines per operation
//! (the built-in `mosquitto` one for `mosquitto_pub`/`mosquitto_sub`), or one process per
//! session speaking a JSON line protocol ([`process`]; the built-in `paho` and `mqttjs` ones
//! wrap paho-mqtt for Python and MQTT.js in short scripts). The contract for users is
//! written down in `CLIENTS.md` beside this crate's `Cargo.toml`.

pub mod command;
pub mod mqttref;
pub mod process;

use spec_manifest::Version;
use std::fmt;
use std::sync::Arc;
use tokio::sync::mpsc;

/// How the client under test connects. Every field is something a client's user sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Protocol version.
    pub version: Version,
    /// The scripted server's host (an IP literal).
    pub host: String,
    /// The scripted server's port.
    pub port: u16,
    /// Client identifier (empty: ask the server to assign one).
    pub client_id: String,
    /// Keep Alive, seconds.
    pub keep_alive: u16,
    /// Clean Start (3.1.1: Clean Session).
    pub clean_start: bool,
    /// 5.0 Session Expiry Interval, seconds (`None`: not sent, i.e. 0).
    pub session_expiry: Option<u32>,
    /// Whether the client reconnects by itself when the connection drops.
    pub reconnect: bool,
}

/// One thing the application asks the client to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Publish one Application Message.
    Publish {
        /// Topic Name.
        topic: String,
        /// Payload.
        payload: Vec<u8>,
        /// QoS 0, 1 or 2.
        qos: u8,
        /// RETAIN.
        retain: bool,
    },
    /// Subscribe to one filter.
    Subscribe {
        /// Topic Filter.
        filter: String,
        /// Maximum QoS requested.
        qos: u8,
    },
    /// Unsubscribe from one filter.
    Unsubscribe {
        /// Topic Filter.
        filter: String,
    },
    /// Disconnect normally (DISCONNECT, then close) and stop.
    Disconnect,
}

impl Op {
    /// The operation's name in events and messages: `publish`, `subscribe`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Op::Publish { .. } => "publish",
            Op::Subscribe { .. } => "subscribe",
            Op::Unsubscribe { .. } => "unsubscribe",
            Op::Disconnect => "disconnect",
        }
    }
}

/// What the runner asks an adapter to start: the connection and, optionally, the first
/// operation, done once connected (one-shot command-line clients can only do it this way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// How to connect.
    pub connect: ConnectOptions,
    /// Done once connected.
    pub first: Option<Op>,
}

/// An Application Message the client delivered to its application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppMessage {
    /// Topic Name.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// QoS it was delivered with.
    pub qos: u8,
    /// RETAIN.
    pub retain: bool,
}

/// What the client under test reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The application saw the connection accepted (CONNACK success).
    Connected,
    /// An operation finished: `Ok` when the client says it completed (QoS 1: PUBACK; QoS 2:
    /// PUBCOMP; SUBACK; UNSUBACK), `Err` with the client's error otherwise.
    Done {
        /// [`Op::name`].
        op: &'static str,
        /// The outcome.
        result: Result<(), String>,
    },
    /// An Application Message reached the application.
    Message(AppMessage),
    /// The client stopped (for good), with its reason.
    Stopped(String),
    /// Something the adapter wants in the evidence (a process's stderr line, ...).
    Log(String),
}

/// An operation the adapter cannot ask of its client, and why. Makes the scenario `skipped`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client under test, started by an adapter. Operations return at once (the work goes on in
/// the background); their outcomes and everything else arrive as [`Event`]s. Dropping it stops
/// the client (kills its processes, aborts its tasks) without any protocol step.
pub trait DrivenClient: Send {
    /// Asks the client to perform `op` on its current session.
    fn perform(&mut self, op: Op) -> Result<(), Unsupported>;
    /// The events, in order.
    fn events(&mut self) -> &mut mpsc::UnboundedReceiver<Event>;
}

/// A kind of client under test: starts one [`DrivenClient`] per scenario.
pub trait ClientAdapter: Send + Sync + fmt::Debug {
    /// Its name, for reports (`mqttref`, `mosquitto`, the adapter file's `name`).
    fn name(&self) -> String;
    /// A version string for the report, if known.
    fn version(&self) -> Option<String> {
        None
    }
    /// Starts a client connecting as `session` says. Must be called inside a tokio runtime.
    fn start(&self, session: Session) -> Result<Box<dyn DrivenClient>, Unsupported>;
}

/// The adapters that ship: `mqttref`, `mosquitto`, `paho` and `mqttjs`.
pub const BUILT_IN: [&str; 4] = ["mqttref", "mosquitto", "paho", "mqttjs"];

/// The adapter named `name_or_path`: a built-in name, else the path of an adapter file.
pub fn resolve(name_or_path: &str) -> Result<Arc<dyn ClientAdapter>, String> {
    match name_or_path {
        "mqttref" => Ok(Arc::new(mqttref::Mqttref)),
        "mosquitto" => Ok(Arc::new(command::CommandAdapter::mosquitto())),
        // Scripts wrapping a library (their adapter files and scripts live in this crate's
        // `adapters/`, with the library installed beside them: see CLIENTS.md).
        "paho" | "mqttjs" => {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters");
            // The script's `--version` fails, saying how to install, when its library is
            // missing: better said once here than as a failure of every scenario.
            let script = match name_or_path {
                "paho" => dir.join("paho/adapter.py"),
                _ => dir.join("mqttjs/adapter.js"),
            };
            match std::process::Command::new(&script)
                .arg("--version")
                .output()
            {
                Ok(out) if out.status.success() => {}
                Ok(out) => {
                    return Err(format!(
                        "{name_or_path}: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ))
                }
                Err(e) => {
                    return Err(format!(
                        "{name_or_path}: cannot run {}: {e}",
                        script.display()
                    ))
                }
            }
            command::CommandAdapter::load(&dir.join(format!("{name_or_path}.toml")))
                .map(|a| Arc::new(a) as Arc<dyn ClientAdapter>)
        }
        path => {
            let p = std::path::Path::new(path);
            if !p.exists() {
                return Err(format!(
                    "`{path}` is neither a built-in client ({}) nor an adapter file",
                    BUILT_IN.join(", ")
                ));
            }
            command::CommandAdapter::load(p).map(|a| Arc::new(a) as Arc<dyn ClientAdapter>)
        }
    }
}
