//! The driver task: moves bytes between a stream and the core's [`ClientSession`], arms its
//! timer, forwards its events, and reconnects with backoff.
//!
//! Protocol decisions (what to resend, when to ping, what a packet means) are the session's;
//! the driver only decides *when to dial again* and *which waiter gets which outcome*.
//!
//! Cancellation discipline (rumqtt lost acknowledgements by writing inside `select!`): the
//! `select!` below only waits for things whose futures are cancel-safe — a command
//! (`mpsc::Receiver::recv`), a channel permit (`mpsc::Sender::reserve`), a socket read
//! (`AsyncReadExt::read`), a timer. Every socket write happens outside it, to completion or
//! to a deadline.
//!
//! No write may block the driver forever. While a write waits, nothing else runs: not the
//! keep-alive timer, not commands, not `disconnect()`. A write blocked on a dead connection
//! (a kernel retransmitting into a partition keeps it blocked for many minutes) would hang the
//! client. So every write is bounded ([`Driver::write_bound`]): when it makes no progress for
//! 1.5 times the keep alive, the connection counts as lost and the driver reconnects, as the
//! session's keep alive would have. (The alternative, a writer task fed by a bounded channel,
//! moves the same question to the channel's full case and adds a task per connection; a
//! deadline on the write, which is never inside `select!`, is the smaller change.)
//!
//! Closing after DISCONNECT: the driver flushes, shuts down the write half and then reads
//! until the server closes (or [`DISCONNECT_LINGER`]) before dropping the stream. Dropping a
//! socket with unread data sends a reset, which can overtake the DISCONNECT; the server then
//! sees an abnormal close and publishes the Will Message ([MQTT-3.1.2-8] (5.0)).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use mqttref_core::client::{
    AckProperties, ClientSession, ConnAckInfo, DisconnectReason, Event, Message, OutgoingMessage,
    RequestId, SubscribeFilter, SubscribeProperties, UserProperty,
};
use mqttref_core::codec::{ProtocolVersion, QoS, ReasonCode};
use mqttref_core::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};

use crate::auth::Authenticator;
use crate::backoff::{ReconnectPolicy, SplitMix64};
use crate::client::{ConnectionState, PublishOutcome, SubscribeOutcome};
use crate::dialer::Dialer;
use crate::error::ClientError;
use crate::options::ClientOptions;

/// Messages the driver buffers beyond the channel before it stops reading the socket.
const MAX_PENDING_MESSAGES: usize = 64;

/// How long the driver reads after a normal DISCONNECT, waiting for the server to close,
/// before it drops the stream anyway.
const DISCONNECT_LINGER: Duration = Duration::from_secs(5);

type Reply<T> = oneshot::Sender<Result<T, ClientError>>;

/// What a [`Client`](crate::Client) asks the driver.
#[derive(Debug)]
pub(crate) enum Command {
    Publish(OutgoingMessage, Reply<PublishOutcome>),
    Subscribe(
        Vec<SubscribeFilter>,
        SubscribeProperties,
        Reply<SubscribeOutcome>,
    ),
    Unsubscribe(Vec<String>, Vec<UserProperty>, Reply<SubscribeOutcome>),
    Request(OutgoingMessage, Reply<Message>),
    Disconnect {
        reason_code: ReasonCode,
        session_expiry: Option<u32>,
        reply: Reply<()>,
    },
    Reauthenticate(Reply<()>),
}

/// What woke the connection loop.
enum Wake {
    Command(Option<Command>),
    Nothing,
    NoReader,
    Read(std::io::Result<usize>),
    Timer,
}

/// Why one connection ended, as far as reconnecting is concerned.
enum Ended {
    /// Try again (after backoff) if the policy allows.
    Retry(String),
    /// Stop for good with this error.
    Stop(ClientError),
}

pub(crate) struct Driver<D: Dialer> {
    dialer: D,
    host: String,
    port: u16,
    session: ClientSession,
    reconnect: ReconnectPolicy,
    retry_initial_connect: bool,
    rng: SplitMix64,
    authenticator: Option<Box<dyn Authenticator>>,
    /// Epoch of the session's clock; only `tokio::time` is read (so paused time and the
    /// simulator's clock work).
    epoch: tokio::time::Instant,

