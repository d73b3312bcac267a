//! `mqttref pub` and `mqttref sub`: Mosquitto-compatible command-line clients over
//! `mqttref-client`.
//!
//! The flags follow `mosquitto_pub` / `mosquitto_sub` 2.0, so scripts can switch between them:
//! `-h` is the host (help is `--help` only), `-V` defaults to 3.1.1, `-L` takes
//! `mqtt://[user[:password]@]host[:port]/topic` (and `mqtts://`, `ws://host:port/path`,
//! `wss://host:port/path`), the TLS flags are Mosquitto's (see [`crate::tls_args`]), and
//! `-D command identifier value` sets MQTT 5.0 properties.
//!
//! # Exit codes (also in `--help`)
//! - 0: success;
//! - 1: connection or protocol error (broker unreachable, connection lost, a publish or
//!   subscription refused by the broker, an I/O error);
//! - 2: bad arguments;
//! - 27: `sub -W`: the timeout expired before `-C` messages arrived (as `mosquitto_sub`);
//! - any other value: the broker refused the connection, and the exit code is the CONNACK
//!   reason code (5.0) or return code (3.1.1), as Mosquitto does (e.g. 135 Not authorized,
//!   134 Bad user name or password; 5 and 4 on 3.1.1).
//!
//! # Layout
//! - this module: the flags both commands share, `-D` properties, exit codes;
//! - [`pub_cmd`]: `mqttref pub`; [`sub_cmd`]: `mqttref sub`;
//! - [`format`](mod@format): the `sub -F` output format.

pub mod format;
pub mod pub_cmd;
pub mod sub_cmd;

use std::time::Duration;

use clap::Args;
use mqttref_client::{
    Client, ClientError, ClientOptions, Incoming, MqttUrl, ProtocolVersion, PublishProperties, QoS,
    ReconnectPolicy, Will,
};

pub use pub_cmd::PubArgs;
pub use sub_cmd::SubArgs;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: connection or protocol error.
pub const EXIT_ERROR: i32 = 1;
/// Exit code: bad arguments (also what clap uses for usage errors).
pub const EXIT_USAGE: i32 = 2;
/// Exit code: `sub -W` timed out (as `mosquitto_sub`).
pub const EXIT_TIMEOUT: i32 = 27;

/// The exit-code section of `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    connection or protocol error (unreachable broker, connection lost, publish or
       subscription refused)
  2    bad arguments
  27   sub -W: timed out (as mosquitto_sub)
  N    the broker refused the connection: N is the CONNACK reason code (MQTT 5.0) or
       return code (3.1.1), as Mosquitto does (e.g. 135 Not authorized)";

/// A failure with its exit code and message.
#[derive(Debug)]
pub struct Failure {
    /// The process exit code.
    pub code: i32,
    /// What to print on stderr (unless `--quiet`).
    pub message: String,
}

impl Failure {
    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    /// A connection or protocol error (exit 1).
    pub fn error(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_ERROR,
            message: message.into(),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match &e {
            ClientError::Refused { reason_code, .. } => Failure {
                code: i32::from(reason_code.as_u8()),
                message: e.to_string(),
            },
            ClientError::InvalidUrl { .. } | ClientError::Command(_) => {
                Failure::usage(e.to_string())
            }
            // A bad --cafile/--cert/--key: exit 1 with the file named, as mosquitto_pub
            // ("Problem setting TLS options").
            ClientError::Tls(_) => Failure::error(e.to_string()),
            _ => Failure::error(e.to_string()),
        }
    }
}

