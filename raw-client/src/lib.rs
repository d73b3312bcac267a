//! `raw-client`: a byte-level MQTT client for conformance testing.
//!
//! A conformance scenario has to send what a normal client never would (reserved bits, lying
//! lengths, invalid UTF-8, a second CONNECT) and then judge exactly what the peer answers, down
//! to the byte, within explicit time limits. This crate gives it:
//!
//! - [`RawClient`]: one connection over any byte [`Stream`] (TCP via
//!   [`RawClient::connect_tcp`], TCP, TLS, WebSocket or QUIC via [`RawClient::connect`] and a [`Connector`]). It sends raw bytes ([`RawClient::send_bytes`]) or core packets
//!   ([`RawClient::send`]), and reads only inside the expectation calls — [`RawClient::recv`],
//!   [`RawClient::expect`], [`RawClient::expect_nothing`], [`RawClient::expect_close`] — each
//!   with its own timeout. Frames are cut from the stream by their fixed header and then judged
//!   by the core's decoder; a frame the core refuses is still returned, with the error.
//! - [`Transcript`]: everything sent, received and noticed, timestamped, in hex and decoded; its
//!   [`render`](Transcript::render) is the evidence a failed verdict carries.
//! - [`build`]: packet builders that write bytes directly, with every field overridable, and
//!   [`build::malformed`] for the usual malformations.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use raw_client::{build, PacketType, ProtocolVersion, RawClient};
//!
//! let mut c = RawClient::connect_tcp("127.0.0.1:1883", ProtocolVersion::V5, "c1").await?;
//! c.send_bytes(&build::Connect::v5("c1").keep_alive(10).build()).await?;
//! c.expect_kind(PacketType::ConnAck, Duration::from_secs(2)).await?;
//! // QoS 3 is malformed [MQTT-3.3.1-4]: the server must close the connection.
//! c.send_bytes(&build::malformed::publish_qos3(ProtocolVersion::V5, "t")).await?;
//! let close = c.expect_close(Duration::from_secs(2)).await?;
//! println!("{:?} {:?}\n{}", close.how, close.disconnect_reason, c.transcript().render());
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `client`: [`RawClient`], [`Received`], [`CloseInfo`], [`CloseKind`], [`ExpectError`],
//!   [`RawError`], the [`Stream`] trait.
//! - `frame`: frame boundaries from the fixed header alone (type byte + Remaining Length).
//! - `decode`: the core's verdict on a frame and the lenient one-line rendering.
//! - [`transcript`]: [`Transcript`], [`Entry`], [`Direction`].
//! - [`tls`]: [`Connector`], the rustls client configuration from a CA file ([`tls_config`]),
//!   and the test-only [`tls::AcceptAnyCertificate`].
//! - [`ws`]: the WebSocket upgrade and [`ws::WsStream`]; each [`RawClient::send_bytes`] is one
//!   binary frame, [`RawClient::send_ws_text`] a text frame.
//! - [`quic`]: the QUIC connection and its one bidirectional stream ([`quic::QuicStream`]).
//! - [`server`]: [`RawServer`], the scripted server: accepted connections are `RawClient`s.
//! - [`build`]: byte-level builders ([`build::prop`] property ids, [`build::malformed`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod build;
mod client;
mod decode;
mod frame;
pub mod quic;
pub mod server;
pub mod tls;
pub mod transcript;
pub mod ws;

pub use client::{
    CloseInfo, CloseKind, ExpectError, RawClient, RawError, Received, Stream, DEFAULT_MAX_FRAME,
    TLS_HANDSHAKE_TIMEOUT, WS_HANDSHAKE_TIMEOUT,
};
pub use mqttref_core::codec::{DecodeError, EncodeError, Packet, PacketType, ProtocolVersion};
pub use server::RawServer;
pub use tls::{tls_config, Connector, TlsConfigError, Trust};
pub use transcript::{Direction, Entry, Transcript};
