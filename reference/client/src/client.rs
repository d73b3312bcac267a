//! [`Client`]: the cheap-to-clone handle the application uses, and [`Incoming`], the stream of
//! received messages. Both talk to the driver task (`driver`) through bounded channels.

use std::sync::Arc;
use std::time::Duration;

use mqttref_core::client::{
    AckProperties, ConnAckInfo, Message, OutgoingMessage, PublishProperties, SubscribeFilter,
    SubscribeProperties, UserProperty,
};
use mqttref_core::codec::{QoS, ReasonCode};
use tokio::sync::{mpsc, oneshot, watch};

use crate::dialer::{Dialer, TcpDialer, TlsDialer, WsDialer};
use crate::driver::{Command, Driver};
use crate::error::ClientError;
use crate::options::ClientOptions;
use crate::options::Transport;

/// How a publish ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOutcome {
    /// PUBACK / PUBREC / PUBCOMP reason code (Success for QoS 0 and on 3.1.1). 0x10 No matching
    /// subscribers is a success; 0x80 and above are failures, possibly decided locally against
    /// the server's limits (0x9B QoS not supported, 0x9A Retain not supported, 0x95 Packet too
    /// large).
    pub reason_code: ReasonCode,
    /// Reason String and User Properties of the acknowledgement.
    pub properties: AckProperties,
}

impl PublishOutcome {
    /// Whether the server accepted the message.
    pub fn is_success(&self) -> bool {
        !self.reason_code.is_error()
    }
}

/// SUBACK or UNSUBACK contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeOutcome {
    /// One per filter, in order: for SUBACK Granted QoS 0-2 or an error code; for UNSUBACK
    /// Success, No subscription existed or an error (all Success on 3.1.1).
    pub reason_codes: Vec<ReasonCode>,
    /// Reason String and User Properties.
    pub properties: AckProperties,
}

impl SubscribeOutcome {
    /// Whether every filter was accepted.
    pub fn is_success(&self) -> bool {
        self.reason_codes.iter().all(|c| !c.is_error())
    }
}

/// The outcome of a message handed over with [`Client::publish_queued`]; await it.
#[derive(Debug)]
pub struct PendingPublish {
    rx: oneshot::Receiver<Result<PublishOutcome, ClientError>>,
}

impl std::future::Future for PendingPublish {
    type Output = Result<PublishOutcome, ClientError>;

    /// Cancel-safe: dropping it loses only the outcome, never the message.
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(ClientError::Closed)))
    }
}

/// Connection state, as [`Client::state`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Dialling or waiting for CONNACK (also between reconnect attempts).
    Connecting,
    /// Connected; the CONNACK is inside.
    Connected(Box<ConnAckInfo>),
    /// The connection was lost; the client will try again.
    Reconnecting {
        /// Why the last connection ended.
        reason: String,
    },
    /// The client stopped for good.
    Closed {
        /// Why.
        reason: String,
    },
}

/// A handle to a connected client. Cheap to clone; every clone talks to the same session.
/// Dropping every clone disconnects (normal DISCONNECT) and stops the driver.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    state: watch::Receiver<ConnectionState>,
    request_timeout: Duration,
    connack: Arc<ConnAckInfo>,
}

/// The Application Messages the server sends, in arrival order. Reading slowly applies
/// backpressure: the driver stops reading the socket while the channel is full.
#[derive(Debug)]
pub struct Incoming {
    messages: mpsc::Receiver<Message>,
}

impl Incoming {
    /// The next message; `None` once the client has stopped and every message was read.
    ///
    /// Cancel-safe: a message is never lost when this future is dropped before completing.
    pub async fn recv(&mut self) -> Option<Message> {
        self.messages.recv().await
    }
}