/// Connection flags both commands share.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// MQTT host to connect to.
    #[arg(short = 'h', long = "host", default_value = "localhost")]
    pub host: String,
    /// Network port [default: 1883, 8883 with TLS].
    #[arg(short = 'p', long = "port")]
    pub port: Option<u16>,
    /// `mqtt://[user[:password]@]host[:port]/topic`: host, port, credentials and topic in one;
    /// also `mqtts://` (TLS), `ws://host:port/path` and `wss://host:port/path` (WebSocket, the
    /// path being the HTTP path; give the topic with -t) and `quic://` (QUIC).
    #[arg(short = 'L', long = "url", value_name = "URL")]
    pub url: Option<String>,
    /// TLS.
    #[command(flatten)]
    pub tls: crate::tls_args::TlsArgs,
    /// Client id [default: mqttref_pub_PID / mqttref_sub_PID].
    #[arg(short = 'i', long = "id")]
    pub id: Option<String>,
    /// Client id prefix; the process id is appended.
    #[arg(short = 'I', long = "id-prefix", conflicts_with = "id")]
    pub id_prefix: Option<String>,
    /// User name.
    #[arg(short = 'u', long = "username")]
    pub username: Option<String>,
    /// Password.
    #[arg(short = 'P', long = "pw")]
    pub password: Option<String>,
    /// Enhanced authentication (5.0, needs -V mqttv5): SCRAM-SHA-256 proves -u and -P to the
    /// broker (and the broker to us) without sending the password; JWT sends -P as the token
    /// (-u, if given, must be its subject).
    #[arg(long = "auth-method", value_name = "METHOD", value_parser = ["SCRAM-SHA-256", "JWT"])]
    pub auth_method: Option<String>,
    /// Protocol version: mqttv5 (or 5), mqttv311 (or 311).
    #[arg(short = 'V', long = "protocol-version", default_value = "mqttv311", value_parser = parse_version)]
    pub version: ProtocolVersion,
    /// Keep alive in seconds (0 turns it off).
    #[arg(short = 'k', long = "keepalive", default_value_t = 60)]
    pub keepalive: u16,
    /// Disable clean session / enable a persistent session.
    #[arg(short = 'c', long = "disable-clean-session")]
    pub persistent: bool,
    /// Session Expiry Interval (5.0), seconds; -1 or 4294967295 for never [default: -1 with -c,
    /// else 0].
    #[arg(
        short = 'x',
        long = "session-expiry-interval",
        allow_negative_numbers = true
    )]
    pub session_expiry: Option<i64>,
    /// Topic of the Will Message.
    #[arg(long = "will-topic")]
    pub will_topic: Option<String>,
    /// Payload of the Will Message (empty if not given).
    #[arg(long = "will-payload", requires = "will_topic")]
    pub will_payload: Option<String>,
    /// QoS of the Will Message.
    #[arg(long = "will-qos", default_value = "0", value_parser = parse_qos, requires = "will_topic")]
    pub will_qos: QoS,
    /// Retain the Will Message.
    #[arg(long = "will-retain", requires = "will_topic")]
    pub will_retain: bool,
    /// MQTT 5.0 property: `-D COMMAND IDENTIFIER VALUE` (user-property takes NAME VALUE).
    /// Commands: connect, publish, subscribe, unsubscribe, disconnect, will. Repeatable.
    #[arg(short = 'D', long = "property", num_args = 3..=4, value_names = ["COMMAND", "IDENTIFIER", "VALUE"], action = clap::ArgAction::Append)]
    pub properties: Vec<String>,
    /// Accepted for compatibility with Mosquitto; for debug logs set RUST_LOG=debug.
    #[arg(short = 'd', long = "debug")]
    pub debug: bool,
    /// Do not print error messages.
    #[arg(long = "quiet")]
    pub quiet: bool,
}

/// Parses `-V`.
///
/// # Errors
/// Unknown or unsupported versions.
pub fn parse_version(s: &str) -> Result<ProtocolVersion, String> {
    match s {
        "5" | "mqttv5" => Ok(ProtocolVersion::V5),
        "311" | "mqttv311" => Ok(ProtocolVersion::V3_1_1),
        "31" | "mqttv31" => {
            Err("MQTT 3.1 (mqttv31) is not supported; use mqttv311 or mqttv5".into())
        }
        other => Err(format!(
            "unknown protocol version `{other}`: use mqttv5 (5) or mqttv311 (311)"
        )),
    }
}

/// Parses a QoS 0, 1 or 2.
///
/// # Errors
/// Anything else.
pub fn parse_qos(s: &str) -> Result<QoS, String> {
    match s {
        "0" => Ok(QoS::AtMostOnce),
        "1" => Ok(QoS::AtLeastOnce),
        "2" => Ok(QoS::ExactlyOnce),
        other => Err(format!("QoS must be 0, 1 or 2, not `{other}`")),
    }
}

/// The `-D` properties, grouped by command.
#[derive(Debug, Default, Clone)]
pub struct DProperties {
    /// `-D publish ...`.
    pub publish: PublishProperties,
    /// `-D will ...`.
    pub will: PublishProperties,
    /// `-D will will-delay-interval N`.
    pub will_delay: Option<u32>,
    /// `-D subscribe subscription-identifier N`.
    pub subscription_identifier: Option<u32>,
    /// `-D subscribe user-property ...`.
    pub subscribe_user: Vec<(String, String)>,
    /// `-D unsubscribe user-property ...`.
    pub unsubscribe_user: Vec<(String, String)>,
    /// `-D disconnect session-expiry-interval N`.
    pub disconnect_session_expiry: Option<u32>,
}

fn num<T: std::str::FromStr>(id: &str, v: &str) -> Result<T, Failure> {
    v.parse()
        .map_err(|_| Failure::usage(format!("-D {id}: `{v}` is not a valid number")))
}