    commands: mpsc::Receiver<Command>,
    /// All `Client` handles were dropped.
    commands_closed: bool,
    messages: mpsc::Sender<Message>,
    /// Received messages not yet accepted by the channel (bounded by `MAX_PENDING_MESSAGES`:
    /// beyond it the socket is not read).
    pending_messages: VecDeque<Message>,
    state: watch::Sender<ConnectionState>,
    /// Completed by the first CONNACK (or the first failure).
    first_connect: Option<oneshot::Sender<Result<ConnAckInfo, ClientError>>>,

    publishes: BTreeMap<RequestId, Reply<PublishOutcome>>,
    subscribes: BTreeMap<RequestId, Reply<SubscribeOutcome>>,
    unsubscribes: BTreeMap<RequestId, Reply<SubscribeOutcome>>,
    /// Request/response waiters by Correlation Data.
    requests: BTreeMap<Vec<u8>, Reply<Message>>,
    /// The response topic of this client, once subscribed.
    response_topic: Option<String>,
    next_correlation: u64,
    /// Disconnect waiters, answered when the driver stops.
    disconnect_replies: Vec<Reply<()>>,
    /// The application asked to disconnect.
    user_disconnect: bool,
    /// An error to stop with, decided while handling events (refusal, auth failure).
    stop: Option<ClientError>,
    /// A CONNACK Success came since the last dial (resets the backoff).
    connected_this_round: bool,
    /// The waiter of the re-authentication in progress (AUTH 0x19 sent, no AUTH 0x00 yet).
    reauth_reply: Option<Reply<()>>,
}

impl<D: Dialer> Driver<D> {
    pub(crate) fn new(
        mut options: ClientOptions,
        dialer: D,
        commands: mpsc::Receiver<Command>,
        messages: mpsc::Sender<Message>,
        state: watch::Sender<ConnectionState>,
        first_connect: oneshot::Sender<Result<ConnAckInfo, ClientError>>,
    ) -> Self {
        if let Some(a) = &options.authenticator {
            options.session.authentication_method = Some(a.method());
        }
        Driver {
            dialer,
            host: options.host,
            port: options.port,
            session: ClientSession::new(options.session),
            reconnect: options.reconnect,
            retry_initial_connect: options.retry_initial_connect,
            rng: SplitMix64::new(options.seed),
            authenticator: options.authenticator,
            epoch: tokio::time::Instant::now(),
            commands,
            commands_closed: false,
            messages,
            pending_messages: VecDeque::new(),
            state,
            first_connect: Some(first_connect),
            publishes: BTreeMap::new(),
            subscribes: BTreeMap::new(),
            unsubscribes: BTreeMap::new(),
            requests: BTreeMap::new(),
            response_topic: None,
            next_correlation: 0,
            disconnect_replies: Vec::new(),
            user_disconnect: false,
            stop: None,
            connected_this_round: false,
            reauth_reply: None,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn deadline(&self, t: Instant) -> tokio::time::Instant {
        self.epoch + Duration::from_millis(t.as_millis())
    }

    /// Runs until the client stops: dial, run the connection, back off, again.
    pub(crate) async fn run(mut self) {
        let mut attempt: u32 = 0;
        let final_error = loop {
            let connect_timeout = Duration::from_millis(self.session.config().connect_timeout_ms);
            let dialled =
                tokio::time::timeout(connect_timeout, self.dialer.dial(&self.host, self.port))
                    .await;
            let ended = match dialled {
                Ok(Ok(stream)) => self.run_connection(stream).await,
                Ok(Err(e)) => {
                    let err = ClientError::Connect {
                        addr: format!("{}:{}", self.host, self.port),
                        message: e.to_string(),
                        kind: e.kind(),
                    };
                    if self.first_connect.is_some() && !self.retry_initial_connect {
                        Ended::Stop(err)
                    } else {
                        Ended::Retry(err.to_string())
                    }
                }
                Err(_) => {
                    if self.first_connect.is_some() && !self.retry_initial_connect {
                        Ended::Stop(ClientError::ConnectTimeout)
                    } else {
                        Ended::Retry("timed out connecting".into())
                    }
                }
            };
            if !self.session.is_idle() {
                self.session.handle_connection_lost(self.now());
                let _ = self.drain_events();
            }
            if std::mem::take(&mut self.connected_this_round) {
                attempt = 0;
            }
            let reason = match ended {
                Ended::Stop(e) => break e,
                Ended::Retry(reason) => reason,
            };
            if let Some(e) = self.stop.take() {
                break e;
            }
            if self.user_disconnect || self.commands_closed {
                break ClientError::Disconnected("disconnected by the client".into());
            }
            let never_connected = self.first_connect.is_some();
            if !self.reconnect.enabled || (never_connected && !self.retry_initial_connect) {
                break ClientError::Disconnected(reason);
            }
            if self
                .reconnect
                .max_attempts
                .is_some_and(|max| attempt >= max)
            {
                break ClientError::Disconnected(format!(
                    "{reason}; gave up after {attempt} attempts"
                ));
            }
            let delay = self.reconnect.delay(attempt, &mut self.rng);
            attempt = attempt.saturating_add(1);
            tracing::debug!(?delay, attempt, %reason, "reconnecting");
            let _ = self.state.send(ConnectionState::Reconnecting { reason });
            if !self.backoff(delay).await {
                break ClientError::Disconnected("disconnected by the client".into());
            }
            let _ = self.state.send(ConnectionState::Connecting);
        };
        self.finish(final_error);
    }

    /// Waits `delay`, still taking commands (they queue in the session). Returns false if the
    /// application asked to stop meanwhile.
    async fn backoff(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                cmd = self.commands.recv(), if !self.commands_closed => match cmd {
                    Some(cmd) => {
                        self.handle_command(cmd);
                        if self.user_disconnect {
                            return false;
                        }
                    }
                    None => {
                        self.commands_closed = true;
                        return false;
                    }
                },
                () = &mut sleep => return true,
            }
        }
    }