impl Client {
    /// Connects over the options' [`Transport`] (TCP, TLS, WebSocket, WebSocket over TLS, QUIC) and
    /// waits for the first CONNACK. The TLS configuration is built, and its files read, before
    /// anything is dialled.
    ///
    /// Cancel-safe in the sense that dropping the future before it completes stops the driver
    /// (nothing stays connected).
    ///
    /// # Errors
    /// [`ClientError::Tls`] (unusable TLS options: a file named), [`ClientError::Connect`]
    /// (unreachable, or a failed TLS handshake or WebSocket upgrade), [`ClientError::Refused`]
    /// (CONNACK error), [`ClientError::ConnectTimeout`], [`ClientError::Disconnected`].
    pub async fn connect(options: ClientOptions) -> Result<(Client, Incoming), ClientError> {
        let tls = |alpn: &[u8]| -> Result<TlsDialer<TcpDialer>, ClientError> {
            let config = crate::tls::client_config(&options.tls, alpn)?;
            let name = match &options.tls.server_name {
                Some(n) => Some(crate::tls::server_name(n)?),
                None => None,
            };
            Ok(TlsDialer::new(TcpDialer, config, name))
        };
        match options.transport.clone() {
            Transport::Tcp => Client::connect_with(options, TcpDialer).await,
            Transport::Tls => {
                let dialer = tls(crate::tls::ALPN_MQTT)?;
                Client::connect_with(options, dialer).await
            }
            Transport::Ws { path } => {
                Client::connect_with(options, WsDialer::new(TcpDialer, path)).await
            }
            Transport::Wss { path } => {
                let dialer = WsDialer::new(tls(crate::tls::ALPN_HTTP1)?, path);
                Client::connect_with(options, dialer).await
            }
            #[cfg(feature = "quic")]
            Transport::Quic => {
                if options.tls.version == Some(crate::tls::TlsVersion::Tls12) {
                    return Err(ClientError::Tls(crate::tls::TlsConfigError::Version(
                        "tlsv1.2 with quic:// (QUIC carries TLS 1.3 only)".into(),
                    )));
                }
                let config = crate::tls::client_config(&options.tls, crate::quic::ALPN_MQTT)?;
                if let Some(n) = &options.tls.server_name {
                    crate::tls::server_name(n)?;
                }
                let dialer = crate::quic::QuicDialer::new(
                    config,
                    options.tls.server_name.clone(),
                    options.seed,
                )
                .map_err(|e| ClientError::Connect {
                    addr: format!("{}:{}", options.host, options.port),
                    message: e.to_string(),
                    kind: std::io::ErrorKind::InvalidInput,
                })?;
                Client::connect_with(options, dialer).await
            }
            #[cfg(not(feature = "quic"))]
            Transport::Quic => Err(ClientError::Unsupported(
                "quic:// (this build has no `quic` feature)",
            )),
        }
    }

    /// Connects through `dialer` (e.g. a turmoil network in the simulator) and waits for the
    /// first CONNACK; [`ClientOptions::transport`] is not looked at (the dialer decides). Must run inside a tokio runtime: the driver is spawned with
    /// `tokio::spawn`. Cancel-safe as [`Client::connect`].
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn connect_with<D: Dialer>(
        options: ClientOptions,
        dialer: D,
    ) -> Result<(Client, Incoming), ClientError> {
        let capacity = options.channel_capacity.max(1);
        let request_timeout = options.request_timeout;
        let (cmd_tx, cmd_rx) = mpsc::channel(capacity);
        let (msg_tx, msg_rx) = mpsc::channel(capacity);
        let (state_tx, state_rx) = watch::channel(ConnectionState::Connecting);
        let (first_tx, first_rx) = oneshot::channel();
        let driver = Driver::new(options, dialer, cmd_rx, msg_tx, state_tx, first_tx);
        tokio::spawn(driver.run());
        let connack = first_rx.await.map_err(|_| ClientError::Closed)??;
        Ok((
            Client {
                commands: cmd_tx,
                state: state_rx,
                request_timeout,
                connack: Arc::new(connack),
            },
            Incoming { messages: msg_rx },
        ))
    }

    /// The CONNACK of the first connection (limits, assigned client id, ...).
    pub fn connack(&self) -> &ConnAckInfo {
        &self.connack
    }

    /// The current connection state.
    pub fn state(&self) -> ConnectionState {
        self.state.borrow().clone()
    }

