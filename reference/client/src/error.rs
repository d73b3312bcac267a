//! [`ClientError`]: everything a client call can fail with, split by cause.

use mqttref_core::client::{CommandError, DisconnectReason};
use mqttref_core::codec::ReasonCode;

/// Why a client operation failed.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// A URL could not be parsed.
    #[error("invalid URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS options cannot be used (a missing or unreadable file, bad PEM, a certificate
    /// without its key, ...): nothing was dialled.
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsConfigError),
    /// The network connection could not be opened (the first connect, with reconnect off or
    /// before any connection succeeded).
    #[error("cannot connect to {addr}: {message}")]
    Connect {
        /// The address dialled.
        addr: String,
        /// The I/O error, as text (io::Error is not `Clone`).
        message: String,
        /// Its kind.
        kind: std::io::ErrorKind,
    },
    /// The server refused the connection in CONNACK.
    #[error("connection refused: {reason_code}{}", reason_string.as_ref().map(|s| format!(" ({s})")).unwrap_or_default())]
    Refused {
        /// CONNACK reason code (3.1.1 return codes mapped to 5.0 codes).
        reason_code: ReasonCode,
        /// Reason String, if the server sent one.
        reason_string: Option<String>,
    },
    /// No CONNACK (or no TCP connection) within the connect timeout.
    #[error("timed out connecting")]
    ConnectTimeout,
    /// The session refused the command (invalid topic, full queue, ...); nothing was sent.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The connection ended and the client will not reconnect (reconnect off, a refused
    /// reconnect, or [`Client::disconnect`](crate::Client::disconnect)); the operation's outcome
    /// is unknown.
    #[error("disconnected: {0}")]
    Disconnected(String),
    /// The client's driver task is gone (every operation after a disconnect fails with this).
    #[error("client closed")]
    Closed,
    /// [`Client::request`](crate::Client::request) got no response in time.
    #[error("no response within the timeout")]
    RequestTimeout,
    /// The operation needs a feature the connection's protocol version lacks (request/response
    /// needs 5.0 properties).
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    /// The enhanced authentication failed on the client side.
    #[error("authentication failed: {0}")]
    Auth(String),
}

impl ClientError {
    /// A readable description of why a connection ended.
    pub(crate) fn describe(reason: &DisconnectReason) -> String {
        match reason {
            DisconnectReason::TransportClosed => "the connection was closed".into(),
            DisconnectReason::Refused { reason_code, .. } => format!("refused: {reason_code}"),
            DisconnectReason::Server {
                reason_code,
                properties,
                ..
            } => match &properties.reason_string {
                Some(s) => format!("server sent DISCONNECT {reason_code} ({s})"),
                None => format!("server sent DISCONNECT {reason_code}"),
            },
            DisconnectReason::ProtocolError {
                reason_code,
                detail,
            } => {
                format!("protocol error ({reason_code}): {detail:?}")
            }
            DisconnectReason::ConnectTimeout => "no CONNACK in time".into(),
            DisconnectReason::KeepAliveTimeout => "no answer to PINGREQ in time".into(),
            DisconnectReason::Local { .. } => "disconnected by the client".into(),
            other => format!("{other:?}"),
        }
    }
}