    /// One network connection, from CONNECT to close.
    async fn run_connection(&mut self, stream: D::Stream) -> Ended {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let now = self.now();
        if let Some(a) = self.authenticator.as_mut() {
            self.session.config_mut().authentication_data = a.initial_data();
        }
        self.session.connect(now);
        let mut rbuf = vec![0u8; 16 * 1024];
        let mut out = Vec::with_capacity(16 * 1024);
        loop {
            // 1. Write everything the session has, to completion, outside any select!; then
            // its events (after the transmit, so a QoS 0 completion means "written"). Handling
            // an event can queue more to send (an AUTH answer), hence the loop.
            loop {
                out.clear();
                if self.session.poll_transmit(self.now(), &mut out) {
                    if let Err(e) = write_all(&mut wr, &out, self.write_bound()).await {
                        return Ended::Retry(format!("write failed: {e}"));
                    }
                }
                if !self.drain_events() {
                    break;
                }
            }
            if self.session.is_closing() {
                let bound = self.write_bound();
                let _ = tokio::time::timeout(bound, wr.shutdown()).await;
                if self.user_disconnect {
                    // DISCONNECT went out: let the server close first (see the module doc).
                    let _ = tokio::time::timeout(
                        DISCONNECT_LINGER.min(bound),
                        drain_until_eof(&mut rd, &mut rbuf),
                    )
                    .await;
                }
                return match self.stop.take() {
                    Some(e) => Ended::Stop(e),
                    None => Ended::Retry(self.last_reason()),
                };
            }
            if self.commands_closed && !self.user_disconnect {
                // Every handle dropped: leave politely.
                self.user_disconnect = true;
                self.session
                    .disconnect(ReasonCode::Success, None, AckProperties::default());
                continue;
            }
            // 3. Wait for input: command, room for a message, bytes, or the timer.
            let timer = self.session.poll_timeout().map(|t| self.deadline(t));
            let can_read = self.pending_messages.len() < MAX_PENDING_MESSAGES;
            let has_pending = !self.pending_messages.is_empty();
            let woke = tokio::select! {
                biased;
                cmd = self.commands.recv(), if !self.commands_closed => Wake::Command(cmd),
                permit = self.messages.reserve(), if has_pending => match permit {
                    Ok(permit) => {
                        if let Some(m) = self.pending_messages.pop_front() {
                            permit.send(m);
                        }
                        Wake::Nothing
                    }
                    // Nobody reads messages any more: drop them.
                    Err(_) => Wake::NoReader,
                },
                r = rd.read(&mut rbuf), if can_read => Wake::Read(r),
                () = sleep_until_opt(timer) => Wake::Timer,
            };
            match woke {
                Wake::Command(Some(cmd)) => self.handle_command(cmd),
                Wake::Command(None) => self.commands_closed = true,
                Wake::Nothing => {}
                Wake::NoReader => self.pending_messages.clear(),
                Wake::Read(Ok(0)) => {
                    return Ended::Retry("the server closed the connection".into())
                }
                Wake::Read(Ok(n)) => {
                    let now = self.now();
                    self.session.handle_bytes(now, rbuf.get(..n).unwrap_or(&[]));
                }
                Wake::Read(Err(e)) => return Ended::Retry(format!("read failed: {e}")),
                Wake::Timer => {
                    let now = self.now();
                    self.session.handle_timeout(now);
                }
            }
        }
    }