    /// A receiver of connection state changes.
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, ClientError>>) -> Command,
    ) -> Result<T, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    /// Publishes and waits until the flow completes: for QoS 0 when the PUBLISH was handed to
    /// the network, QoS 1 on PUBACK, QoS 2 on PUBCOMP. Messages survive reconnects: the wait
    /// goes on across them.
    ///
    /// Not cancel-safe: once the command reached the driver the message is sent whether or not
    /// this future is still awaited; dropping it only loses the outcome.
    ///
    /// # Errors
    /// [`ClientError::Command`] (invalid topic, queue full), [`ClientError::Disconnected`] when
    /// the client stops before the flow completes, [`ClientError::Closed`].
    pub async fn publish(
        &self,
        topic: impl Into<String>,
        payload: impl Into<Vec<u8>>,
        qos: QoS,
        retain: bool,
        properties: PublishProperties,
    ) -> Result<PublishOutcome, ClientError> {
        let msg = OutgoingMessage {
            topic: topic.into(),
            payload: payload.into(),
            qos,
            retain,
            properties,
        };
        self.publish_message(msg).await
    }

    /// [`Client::publish`] with a prepared message. Not cancel-safe (see there).
    ///
    /// # Errors
    /// As [`Client::publish`].
    pub async fn publish_message(
        &self,
        msg: OutgoingMessage,
    ) -> Result<PublishOutcome, ClientError> {
        self.call(|reply| Command::Publish(msg, reply)).await
    }

    /// Hands `msg` to the client and returns at once with a [`PendingPublish`] that completes as
    /// [`Client::publish`] would. Messages handed over one after another are sent in that
    /// order, while their acknowledgements are awaited together: a forwarder (the broker's
    /// bridges) keeps many messages in flight without reordering them.
    ///
    /// Cancel-safe until the command is accepted (dropping the future then sends nothing);
    /// after that the message is sent whether or not the [`PendingPublish`] is awaited.
    ///
    /// # Errors
    /// [`ClientError::Closed`] when the client has stopped.
    pub async fn publish_queued(
        &self,
        msg: OutgoingMessage,
    ) -> Result<PendingPublish, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Publish(msg, tx))
            .await
            .map_err(|_| ClientError::Closed)?;
        Ok(PendingPublish { rx })
    }

    /// Subscribes and waits for the SUBACK. Every 5.0 option is in [`SubscribeFilter::options`]
    /// (No Local, Retain As Published, Retain Handling) and [`SubscribeProperties`]
    /// (Subscription Identifier, User Properties). Subscriptions are restored after a reconnect
    /// that finds no session on the server.
    ///
    /// Not cancel-safe: the SUBSCRIBE is sent even if this future is dropped.
    ///
    /// # Errors
    /// [`ClientError::Command`] (invalid filter), [`ClientError::Disconnected`],
    /// [`ClientError::Closed`].
    pub async fn subscribe(
        &self,
        filters: Vec<SubscribeFilter>,
        properties: SubscribeProperties,
    ) -> Result<SubscribeOutcome, ClientError> {
        self.call(|reply| Command::Subscribe(filters, properties, reply))
            .await
    }

    /// Subscribes to one filter with default options. Not cancel-safe (see [`Client::subscribe`]).
    ///
    /// # Errors
    /// As [`Client::subscribe`].
    pub async fn subscribe_one(
        &self,
        filter: impl Into<String>,
        qos: QoS,
    ) -> Result<SubscribeOutcome, ClientError> {
        self.subscribe(
            vec![SubscribeFilter::new(filter, qos)],
            SubscribeProperties::default(),
        )
        .await
    }

    /// Unsubscribes and waits for the UNSUBACK. Not cancel-safe: the UNSUBSCRIBE is sent even
    /// if this future is dropped.
    ///
    /// # Errors
    /// As [`Client::subscribe`].
    pub async fn unsubscribe(
        &self,
        filters: Vec<String>,
        user_properties: Vec<UserProperty>,
    ) -> Result<SubscribeOutcome, ClientError> {
        self.call(|reply| Command::Unsubscribe(filters, user_properties, reply))
            .await
    }

    /// Request/response (MQTT 5.0 §4.10): publishes `payload` to `topic` at QoS 1 with a Response
    /// Topic this client is subscribed to and fresh Correlation Data, and waits for the message
    /// that comes back with the same Correlation Data (which is then not given to [`Incoming`]).
    ///
    /// Cancel-safe as far as the client is concerned (a late response is dropped), but the
    /// request itself is sent once the command reached the driver.
    ///
    /// # Errors
    /// [`ClientError::RequestTimeout`] after [`ClientOptions::request_timeout`], and the errors
    /// of [`Client::publish`]; [`ClientError::Unsupported`] on 3.1.1.
    pub async fn request(
        &self,
        topic: impl Into<String>,
        payload: impl Into<Vec<u8>>,
    ) -> Result<Message, ClientError> {
        let msg = OutgoingMessage::new(topic, payload).with_qos(QoS::AtLeastOnce);
        let timeout = self.request_timeout;
        match tokio::time::timeout(timeout, self.call(|reply| Command::Request(msg, reply))).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::RequestTimeout),
        }
    }

    /// Sends DISCONNECT (Normal disconnection) and stops the client; waits until the driver is
    /// done. Unfinished publishes fail with [`ClientError::Disconnected`].
    ///
    /// Cancel-safe: dropping the future does not stop the disconnect once it was sent.
    ///
    /// # Errors
    /// [`ClientError::Closed`] if the client had already stopped.
    pub async fn disconnect(&self) -> Result<(), ClientError> {
        self.disconnect_with(ReasonCode::Success, None).await
    }

    /// Re-authenticates on the live connection (5.0 §4.12.1): AUTH 0x19 with the
    /// authenticator's first data, its exchange, then AUTH 0x00 from the server, whose data
    /// the authenticator judges. Messages keep flowing meanwhile.
    ///
    /// # Errors
    /// [`ClientError::Unsupported`] without an authenticator or with one in progress;
    /// [`ClientError::Auth`] when the authenticator refuses the server's answer (the client
    /// then disconnects with 0x87); [`ClientError::Disconnected`] when the server refuses
    /// (DISCONNECT) or the connection drops first.
    pub async fn reauthenticate(&self) -> Result<(), ClientError> {
        self.call(Command::Reauthenticate).await
    }

    /// [`Client::disconnect`] with a reason code (0x04 asks the server to publish the Will) and
    /// an optional new Session Expiry Interval (5.0). Cancel-safe as `disconnect`.
    ///
    /// # Errors
    /// As [`Client::disconnect`].
    pub async fn disconnect_with(
        &self,
        reason_code: ReasonCode,
        session_expiry: Option<u32>,
    ) -> Result<(), ClientError> {
        self.call(|reply| Command::Disconnect {
            reason_code,
            session_expiry,
            reply,
        })
        .await
    }
}
