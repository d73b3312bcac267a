//! `mqttref-client`: the MQTT reference client, a thin tokio driver of the core's sans-IO
//! [`ClientSession`](mqttref_core::client::ClientSession).
//!
//! ```no_run
//! use mqttref_client::{Client, ClientOptions, QoS};
//!
//! # async fn demo() -> Result<(), mqttref_client::ClientError> {
//! let (client, mut incoming) = Client::connect(ClientOptions::new("127.0.0.1", 1883, "demo")).await?;
//! client.subscribe_one("sensors/#", QoS::AtLeastOnce).await?;
//! client.publish("sensors/t1", "21.5", QoS::ExactlyOnce, false, Default::default()).await?;
//! if let Some(msg) = incoming.recv().await {
//!     println!("{}: {}", msg.topic, String::from_utf8_lossy(&msg.payload));
//! }
//! client.disconnect().await?;
//! # Ok(()) }
//! ```
//!
//! The protocol (packet identifiers, QoS flows, resends on resume, keep alive, topic aliases)
//! lives in the core; this crate opens connections through a [`Dialer`] (TCP, TLS, WebSocket,
//! WebSocket over TLS or QUIC, as [`ClientOptions::transport`] says), feeds the session,
//! writes what it gives, arms its timer, reconnects with exponential backoff and jitter from a
//! seeded PRNG, and turns session events into the results of [`Client`] calls. Time comes only
//! from `tokio::time`.
//!
//! # Layout
//! - [`client`]: [`Client`] (the handle), [`Incoming`] (received messages), outcomes.
//! - `driver`: the task that owns the session and the connection.
//! - [`dialer`]: [`Dialer`], [`TcpDialer`], and the layers [`TlsDialer`], [`WsDialer`].
//! - [`tls`]: [`TlsOptions`] and the rustls client configuration built from them.
//! - [`ws`]: the WebSocket upgrade and the connection as a byte stream.
//! - `quic` (feature `quic`, on by default): `QuicDialer`, the QUIC connection and its one
//!   bidirectional stream as a byte stream (`QuicStream`, also the broker's).
//! - [`options`]: [`ClientOptions`], [`Transport`]; [`backoff`]: [`ReconnectPolicy`].
//! - [`auth`]: [`Authenticator`] for MQTT 5.0 enhanced authentication; [`scram`]: SCRAM-SHA-256
//!   ([`ScramClient`], and the messages and keys the broker's side uses too).
//! - [`url`]: `mqtt://`, `mqtts://`, `ws://`, `wss://` and `quic://` URLs.
//! - [`error`]: [`ClientError`], every failure by cause.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod backoff;
pub mod client;
pub mod dialer;
mod driver;
pub mod error;
pub mod options;
#[cfg(feature = "quic")]
pub mod quic;
pub mod scram;
pub mod tls;
pub mod url;
pub mod ws;

pub use auth::{Authenticator, JwtClient};
pub use backoff::ReconnectPolicy;
pub use client::{
    Client, ConnectionState, Incoming, PendingPublish, PublishOutcome, SubscribeOutcome,
};
pub use dialer::{Dialer, TcpDialer, TlsDialer, WsDialer};
pub use error::ClientError;
pub use options::{ClientOptions, Transport};
pub use scram::ScramClient;
pub use tls::{TlsConfigError, TlsOptions, TlsVersion};
pub use url::{MqttUrl, Scheme};

pub use mqttref_core::client::{
    AckProperties, ConnAckInfo, Message, OutgoingMessage, PublishProperties, SubscribeFilter,
    SubscribeProperties, UserProperty, Will,
};
pub use mqttref_core::codec::{
    ProtocolVersion, QoS, ReasonCode, RetainHandling, SubscriptionOptions,
};

/// The README's Rust examples, compiled as doctests so they keep working as written.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