    /// How long one write (or flush, or shutdown) may make no progress before the connection
    /// counts as lost: 1.5 times the keep alive in effect, the grace the server gives us
    /// before it closes ([MQTT-3.1.2-22] (5.0) / [MQTT-3.1.2-24] (3.1.1)), so a write that
    /// stalls that long is on a connection the server has given up on anyway. Before CONNACK,
    /// or with keep alive off, the connect timeout.
    fn write_bound(&self) -> Duration {
        let keep_alive = self.session.keep_alive_ms();
        let ms = if self.session.is_connected() && keep_alive > 0 {
            keep_alive.saturating_add(keep_alive / 2)
        } else {
            self.session.config().connect_timeout_ms
        };
        Duration::from_millis(ms.max(1))
    }

    fn last_reason(&self) -> String {
        match &*self.state.borrow() {
            ConnectionState::Reconnecting { reason } | ConnectionState::Closed { reason } => {
                reason.clone()
            }
            _ => "connection closed".into(),
        }
    }

    fn handle_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish(msg, reply) => match self.session.publish(msg) {
                Ok(id) => {
                    self.publishes.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Command::Subscribe(filters, props, reply) => {
                match self.session.subscribe(filters, props) {
                    Ok(id) => {
                        self.subscribes.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Unsubscribe(filters, user, reply) => {
                match self.session.unsubscribe(filters, user) {
                    Ok(id) => {
                        self.unsubscribes.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Request(msg, reply) => self.start_request(msg, reply),
            Command::Reauthenticate(reply) => self.start_reauth(reply),
            Command::Disconnect {
                reason_code,
                session_expiry,
                reply,
            } => {
                self.user_disconnect = true;
                self.disconnect_replies.push(reply);
                self.session
                    .disconnect(reason_code, session_expiry, AckProperties::default());
            }
        }
    }

    /// AUTH 0x19 with the authenticator's first data; `reply` waits for AUTH 0x00.
    fn start_reauth(&mut self, reply: Reply<()>) {
        if self.reauth_reply.is_some() {
            let _ = reply.send(Err(ClientError::Unsupported(
                "a re-authentication is already in progress",
            )));
            return;
        }
        let Some(a) = self.authenticator.as_mut() else {
            let _ = reply.send(Err(ClientError::Unsupported(
                "re-authentication needs an authenticator",
            )));
            return;
        };
        let data = a.initial_data();
        match self.session.reauthenticate(data) {
            Ok(()) => self.reauth_reply = Some(reply),
            Err(e) => {
                let _ = reply.send(Err(e.into()));
            }
        }
    }

    /// The server's acceptance (CONNACK 0x00 or AUTH 0x00): the authenticator checks its data;
    /// on failure the client leaves with DISCONNECT 0x87 and stops with the reason.
    fn judge_success(&mut self, data: Option<&[u8]>) -> Result<(), ClientError> {
        let Some(a) = self.authenticator.as_mut() else {
            return Ok(());
        };
        a.success(data).map_err(|e| {
            let err = ClientError::Auth(e);
            self.stop = Some(err.clone());
            self.session
                .disconnect(ReasonCode::NotAuthorized, None, AckProperties::default());
            err
        })
    }

    fn start_request(&mut self, mut msg: OutgoingMessage, reply: Reply<Message>) {
        if self.session.config().version != ProtocolVersion::V5 {
            let _ = reply.send(Err(ClientError::Unsupported(
                "request/response needs MQTT 5.0",
            )));
            return;
        }
        let topic = match &self.response_topic {
            Some(t) => t.clone(),
            None => {
                let t = format!("mqttref/response/{:016x}", self.rng.next_u64());
                // Subscribed before the request goes out: the server handles our packets in
                // order, so the response cannot overtake the subscription.
                let filter = SubscribeFilter::new(t.clone(), QoS::AtLeastOnce);
                if let Err(e) = self
                    .session
                    .subscribe(vec![filter], SubscribeProperties::default())
                {
                    let _ = reply.send(Err(e.into()));
                    return;
                }
                self.response_topic = Some(t.clone());
                t
            }
        };
        self.next_correlation += 1;
        let correlation = self.next_correlation.to_be_bytes().to_vec();
        msg.properties.response_topic = Some(topic);
        msg.properties.correlation_data = Some(correlation.clone());
        match self.session.publish(msg) {
            Ok(_) => {
                self.requests.insert(correlation, reply);
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
            }
        }
    }

    /// Handles every pending session event; returns whether there was any.
    fn drain_events(&mut self) -> bool {
        let mut any = false;
        while let Some(event) = self.session.poll_event() {
            any = true;
            match event {
                Event::Connected(info) => {
                    tracing::debug!(session_present = info.session_present, "connected");
                    if self
                        .judge_success(info.authentication_data.as_deref())
                        .is_err()
                    {
                        // `finish` answers the first connect with the error.
                        continue;
                    }
                    self.connected_this_round = true;
                    if let Some(first) = self.first_connect.take() {
                        let _ = first.send(Ok(info.clone()));
                    }
                    let _ = self.state.send(ConnectionState::Connected(Box::new(info)));
                }
                Event::Message(m) => {
                    let correlated = m
                        .properties
                        .correlation_data
                        .as_ref()
                        .and_then(|c| self.requests.remove(c));
                    match correlated {
                        Some(reply) => {
                            let _ = reply.send(Ok(m));
                        }
                        None => self.pending_messages.push_back(m),
                    }
                }
                Event::PublishComplete {
                    id,
                    reason_code,
                    properties,
                } => {
                    if let Some(reply) = self.publishes.remove(&id) {
                        let _ = reply.send(Ok(PublishOutcome {
                            reason_code,
                            properties,
                        }));
                    }
                }
                Event::SubscribeComplete {
                    id,
                    reason_codes,
                    properties,
                } => {
                    if let Some(reply) = self.subscribes.remove(&id) {
                        let _ = reply.send(Ok(SubscribeOutcome {
                            reason_codes,
                            properties,
                        }));
                    }
                }
                Event::UnsubscribeComplete {
                    id,
                    reason_codes,
                    properties,
                } => {
                    if let Some(reply) = self.unsubscribes.remove(&id) {
                        let _ = reply.send(Ok(SubscribeOutcome {
                            reason_codes,
                            properties,
                        }));
                    }
                }
                Event::AuthChallenge { data, .. } => {
                    let answer = match self.authenticator.as_mut() {
                        Some(a) => a.step(data.as_deref()),
                        None => Err("no authenticator configured".into()),
                    };
                    match answer {
                        Ok(response) => {
                            let _ = self.session.auth_continue(response);
                        }
                        Err(e) => {
                            self.stop = Some(ClientError::Auth(e));
                            self.session.disconnect(
                                ReasonCode::NotAuthorized,
                                None,
                                AckProperties::default(),
                            );
                        }
                    }
                }
                Event::Reauthenticated { data } => {
                    let outcome = self.judge_success(data.as_deref());
                    if let Some(reply) = self.reauth_reply.take() {
                        let _ = reply.send(outcome);
                    }
                }
                Event::Disconnected(reason) => self.on_disconnected(&reason),
                other => tracing::debug!(?other, "unhandled session event"),
            }
        }
        any
    }

    fn on_disconnected(&mut self, reason: &DisconnectReason) {
        let text = ClientError::describe(reason);
        if let Some(reply) = self.reauth_reply.take() {
            let _ = reply.send(Err(ClientError::Disconnected(text.clone())));
        }
        tracing::debug!(%text, "connection ended");
        if let DisconnectReason::Refused {
            reason_code,
            connack,
        } = reason
        {
            let retryable = matches!(
                reason_code,
                ReasonCode::ServerUnavailable
                    | ReasonCode::ServerBusy
                    | ReasonCode::ConnectionRateExceeded
                    | ReasonCode::QuotaExceeded
                    | ReasonCode::UnspecifiedError
            );
            if self.first_connect.is_some() || !retryable {
                self.stop.get_or_insert(ClientError::Refused {
                    reason_code: *reason_code,
                    reason_string: connack.reason_string.clone(),
                });
            }
        }
        if matches!(reason, DisconnectReason::ConnectTimeout)
            && self.first_connect.is_some()
            && !self.retry_initial_connect
        {
            self.stop.get_or_insert(ClientError::ConnectTimeout);
        }
        let _ = self
            .state
            .send(ConnectionState::Reconnecting { reason: text });
    }

    /// The client stops: every waiter gets an answer, the state says closed.
    fn finish(mut self, error: ClientError) {
        tracing::debug!(%error, "client stopped");
        if let Some(first) = self.first_connect.take() {
            let _ = first.send(Err(error.clone()));
        }
        fn lost<T>(error: &ClientError) -> Result<T, ClientError> {
            Err(ClientError::Disconnected(error.to_string()))
        }
        for (_, r) in std::mem::take(&mut self.publishes) {
            let _ = r.send(lost(&error));
        }
        for (_, r) in std::mem::take(&mut self.subscribes) {
            let _ = r.send(lost(&error));
        }
        for (_, r) in std::mem::take(&mut self.unsubscribes) {
            let _ = r.send(lost(&error));
        }
        for (_, r) in std::mem::take(&mut self.requests) {
            let _ = r.send(lost(&error));
        }
        for r in self.disconnect_replies.drain(..) {
            let _ = r.send(Ok(()));
        }
        // Hand over what was received; a reader that is not there loses nothing it wanted.
        for m in self.pending_messages.drain(..) {
            if self.messages.try_send(m).is_err() {
                break;
            }
        }
        let _ = self.state.send(ConnectionState::Closed {
            reason: error.to_string(),
        });
        // Commands still queued get `Closed` when their reply sender drops with `self`.
    }
}

/// Writes and flushes `bytes`; fails with `TimedOut` when a single write or the flush makes no
/// progress within `bound` (the stream is then abandoned, so a partial write does no harm).
async fn write_all<W: AsyncWrite + Unpin>(
    w: &mut W,
    mut bytes: &[u8],
    bound: Duration,
) -> std::io::Result<()> {
    let stalled = || {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no progress for {} ms", bound.as_millis()),
        )
    };
    while !bytes.is_empty() {
        let n = tokio::time::timeout(bound, w.write(bytes))
            .await
            .map_err(|_| stalled())??;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        bytes = bytes.get(n..).unwrap_or(&[]);
    }
    tokio::time::timeout(bound, w.flush())
        .await
        .map_err(|_| stalled())?
}

/// Reads and discards until end of stream or an error.
async fn drain_until_eof<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) {
    while let Ok(n) = r.read(buf).await {
        if n == 0 {
            break;
        }
    }
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