/// Applies the `-D` triples (or quadruples for user-property) to `options` and returns the rest.
///
/// # Errors
/// An unknown command or identifier, a bad value, or `-D` without `-V mqttv5`.
pub fn apply_properties(
    args: &ConnectArgs,
    options: &mut ClientOptions,
) -> Result<DProperties, Failure> {
    let mut out = DProperties::default();
    if args.properties.is_empty() {
        return Ok(out);
    }
    if args.version != ProtocolVersion::V5 {
        return Err(Failure::usage("-D is only valid with MQTT 5.0 (-V mqttv5)"));
    }
    let mut it = args.properties.iter().map(String::as_str);
    while let Some(command) = it.next() {
        let (Some(id), Some(value)) = (it.next(), it.next()) else {
            return Err(Failure::usage("-D needs COMMAND IDENTIFIER VALUE"));
        };
        if id == "user-property" {
            let Some(v2) = it.next() else {
                return Err(Failure::usage("-D COMMAND user-property needs NAME VALUE"));
            };
            let kv = (value.to_string(), v2.to_string());
            match command {
                "connect" => options.session.user_properties.push(kv),
                "publish" => out.publish.user_properties.push(kv),
                "will" => out.will.user_properties.push(kv),
                "subscribe" => out.subscribe_user.push(kv),
                "unsubscribe" => out.unsubscribe_user.push(kv),
                other => {
                    return Err(Failure::usage(format!(
                        "-D {other} user-property is not supported"
                    )))
                }
            }
            continue;
        }
        let msg_props = |p: &mut PublishProperties| -> Result<bool, Failure> {
            match id {
                "content-type" => p.content_type = Some(value.to_string()),
                "correlation-data" => p.correlation_data = Some(value.as_bytes().to_vec()),
                "message-expiry-interval" => p.message_expiry_interval = Some(num(id, value)?),
                "payload-format-indicator" => p.payload_format_indicator = Some(num(id, value)?),
                "response-topic" => p.response_topic = Some(value.to_string()),
                _ => return Ok(false),
            }
            Ok(true)
        };
        let known = match command {
            "connect" => {
                let s = &mut options.session;
                match id {
                    "session-expiry-interval" => s.session_expiry_interval = Some(num(id, value)?),
                    "receive-maximum" => s.receive_maximum = Some(num(id, value)?),
                    "maximum-packet-size" => s.maximum_packet_size = Some(num(id, value)?),
                    "topic-alias-maximum" => s.topic_alias_maximum = num(id, value)?,
                    "request-problem-information" => {
                        s.request_problem_information = Some(num::<u8>(id, value)? != 0)
                    }
                    "request-response-information" => {
                        s.request_response_information = num::<u8>(id, value)? != 0
                    }
                    _ => {}
                }
                CONNECT_IDS.contains(&id)
            }
            "publish" => msg_props(&mut out.publish)?,
            "will" => {
                if id == "will-delay-interval" {
                    out.will_delay = Some(num(id, value)?);
                    true
                } else {
                    msg_props(&mut out.will)?
                }
            }
            "subscribe" if id == "subscription-identifier" => {
                out.subscription_identifier = Some(num(id, value)?);
                true
            }
            "disconnect" if id == "session-expiry-interval" => {
                out.disconnect_session_expiry = Some(num(id, value)?);
                true
            }
            "subscribe" | "unsubscribe" | "disconnect" => false,
            other => return Err(Failure::usage(format!("-D: unknown command `{other}`"))),
        };
        if !known {
            return Err(Failure::usage(format!(
                "-D {command} {id}: property not supported for {command}"
            )));
        }
    }
    Ok(out)
}

const CONNECT_IDS: &[&str] = &[
    "session-expiry-interval",
    "receive-maximum",
    "maximum-packet-size",
    "topic-alias-maximum",
    "request-problem-information",
    "request-response-information",
];

/// Builds the client options from the shared flags. `default_prefix` is `mqttref_pub` or
/// `mqttref_sub`. Returns the options, the `-D` properties, and the URL's topic if any.
///
/// # Errors
/// Bad `-L` URL, bad `-x`, bad `-D`.
pub fn client_options(
    args: &ConnectArgs,
    default_prefix: &str,
) -> Result<(ClientOptions, DProperties, Option<String>), Failure> {
    let (host, port, mut username, mut password, url_topic, transport) = match &args.url {
        Some(u) => {
            let u = MqttUrl::parse(u).map_err(|e| Failure::usage(e.to_string()))?;
            let transport = args
                .tls
                .transport(Some(u.scheme), u.ws_path.as_deref())
                .map_err(Failure::usage)?;
            (u.host, u.port, u.username, u.password, u.topic, transport)
        }
        None => {
            let transport = args.tls.transport(None, None).map_err(Failure::usage)?;
            let port = args
                .port
                .unwrap_or_else(|| crate::tls_args::default_port(&transport));
            (args.host.clone(), port, None, None, None, transport)
        }
    };
    if args.username.is_some() {
        username.clone_from(&args.username);
    }
    if args.password.is_some() {
        password.clone_from(&args.password);
    }
    if password.is_some() && username.is_none() {
        return Err(Failure::usage("a password (-P) needs a user name (-u)"));
    }
    let pid = std::process::id();
    let id = match (&args.id, &args.id_prefix) {
        (Some(id), _) => id.clone(),
        (None, Some(prefix)) => format!("{prefix}{pid}"),
        (None, None) => format!("{default_prefix}_{pid}"),
    };
    let mut o = ClientOptions::new(host, port, id)
        .with_transport(transport)
        .with_tls(args.tls.options())
        .with_version(args.version)
        .with_keep_alive(args.keepalive)
        .with_clean_start(!args.persistent)
        .with_reconnect(ReconnectPolicy::disabled())
        .with_seed(u64::from(pid));
    match args.auth_method.as_deref() {
        Some(method) => {
            if args.version != ProtocolVersion::V5 {
                return Err(Failure::usage(format!(
                    "--auth-method {method} needs -V mqttv5 (enhanced authentication is 5.0)"
                )));
            }
            if method == "JWT" {
                let Some(token) = &password else {
                    return Err(Failure::usage("--auth-method JWT needs the token as -P"));
                };
                o = o.with_authenticator(mqttref_client::JwtClient::new(token.clone()));
                o.session.username = username;
            } else {
                let (Some(user), Some(pw)) = (&username, &password) else {
                    return Err(Failure::usage(format!(
                        "--auth-method {method} needs -u and -P"
                    )));
                };
                // The password stays here: only the SCRAM proof goes out. The User Name is
                // sent too, as the identity the broker's ACL judges (it must be the SCRAM user).
                o = o.with_authenticator(mqttref_client::ScramClient::new(user, pw));
                o.session.username = username;
            }
        }
        None => {
            o.session.username = username;
            o.session.password = password.map(String::into_bytes);
        }
    }
    if args.version == ProtocolVersion::V5 {
        let expiry = match args.session_expiry {
            Some(-1) => u32::MAX,
            Some(v) => u32::try_from(v).map_err(|_| {
                Failure::usage(format!(
                    "-x: {v} is not a session expiry interval (0..4294967295 or -1)"
                ))
            })?,
            None if args.persistent => u32::MAX,
            None => 0,
        };
        if expiry > 0 {
            o.session.session_expiry_interval = Some(expiry);
        }
    } else if args.session_expiry.is_some() {
        return Err(Failure::usage("-x is only valid with MQTT 5.0 (-V mqttv5)"));
    }
    let props = apply_properties(args, &mut o)?;
    if let Some(topic) = &args.will_topic {
        let mut will = Will::new(topic.clone(), args.will_payload.clone().unwrap_or_default());
        will.qos = args.will_qos;
        will.retain = args.will_retain;
        will.delay_interval = props.will_delay;
        will.properties = props.will.clone();
        o = o.with_will(will);
    }
    Ok((o, props, url_topic))
}

/// Connects, mapping failures to exit codes.
///
/// # Errors
/// See [`Failure`].
pub async fn connect(options: ClientOptions) -> Result<(Client, Incoming), Failure> {
    let connect_timeout =
        Duration::from_millis(options.session.connect_timeout_ms.saturating_add(1000));
    let version = options.session.version;
    match tokio::time::timeout(connect_timeout, Client::connect(options)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => {
            let mut fail = Failure::from(e.clone());
            if let (ClientError::Refused { reason_code, .. }, ProtocolVersion::V3_1_1) =
                (&e, version)
            {
                // As mosquitto_pub/sub: the 3.1.1 CONNACK return code (1-5).
                if let Some(rc) = reason_code.to_connack_return_code() {
                    fail.code = i32::from(rc);
                }
            }
            Err(fail)
        }
        Err(_) => Err(Failure::error("timed out connecting")),
    }
}

/// Runs `f` on a fresh runtime and exits the process with its code (printing the failure
/// unless `quiet`).
pub fn run_and_exit<F>(quiet: bool, f: F) -> !
where
    F: std::future::Future<Output = Result<(), Failure>>,
{
    let code = match tokio::runtime::Runtime::new() {
        Ok(rt) => match rt.block_on(f) {
            Ok(()) => EXIT_OK,
            Err(fail) => {
                if !quiet && !fail.message.is_empty() {
                    eprintln!("mqttref: {}", fail.message);
                }
                fail.code
            }
        },
        Err(e) => {
            eprintln!("mqttref: cannot start the tokio runtime: {e}");
            EXIT_ERROR
        }
    };
    std::process::exit(code)
}
