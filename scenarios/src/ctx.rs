//! `Ctx`, what a scenario body gets: the target, unique names, connections whose transcripts
//! become evidence, recorded choices, retained-message cleanup, and the assertion helpers every
//! scenario needs (on [`Client`]).

use crate::caps::Capabilities;
use crate::fail::Fail;
use crate::target::TargetFile;
use crate::wire::{self, Connack};
use raw_client::build;
use raw_client::ProtocolVersion;
use raw_client::{ExpectError, RawClient, RawError, Received};
use spec_manifest::Version;
use std::collections::{BTreeMap, VecDeque};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long helpers wait for a packet the target must send.
pub const EXPECT: Duration = Duration::from_secs(2);
/// How long helpers watch for a packet that must not come.
pub const QUIET: Duration = Duration::from_millis(400);

/// The transcript of one client, kept as evidence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    /// The label the scenario gave the client.
    pub label: String,
    /// The rendered transcript (hex and decoded, one entry per line).
    pub transcript: String,
}

/// A PUBLISH a client of the scenario received though no subscription of the scenario matches
/// its topic and the topic is outside the scenario's own space: cross-talk from the broker's
/// shared state (MQTT-3.3.2-3). The helpers acknowledge it as its QoS requires and set it aside,
/// so that the scenario judges only its own traffic; the run reports it once, as its own finding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Foreign {
    /// The label of the client that received it.
    pub client: String,
    /// Its topic name.
    pub topic: String,
    /// The packet, rendered.
    pub packet: String,
}

/// What a scenario run leaves behind besides its outcome; shared with its clients so a client
/// dropped anywhere (end of body, timeout, panic) still files its transcript.
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub(crate) evidence: Mutex<Vec<Evidence>>,
    pub(crate) choices: Mutex<Vec<String>>,
    /// Foreign PUBLISHes received by any client of the scenario (cleanup included).
    pub(crate) foreign: Mutex<Vec<Foreign>>,
    /// Every topic filter a client of the scenario has sent in a SUBSCRIBE: a PUBLISH matching
    /// one of them is the scenario's own, whatever its topic.
    pub(crate) filters: Mutex<Vec<String>>,
    /// Set by [`Ctx::under_test`]: from then on the setup helpers' failures are failures.
    pub(crate) under_test: AtomicBool,
}

impl Record {
    /// `f`, met in a setup helper: blocked (naming `statement`, the one the failure breaks)
    /// unless the scenario has reached its step under test.
    fn setup(&self, f: Fail, statement: Option<&str>) -> Fail {
        if self.under_test.load(Ordering::Relaxed) {
            f
        } else {
            f.setup(statement)
        }
    }
}

impl Record {
    fn push_choice(&self, choice: String) {
        lock(&self.choices).push(choice);
    }
}

/// Locks ignoring poisoning: a panicking scenario must not hide its evidence.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What every scenario of one run shares: where the target is and what it can do.
#[derive(Debug)]
pub(crate) struct TargetInfo {
    pub(crate) host_port: String,
    /// TCP or TLS.
    pub(crate) connector: raw_client::Connector,
    pub(crate) file: TargetFile,
    /// Capabilities per protocol version.
    pub(crate) caps: BTreeMap<Version, Capabilities>,
    /// A short token unique to this run (alphanumeric).
    pub(crate) run_token: String,
    /// The client under test, in a client-role run.
    pub(crate) adapter: Option<Arc<dyn crate::adapter::ClientAdapter>>,
}

/// The context of one scenario run.
pub struct Ctx {
    pub(crate) target: Arc<TargetInfo>,
    version: Version,
    /// Alphanumeric prefix unique to this scenario run: run token + scenario sequence number.
    prefix: String,
    client_ids: BTreeMap<String, String>,
    retained: Vec<String>,
    pub(crate) record: Arc<Record>,
}

impl Ctx {
    pub(crate) fn new(target: Arc<TargetInfo>, version: Version, seq: usize) -> Ctx {
        let prefix = format!("{}{}", target.run_token, base36(seq as u64, 3));
        Ctx {
            target,
            version,
            prefix,
            client_ids: BTreeMap::new(),
            retained: Vec::new(),
            record: Arc::default(),
        }
    }

    /// The protocol version this scenario speaks.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The same, as the core and the raw client name it.
    pub fn protocol(&self) -> ProtocolVersion {
        protocol(self.version)
    }

    /// Whether this is a 5.0 scenario.
    pub fn is_v5(&self) -> bool {
        self.version == Version::V5_0
    }

    /// `host:port` of the target.
    pub fn address(&self) -> &str {
        &self.target.host_port
    }

    /// The target's capabilities for this version (CONNACK probe + target file).
    pub fn caps(&self) -> &Capabilities {
        self.target
            .caps
            .get(&self.version)
            .expect("the runner probes every version it runs")
    }

    /// The target file (limits, refused topic, credentials); empty when none was given.
    pub fn target_file(&self) -> &TargetFile {
        &self.target.file
    }

    /// A client identifier unique to this scenario run, the same for the same `label` (so a
    /// scenario can reconnect as the same client). At most 23 characters of `[0-9a-zA-Z]`,
    /// which every server must accept (MQTT-3.1.3-5 in 3.1.1 and 5.0).
    pub fn client_id(&mut self, label: &str) -> String {
        if let Some(id) = self.client_ids.get(label) {
            return id.clone();
        }
        let n = base36(self.client_ids.len() as u64, 2);
        let mut id = format!("{}{n}", self.prefix);
        id.extend(
            label
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(23 - id.len().min(23)),
        );
        self.client_ids.insert(label.to_string(), id.clone());
        id
    }

    /// A topic (or filter) under a prefix unique to this scenario run: `topic("a/b")` gives
    /// `mqttconf/<run>/a/b`. Wildcards in `path` stay wildcards.
    pub fn topic(&self, path: &str) -> String {
        format!("mqttconf/{}/{path}", self.prefix)
    }

    /// `mqttconf/<run>/`: the start of every topic of [`Ctx::topic`].
    fn topic_space(&self) -> String {
        format!("mqttconf/{}/", self.prefix)
    }

    /// Registers a topic this scenario sets a retained message on; the runner clears it (an empty
    /// retained PUBLISH) when the scenario ends, whatever the outcome.
    pub fn retained(&mut self, topic: &str) {
        if !self.retained.iter().any(|t| t == topic) {
            self.retained.push(topic.to_string());
        }
    }

    /// Records which of the options the spec allows the target took (a MAY, or "close, or
    /// DISCONNECT then close"). Reported, never judged.
    pub fn choice(&self, what: impl Into<String>) {
        self.record.push_choice(what.into());
    }

    /// Marks the step under test: from here on a failure of the setup helpers (`connected`,
    /// `session`, `subscribed`, ...) fails the scenario's statements instead of blocking them.
    /// Call it before a setup helper that is itself the check (a second `connected` that must
    /// take over the first). Before it, those helpers' failures are `blocked`.
    pub fn under_test(&self) {
        self.record.under_test.store(true, Ordering::Relaxed);
    }

    /// Ends the scenario as skipped: `return Err(ctx.skip("..."))`.
    pub fn skip(&self, reason: impl Into<String>) -> Fail {
        Fail::skip(reason)
    }

    /// Opens a connection (TCP, or TLS for an `mqtts://` target) to the target, without
    /// sending anything. Its transcript becomes
    /// evidence if the scenario fails.
    pub async fn connect(&self, label: &str) -> Result<Client, Fail> {
        let raw = RawClient::connect(
            &self.target.host_port,
            &self.target.connector,
            self.protocol(),
            label,
        )
        .await
        .map_err(|e| {
            self.record.setup(
                Fail::new(
                    format!("a connection to {}", self.target.host_port),
                    e.to_string(),
                ),
                None,
            )
        })?;
        let mut client = Client::new(raw, self.version, Some(self.record.clone()));
        client.topic_space = Some(self.topic_space());
        Ok(client)
    }

    /// The CONNECT `ctx.connected` sends for `label`: this version, the label's client id, Clean
    /// Start, keep alive 30 s, and the target file's credentials.
    pub fn connect_packet(&mut self, label: &str) -> build::Connect {
        let id = self.client_id(label);
        let mut c = build::Connect::new(self.protocol(), id);
        if let Some(cred) = &self.target.file.credentials {
            if let Some(u) = &cred.username {
                c = c.username(u);
            }
            if let Some(p) = &cred.password {
                c = c.password(p);
            }
        }
        c
    }

    /// Connects, sends the CONNECT of [`Ctx::connect_packet`] as changed by `edit`, and expects a
    /// CONNACK with Success (5.0) / return code 0 (3.1.1). The CONNACK is in `client.connack`.
    ///
    /// A setup helper: before [`Ctx::under_test`], its failure blocks the scenario. No CONNACK
    /// (nothing, a close, another packet) breaks MQTT-3.1.4-5 (3.1.1: MQTT-3.1.4-4), a valid
    /// CONNECT answered with CONNACK 0x00; a refusal names no statement, since a broker may
    /// refuse (authorisation, a limit).
    pub async fn connected(
        &mut self,
        label: &str,
        edit: impl FnOnce(build::Connect) -> build::Connect,
    ) -> Result<Client, Fail> {
        let packet = edit(self.connect_packet(label)).build();
        let mut client = self.connect(label).await?;
        let no_connack = if self.is_v5() {
            "MQTT-3.1.4-5"
        } else {
            "MQTT-3.1.4-4"
        };
        client
            .send_bytes(&packet)
            .await
            .map_err(|e| self.record.setup(e.into(), Some(no_connack)))?;
        if let Err(f) = client.expect_connack(0).await {
            let f = f.context("after a valid CONNECT");
            let refused = client.connack.is_some() || f.got().starts_with("CONNACK");
            return Err(self.record.setup(f, (!refused).then_some(no_connack)));
        }
        Ok(client)
    }

    /// Ends any persistent session of `label`: connects it with Clean Start (3.1.1: Clean
    /// Session) 1, which in 5.0 also means Session Expiry 0, then DISCONNECTs.
    pub async fn end_session(&mut self, label: &str) -> Result<(), Fail> {
        let mut c = self
            .connected(label, |c| c.clean_start(true))
            .await
            .map_err(|f| f.context("ending the session"))?;
        c.disconnect().await
    }

    /// 5.0: connects `label` with Clean Start `clean` and Session Expiry `expiry` seconds
    /// (CONNACK success required).
    pub async fn session(&mut self, label: &str, clean: bool, expiry: u32) -> Result<Client, Fail> {
        self.connected(label, |c| {
            c.clean_start(clean)
                .property(build::prop::session_expiry_interval(expiry))
        })
        .await
    }

    /// 5.0: reconnects `label` with Clean Start 0 and Session Expiry `expiry` seconds to resume
    /// the session an earlier connection of the scenario left, and requires Session Present 1.
    ///
    /// A setup helper: before [`Ctx::under_test`], Session Present 0 blocks the scenario, naming
    /// MQTT-3.1.2-5 (resume the existing session), unless the scenario checks that statement
    /// itself. A scenario that checks what a resumed session does (resends, queued messages,
    /// a suppressed Will) has nothing to check without one: judging it would blame its own
    /// statements for a session that was not kept, or pass it vacuously ("nothing resent").
    pub async fn resumed(&mut self, label: &str, expiry: u32) -> Result<Client, Fail> {
        let c = self.session(label, false, expiry).await?;
        if c.connack.as_ref().is_some_and(|a| a.flags & 1 == 1) {
            return Ok(c);
        }
        Err(self.record.setup(
            Fail::new(
                format!(
                    "CONNACK Session Present 1 (Clean Start 0 within the Session Expiry {expiry} s                      of the earlier connection)"
                ),
                "Session Present 0",
            ),
            Some("MQTT-3.1.2-5"),
        ))
    }

    /// Clears the registered retained messages with a separate connection (not evidence).
    ///
    /// Robust against a broker that sends this connection PUBLISHes it never subscribed to
    /// (amqtt sends, on every CONNECT, the retained messages matching any client's
    /// subscriptions): each is acknowledged as its QoS requires and skipped (and, outside the
    /// scenario's topics, recorded as cross-talk); a failed attempt is retried on a new
    /// connection. Whatever is left failing is the runner's run-level warning.
    pub(crate) async fn clear_retained(&mut self) -> Result<(), Fail> {
        let mut topics = std::mem::take(&mut self.retained);
        let mut last = None;
        for _attempt in 0..CLEANUP_ATTEMPTS {
            if topics.is_empty() {
                return Ok(());
            }
            match self.clear_once(&mut topics).await {
                Ok(()) => return Ok(()),
                Err(f) => last = Some(f),
            }
        }
        let f = last.unwrap_or_else(|| Fail::new("the cleanup to end", "no attempt made"));
        Err(Fail::new(
            format!(
                "retained messages cleared on {} ({} attempts)",
                topics.join(", "),
                CLEANUP_ATTEMPTS
            ),
            format!("last attempt: expected {}; got {}", f.expected(), f.got()),
        ))
    }

    /// One cleanup connection: clears the topics in order, removing each one cleared.
    async fn clear_once(&mut self, topics: &mut Vec<String>) -> Result<(), Fail> {
        let packet = self.connect_packet("cleanup").build();
        let raw = RawClient::connect(
            &self.target.host_port,
            &self.target.connector,
            self.protocol(),
            "cleanup",
        )
        .await
        .map_err(|e| Fail::new("a cleanup connection", e.to_string()))?;
        let mut client = Client::new(raw, self.version, Some(self.record.clone()));
        client.file_evidence = false;
        client.topic_space = Some(self.topic_space());
        client.send_bytes(&packet).await?;
        client.skip_publishes_until(2, None).await?;
        while let Some(topic) = topics.first().cloned() {
            let id = client.packet_id();
            let p = build::Publish::new(client.version(), &topic, b"")
                .qos(1)
                .retain(true)
                .packet_id(id);
            client.send_bytes(&p.build()).await?;
            client.skip_publishes_until(4, Some(id)).await?;
            topics.remove(0);
        }
        client.disconnect().await
    }
}

/// How many connections the retained-message cleanup tries before giving up.
const CLEANUP_ATTEMPTS: usize = 3;

/// The version as the core names it.
pub fn protocol(v: Version) -> ProtocolVersion {
    match v {
        Version::V5_0 => ProtocolVersion::V5,
        Version::V3_1_1 => ProtocolVersion::V3_1_1,
    }
}

fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(out).unwrap_or_default()
}

/// A short token for a run: base36 of the clock and the process id.
pub(crate) fn run_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    base36(
        nanos
            .wrapping_mul(31)
            .wrapping_add(u64::from(std::process::id())),
        5,
    )
}

/// How the target may end a connection, for [`Client::expect_closed`].
///
/// ```
/// use scenarios::Closing;
/// let _ = Closing::silently(); // close, nothing before it
/// let _ = Closing::silently().or_disconnect(&[0x82]); // 5.0: or DISCONNECT 0x82 then close
/// let _ = Closing::silently().or_connack(&[0x81]); // 5.0: or CONNACK 0x81 then close
/// let _ = Closing::disconnect(&[0x8E]); // DISCONNECT 0x8E required
/// ```
#[derive(Debug, Clone, Default)]
pub struct Closing {
    silent: bool,
    disconnect: Vec<u8>,
    connack: Vec<u8>,
}

impl Closing {
    /// The connection closes with no packet before it.
    pub fn silently() -> Closing {
        Closing {
            silent: true,
            ..Closing::default()
        }
    }

    /// A DISCONNECT with one of `reasons`, then the close.
    pub fn disconnect(reasons: &[u8]) -> Closing {
        Closing {
            disconnect: reasons.to_vec(),
            ..Closing::default()
        }
    }

    /// A CONNACK with one of `codes`, then the close.
    pub fn connack(codes: &[u8]) -> Closing {
        Closing {
            connack: codes.to_vec(),
            ..Closing::default()
        }
    }

    /// Also allows a DISCONNECT with one of `reasons` before the close.
    #[must_use]
    pub fn or_disconnect(mut self, reasons: &[u8]) -> Closing {
        self.disconnect.extend_from_slice(reasons);
        self
    }

    /// Also allows a CONNACK with one of `codes` before the close.
    #[must_use]
    pub fn or_connack(mut self, codes: &[u8]) -> Closing {
        self.connack.extend_from_slice(codes);
        self
    }

    fn options(&self) -> usize {
        usize::from(self.silent) + self.disconnect.len() + self.connack.len()
    }

    fn describe(&self, v5: bool) -> String {
        let mut parts = Vec::new();
        if self.silent {
            parts.push("the connection closed with no packet before it".to_string());
        }
        let codes = |list: &[u8], v5| {
            list.iter()
                .map(|&c| code_text(c, v5))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        if !self.connack.is_empty() {
            parts.push(format!("CONNACK {} then close", codes(&self.connack, v5)));
        }
        if !self.disconnect.is_empty() {
            parts.push(format!(
                "DISCONNECT {} then close",
                codes(&self.disconnect, true)
            ));
        }
        parts.join(", or ")
    }
}

fn code_text(code: u8, v5: bool) -> String {
    if v5 {
        format!("0x{code:02X} ({})", wire::reason_name(code))
    } else {
        format!("{code} ({})", wire::return_code_name(code))
    }
}

/// A raw client whose transcript is filed as evidence when it is dropped, plus the helpers that
/// check what the target sends. Derefs to [`RawClient`] for everything else (`send_bytes`,
/// `recv`, `expect`, `expect_nothing`, ...).
pub struct Client {
    raw: Option<RawClient>,
    v5: bool,
    record: Option<Arc<Record>>,
    next_packet_id: u16,
    /// How long helpers wait for a packet (default [`EXPECT`]).
    pub timeout: Duration,
    /// How long "nothing arrives" helpers watch (default [`QUIET`]).
    pub quiet: Duration,
    /// The CONNACK received by `expect_connack` (or `ctx.connected`).
    pub connack: Option<Connack>,
    /// PUBLISH frames that arrived while a helper waited for something else: the PUBREL of an
    /// earlier QoS 2 flow in [`Client::expect_publish`] (kept unacknowledged), or a reply such as
    /// SUBACK, PUBACK or PINGRESP (acknowledged at once: `true`). The next read helper returns
    /// them first.
    ahead: VecDeque<(Vec<u8>, bool)>,
    /// Packet identifiers of PUBLISHes that were acknowledged while kept in `ahead` and have
    /// since been handed to the scenario: the next acknowledgement of that id is not sent again.
    pre_acked: Vec<u16>,
    /// QoS 2 PUBLISHes kept in `ahead` whose PUBREC went out and whose PUBREL has not come.
    pubrel_due: Vec<u16>,
    /// `mqttconf/<run>/`: a PUBLISH outside it, matching no filter of the scenario, is foreign.
    /// `None`: no such check (a client made outside a scenario, as in unit tests).
    topic_space: Option<String>,
    /// Whether the transcript is filed as evidence when dropped (not for the cleanup).
    file_evidence: bool,
    /// QoS 2 foreign PUBLISHes answered with PUBREC whose PUBREL is still to be answered.
    foreign_pubrel: Vec<u16>,
}

impl Deref for Client {
    type Target = RawClient;
    fn deref(&self) -> &RawClient {
        self.raw.as_ref().expect("present until drop")
    }
}

impl DerefMut for Client {
    fn deref_mut(&mut self) -> &mut RawClient {
        self.raw.as_mut().expect("present until drop")
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let (Some(raw), Some(record), true) = (self.raw.take(), &self.record, self.file_evidence)
        {
            lock(&record.evidence).push(Evidence {
                label: raw.label().to_string(),
                transcript: raw.transcript().render(),
            });
        }
    }
}

impl Client {
    pub(crate) fn new(raw: RawClient, version: Version, record: Option<Arc<Record>>) -> Client {
        Client {
            raw: Some(raw),
            v5: version == Version::V5_0,
            record,
            next_packet_id: 0,
            timeout: EXPECT,
            quiet: QUIET,
            connack: None,
            ahead: VecDeque::new(),
            pre_acked: Vec::new(),
            pubrel_due: Vec::new(),
            topic_space: None,
            file_evidence: true,
            foreign_pubrel: Vec::new(),
        }
    }

    fn raw_mut(&mut self) -> &mut RawClient {
        self.raw.as_mut().expect("present until drop")
    }

    /// [`RawClient::send_bytes`], noting the topic filters of a SUBSCRIBE: a PUBLISH matching
    /// one of them is never foreign (see [`Client::recv`]).
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), RawError> {
        if bytes.first().map(|b| b >> 4) == Some(8) {
            if let Some(r) = &self.record {
                lock(&r.filters).extend(wire::subscribe_filters(bytes, self.v5));
            }
        }
        self.raw_mut().send_bytes(bytes).await
    }

    /// [`RawClient::send`] through [`Client::send_bytes`].
    pub async fn send(&mut self, packet: &raw_client::Packet<'_>) -> Result<(), RawError> {
        let bytes = packet
            .encode_to_vec(self.version())
            .map_err(RawError::Encode)?;
        self.send_bytes(&bytes).await
    }

    /// The next packet within `timeout`, like [`RawClient::recv`], except that a foreign
    /// PUBLISH — its topic outside this scenario's `mqttconf/<run>/` and matching no filter any
    /// client of the scenario subscribed to — is acknowledged as its QoS requires (and its
    /// PUBREL answered later), recorded as cross-talk, and skipped. Cancel-safe only between
    /// packets (an acknowledgement may be half written).
    pub async fn recv(&mut self, timeout: Duration) -> Result<Received, ExpectError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let r = match self.raw_mut().recv(left).await {
                Err(ExpectError::Timeout { what, .. }) => {
                    return Err(ExpectError::Timeout {
                        what,
                        waited: timeout,
                    })
                }
                other => other?,
            };
            if !self.absorb_foreign(&r).await? {
                return Ok(r);
            }
        }
    }

    /// Nothing but foreign PUBLISHes (see [`Client::recv`]) arrives, and the connection stays
    /// open, for `within`.
    pub async fn expect_nothing(&mut self, within: Duration) -> Result<(), ExpectError> {
        let what = "nothing (connection open)";
        match self.recv(within).await {
            Err(ExpectError::Timeout { .. }) => {
                self.note(format!(
                    "nothing received for {:.3}s, as expected",
                    within.as_secs_f64()
                ));
                Ok(())
            }
            Ok(r) => Err(ExpectError::Unexpected {
                what: what.into(),
                got: format!("{} (a packet arrived)", r.decoded),
            }),
            Err(ExpectError::Closed { .. }) => Err(ExpectError::Closed { what: what.into() }),
            Err(e) => Err(e),
        }
    }

    /// Whether `r` is foreign traffic, handled here: a foreign PUBLISH (acknowledged, recorded)
    /// or the PUBREL of a foreign QoS 2 PUBLISH (answered with PUBCOMP).
    async fn absorb_foreign(&mut self, r: &Received) -> Result<bool, ExpectError> {
        let io = |e: RawError| ExpectError::Io(e.to_string());
        match r.bytes.first().map(|b| b >> 4) {
            Some(3) => {
                let Ok(p) = wire::publish(&r.bytes, self.v5) else {
                    return Ok(false);
                };
                let topic = String::from_utf8_lossy(&p.topic).into_owned();
                if !self.is_foreign(&topic) {
                    return Ok(false);
                }
                self.note(format!(
                    "foreign PUBLISH on {topic:?} (no subscription of this scenario matches): \
                     acknowledged and set aside as cross-talk"
                ));
                if let Some(record) = &self.record {
                    lock(&record.foreign).push(Foreign {
                        client: self.label().to_string(),
                        topic,
                        packet: r.decoded.clone(),
                    });
                }
                let version = self.version();
                match (p.qos, p.packet_id) {
                    (1, Some(id)) => self
                        .send_bytes(&build::Puback::new(version, id).build())
                        .await
                        .map_err(io)?,
                    (2, Some(id)) => {
                        self.foreign_pubrel.push(id);
                        self.send_bytes(&build::Pubrec::new(version, id).build())
                            .await
                            .map_err(io)?;
                    }
                    _ => {}
                }
                Ok(true)
            }
            Some(6) => {
                let Ok((id, _)) = wire::ack(&r.bytes) else {
                    return Ok(false);
                };
                // The PUBREL of a foreign QoS 2 PUBLISH, or of one kept (acknowledged) in
                // `ahead` and not handed to the scenario yet: answered here.
                if let Some(i) = self.foreign_pubrel.iter().position(|&x| x == id) {
                    self.foreign_pubrel.remove(i);
                } else if let Some(i) = self.pubrel_due.iter().position(|&x| x == id) {
                    self.pubrel_due.remove(i);
                } else {
                    return Ok(false);
                }
                let version = self.version();
                self.send_bytes(&build::Pubcomp::new(version, id).build())
                    .await
                    .map_err(io)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether a PUBLISH on `topic` is foreign to the scenario (see [`Client::recv`]). An empty
    /// topic (5.0 Topic Alias) cannot be judged and is not.
    fn is_foreign(&self, topic: &str) -> bool {
        let Some(space) = &self.topic_space else {
            return false;
        };
        if topic.is_empty() || topic.starts_with(space.as_str()) {
            return false;
        }
        let Some(record) = &self.record else {
            return true;
        };
        !lock(&record.filters)
            .iter()
            .any(|f| wire::topic_matches(f, topic))
    }

    /// Reads until a packet of `packet_type` (for `id`, if given) arrives, acknowledging every
    /// PUBLISH on the way as its QoS requires (and answering the PUBRELs of QoS 2 ones): for a
    /// connection that wants no messages, such as the retained-message cleanup.
    async fn skip_publishes_until(&mut self, packet_type: u8, id: Option<u16>) -> Result<(), Fail> {
        let what = match id {
            Some(id) => format!(
                "{} for packet identifier {id}",
                wire::type_name(packet_type << 4)
            ),
            None => wire::type_name(packet_type << 4).to_string(),
        };
        let mut pubrel = Vec::new();
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let got = match self.recv(left).await {
                Ok(r) => r.bytes,
                Err(e) => return Err(Fail::from(e).with_expected(&what)),
            };
            let ty = got.first().map_or(0, |b| b >> 4);
            if ty == 3 {
                if let Ok(p) = wire::publish(&got, self.v5) {
                    pubrel.extend(self.answer_publish(&p).await?);
                }
                continue;
            }
            if ty == 6 {
                if let Ok((rid, _)) = wire::ack(&got) {
                    if pubrel.contains(&rid) {
                        pubrel.retain(|&x| x != rid);
                        let pubcomp = build::Pubcomp::new(self.version(), rid).build();
                        self.send_bytes(&pubcomp).await?;
                        continue;
                    }
                }
            }
            if ty != packet_type {
                return Err(Fail::new(what, wire::describe(&got)));
            }
            if packet_type == 2 {
                let ack = wire::connack(&got, self.v5).map_err(|e| {
                    Fail::new(what.clone(), format!("{}: {e}", wire::describe(&got)))
                })?;
                if ack.code != 0 {
                    return Err(Fail::new(
                        "CONNACK 0x00",
                        format!("CONNACK {}", code_text(ack.code, self.v5)),
                    ));
                }
                return Ok(());
            }
            match (id, wire::ack(&got)) {
                (None, _) => return Ok(()),
                (Some(id), Ok((got_id, _))) if got_id == id => return Ok(()),
                _ => return Err(Fail::new(what, wire::describe(&got))),
            }
        }
    }

    fn choice(&self, what: String) {
        if let Some(r) = &self.record {
            r.push_choice(what);
        }
    }

    /// A fresh packet identifier (1, 2, ...; never 0).
    pub fn packet_id(&mut self) -> u16 {
        self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
        self.next_packet_id
    }

    /// Waits for the next packet and requires a CONNACK with `code` (5.0 Reason Code, 3.1.1
    /// return code). Keeps it in `self.connack`.
    pub async fn expect_connack(&mut self, code: u8) -> Result<Connack, Fail> {
        let v5 = self.v5;
        let expected = format!("CONNACK {}", code_text(code, v5));
        let got = self.raw_next(&expected).await?;
        let ack = wire::connack(&got, v5)
            .map_err(|e| Fail::new(expected.clone(), format!("{}: {e}", wire::describe(&got))))?;
        if ack.code != code {
            return Err(Fail::new(
                expected,
                format!("CONNACK {}", code_text(ack.code, v5)),
            ));
        }
        self.connack = Some(ack.clone());
        Ok(ack)
    }

    /// Waits for the next packet and requires its type to be `packet_type` (a
    /// `raw_client::build::packet_type` constant); returns its bytes.
    ///
    /// For a reply the server may precede with PUBLISHes — PUBACK, PUBREC, PUBCOMP, SUBACK,
    /// UNSUBACK, PINGRESP (5.0 and 3.1.1 section 3.8.4: the server may send PUBLISHes before the
    /// SUBACK) — a PUBLISH in between is acknowledged as its QoS requires and kept for the next
    /// read helper (`expect_publish`, `next_publish`, `collect`, ...; `expect_silence` fails on
    /// it), which then does not acknowledge it again.
    pub async fn expect_type(&mut self, packet_type: u8) -> Result<Vec<u8>, Fail> {
        let expected = wire::type_name(packet_type << 4).to_string();
        if matches!(packet_type, 4 | 5 | 7 | 9 | 11 | 13) {
            return self.expect_reply(packet_type, &expected).await;
        }
        let got = self.raw_next(&expected).await?;
        if got.first().map(|b| b >> 4) != Some(packet_type) {
            return Err(Fail::new(expected, wire::describe(&got)));
        }
        Ok(got)
    }

    /// Waits (within `self.timeout`) for a reply of `packet_type`, keeping and acknowledging the
    /// PUBLISHes that come first (see [`Client::expect_type`]). Read from the connection only:
    /// what `ahead` holds is all PUBLISHes.
    async fn expect_reply(&mut self, packet_type: u8, expected: &str) -> Result<Vec<u8>, Fail> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let got = match self.recv(left).await {
                Ok(r) => r.bytes,
                Err(e) => return Err(Fail::from(e).with_expected(expected)),
            };
            let ty = got.first().map_or(0, |b| b >> 4);
            if ty == packet_type {
                return Ok(got);
            }
            let publish = (ty == 3)
                .then(|| wire::publish(&got, self.v5).ok())
                .flatten();
            let Some(p) = publish else {
                return Err(Fail::new(expected, wire::describe(&got)));
            };
            self.note(format!(
                "a PUBLISH before the {expected} (allowed): acknowledged and kept for the \
                 scenario's next read"
            ));
            let version = self.version();
            match (p.qos, p.packet_id) {
                (1, Some(id)) => {
                    self.send_bytes(&build::Puback::new(version, id).build())
                        .await?
                }
                (2, Some(id)) => {
                    self.pubrel_due.push(id);
                    self.send_bytes(&build::Pubrec::new(version, id).build())
                        .await?;
                }
                _ => {}
            }
            self.ahead.push_back((got, true));
        }
    }

    /// The first PUBLISH kept in `ahead`; one acknowledged when kept is noted in `pre_acked`.
    fn pop_ahead(&mut self) -> Option<Vec<u8>> {
        let (bytes, acked) = self.ahead.pop_front()?;
        if acked {
            if let Ok(Some(id)) = wire::publish(&bytes, self.v5).map(|p| p.packet_id) {
                self.pre_acked.push(id);
            }
        }
        Some(bytes)
    }

    /// The next packet's bytes, within `self.timeout` (a PUBLISH read ahead first).
    async fn raw_next(&mut self, what: &str) -> Result<Vec<u8>, Fail> {
        if let Some(bytes) = self.pop_ahead() {
            return Ok(bytes);
        }
        let timeout = self.timeout;
        match self.recv(timeout).await {
            Ok(r) => Ok(r.bytes),
            Err(e) => Err(Fail::from(e).with_expected(what)),
        }
    }

    /// Requires the target to close the connection (within `self.timeout`) in one of the ways
    /// `how` allows. Where more than one way is allowed the one taken is recorded as a choice.
    pub async fn expect_closed(&mut self, how: Closing) -> Result<(), Fail> {
        let v5 = self.v5;
        let expected = how.describe(v5);
        let timeout = self.timeout;
        // Read packet by packet (rather than `expect_close`) so that a connection left open is
        // reported with what did arrive.
        let deadline = tokio::time::Instant::now() + timeout;
        let mut before: Vec<Vec<u8>> = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await {
                Ok(r) => before.push(r.bytes),
                Err(ExpectError::Closed { .. }) => break,
                Err(ExpectError::Timeout { .. }) => {
                    let got = if before.is_empty() {
                        "nothing".to_string()
                    } else {
                        before
                            .iter()
                            .map(|b| wire::describe(b))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    return Err(Fail::new(
                        expected,
                        format!(
                            "{got}; the connection still open after {} ms",
                            timeout.as_millis()
                        ),
                    ));
                }
                Err(e) => return Err(Fail::from(e).with_expected(&expected)),
            }
        }
        let mut taken = None;
        match before.as_slice() {
            [] if how.silent => {
                taken = Some("closed the connection with no packet before it".to_string())
            }
            [one] => {
                let ty = one.first().map_or(0, |b| b >> 4);
                if ty == 2 {
                    if let Ok(ack) = wire::connack(one, v5) {
                        if how.connack.contains(&ack.code) {
                            taken = Some(format!(
                                "sent CONNACK {}, then closed",
                                code_text(ack.code, v5)
                            ));
                        }
                    }
                } else if ty == 14 {
                    if let Ok(reason) = wire::disconnect_reason(one) {
                        if how.disconnect.contains(&reason) {
                            taken = Some(format!(
                                "sent DISCONNECT {}, then closed",
                                code_text(reason, true)
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
        match taken {
            Some(choice) => {
                if how.options() > 1 {
                    self.choice(choice);
                }
                Ok(())
            }
            None => {
                let got = if before.is_empty() {
                    "the connection closed with no packet before it".to_string()
                } else {
                    let list: Vec<String> = before.iter().map(|b| wire::describe(b)).collect();
                    format!("{} then close", list.join(", "))
                };
                Err(Fail::new(expected, got))
            }
        }
    }

    /// Requires that nothing arrives and the connection stays open for `self.quiet`.
    pub async fn expect_silence(&mut self) -> Result<(), Fail> {
        if let Some((bytes, _)) = self.ahead.front() {
            return Err(Fail::new("nothing", wire::describe(bytes)));
        }
        let quiet = self.quiet;
        self.expect_nothing(quiet).await.map_err(Fail::from)
    }

    /// Subscribes to `filter` with `options` (the subscription options byte: QoS in bits 0-1),
    /// waits for the SUBACK with the same packet identifier, and returns its codes.
    pub async fn subscribe(&mut self, filter: &str, options: u8) -> Result<Vec<u8>, Fail> {
        let id = self.packet_id();
        let version = if self.v5 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V3_1_1
        };
        let packet = build::Subscribe::new(version, id)
            .filter(filter, options)
            .build();
        self.send_bytes(&packet).await?;
        let expected = format!("SUBACK for packet identifier {id}");
        let got = self
            .expect_type(9)
            .await
            .map_err(|f| f.with_expected(&expected))?;
        let (got_id, codes) = wire::suback(&got, self.v5)
            .map_err(|e| Fail::new(expected.clone(), format!("{}: {e}", wire::describe(&got))))?;
        if got_id != id {
            return Err(Fail::new(
                expected,
                format!("SUBACK for packet identifier {got_id}"),
            ));
        }
        Ok(codes)
    }

    /// Like [`Client::subscribe`], and requires the subscription to be granted (code ≤ 2).
    ///
    /// A setup helper: before [`Ctx::under_test`], its failure blocks the scenario. No SUBACK
    /// breaks MQTT-3.8.4-1 (both versions); a refusal names no statement.
    pub async fn subscribed(&mut self, filter: &str, qos: u8) -> Result<u8, Fail> {
        let codes = match self.subscribe(filter, qos).await {
            Ok(codes) => codes,
            Err(f) => return Err(self.setup(f, Some("MQTT-3.8.4-1"))),
        };
        match codes.as_slice() {
            [c] if *c <= 2 => Ok(*c),
            other => Err(self.setup(
                Fail::new(
                    format!("SUBACK granting {filter}"),
                    format!("SUBACK codes {other:02x?}"),
                ),
                None,
            )),
        }
    }

    /// `f` from a setup helper of this client (see [`Ctx::under_test`]).
    fn setup(&self, f: Fail, statement: Option<&str>) -> Fail {
        match &self.record {
            Some(r) => r.setup(f, statement),
            None => f,
        }
    }

    /// Publishes and completes the QoS flow as the sender: QoS 1 waits for PUBACK, QoS 2 for
    /// PUBREC, sends PUBREL and waits for PUBCOMP. Returns the final ack's reason code (0 for
    /// QoS 0).
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
    ) -> Result<u8, Fail> {
        let version = if self.v5 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V3_1_1
        };
        let mut p = build::Publish::new(version, topic, payload)
            .qos(qos)
            .retain(retain);
        let id = if qos > 0 {
            let id = self.packet_id();
            p = p.packet_id(id);
            id
        } else {
            0
        };
        self.send_bytes(&p.build()).await?;
        match qos {
            0 => Ok(0),
            1 => self.expect_ack(4, id).await,
            _ => {
                let code = self.expect_ack(5, id).await?;
                if code >= 0x80 {
                    return Ok(code);
                }
                self.send_bytes(&build::Pubrel::new(version, id).build())
                    .await?;
                self.expect_ack(7, id).await
            }
        }
    }

    async fn expect_ack(&mut self, packet_type: u8, id: u16) -> Result<u8, Fail> {
        Ok(self.ack_of(packet_type, id, Fail::with_expected).await?.1)
    }

    /// The next packet must be `packet_type` for `id`; `step` says how a wrong packet type's
    /// failure names the expected acknowledgement.
    async fn ack_of(
        &mut self,
        packet_type: u8,
        id: u16,
        step: fn(Fail, &str) -> Fail,
    ) -> Result<(Vec<u8>, u8), Fail> {
        let expected = format!(
            "{} for packet identifier {id}",
            wire::type_name(packet_type << 4)
        );
        let got = self
            .expect_type(packet_type)
            .await
            .map_err(|f| step(f, &expected))?;
        let (got_id, code) = wire::ack(&got)
            .map_err(|e| Fail::new(expected.clone(), format!("{}: {e}", wire::describe(&got))))?;
        if got_id != id {
            return Err(Fail::new(expected, wire::describe(&got)));
        }
        Ok((got, code))
    }

    /// Waits for a PUBLISH and returns it read; QoS 1 is acknowledged with PUBACK, QoS 2 with
    /// PUBREC/PUBREL/PUBCOMP, so the flow does not linger.
    ///
    /// A broker may send its next PUBLISH before the PUBREL of the QoS 2 flow being completed
    /// (Mosquitto does): such PUBLISHes are kept, unacknowledged, and returned first by the next
    /// read helper (`expect_publish`, `next_publish`, `expect_type`), while this one keeps
    /// waiting for its PUBREL and answers it with PUBCOMP.
    pub async fn expect_publish(&mut self) -> Result<wire::Publish, Fail> {
        let p = self.next_publish().await?;
        if let Some(id) = self.answer_publish(&p).await? {
            self.expect_pubrel_keeping_publishes(id).await?;
            let pubcomp = build::Pubcomp::new(self.version(), id).build();
            self.send_bytes(&pubcomp).await?;
        }
        Ok(p)
    }

    /// The receiver's first answer to a PUBLISH: PUBACK for QoS 1, PUBREC for QoS 2 (returning
    /// its packet identifier, whose PUBREL is now awaited); nothing for QoS 0.
    ///
    /// A PUBLISH acknowledged when it was kept (see [`Client::expect_type`]) is not answered
    /// again: for QoS 2, its PUBREL is awaited only if it has not come yet.
    async fn answer_publish(&mut self, p: &wire::Publish) -> Result<Option<u16>, Fail> {
        let version = self.version();
        if let Some(id) = p.packet_id {
            if let Some(i) = self.pre_acked.iter().position(|&x| x == id) {
                self.pre_acked.remove(i);
                let due = self.pubrel_due.iter().position(|&x| x == id);
                return Ok(match (p.qos, due) {
                    (2, Some(j)) => {
                        self.pubrel_due.remove(j);
                        Some(id)
                    }
                    _ => None,
                });
            }
        }
        match (p.qos, p.packet_id) {
            (1, Some(id)) => {
                self.send_bytes(&build::Puback::new(version, id).build())
                    .await?;
                Ok(None)
            }
            (2, Some(id)) => {
                self.send_bytes(&build::Pubrec::new(version, id).build())
                    .await?;
                Ok(Some(id))
            }
            _ => Ok(None),
        }
    }

    /// Waits for the PUBREL of `id`; a PUBLISH that comes first is kept in `self.ahead` for the
    /// next read. Anything else fails as [`Client::expect_type`] would.
    async fn expect_pubrel_keeping_publishes(&mut self, id: u16) -> Result<(), Fail> {
        let expected = format!("PUBREL for packet identifier {id}");
        let timeout = self.timeout;
        loop {
            let got = match self.recv(timeout).await {
                Ok(r) => r.bytes,
                Err(e) => return Err(Fail::from(e).with_expected(&expected)),
            };
            match got.first().map(|b| b >> 4) {
                Some(3) => self.ahead.push_back((got, false)),
                Some(6) => {
                    let (got_id, _) = wire::ack(&got).map_err(|e| {
                        Fail::new(expected.clone(), format!("{}: {e}", wire::describe(&got)))
                    })?;
                    if got_id != id {
                        return Err(Fail::new(expected, wire::describe(&got)));
                    }
                    return Ok(());
                }
                _ => return Err(Fail::new(expected, wire::describe(&got))),
            }
        }
    }

    /// The next packet, which must be a PUBLISH, read but NOT acknowledged.
    pub async fn next_publish(&mut self) -> Result<wire::Publish, Fail> {
        Ok(self.next_publish_frame().await?.1)
    }

    /// [`Client::next_publish`], with the frame's first byte (type and flags) as received.
    pub async fn next_publish_frame(&mut self) -> Result<(u8, wire::Publish), Fail> {
        let got = self.expect_type(3).await?;
        let p = wire::publish(&got, self.v5).map_err(|e| {
            Fail::new(
                "a well-formed PUBLISH",
                format!("{}: {e}", wire::describe(&got)),
            )
        })?;
        Ok((got[0], p))
    }

    /// The next packet must be `packet_type` (PUBACK 4 .. PUBCOMP 7) for packet identifier
    /// `id`; returns its bytes and reason code (0 when absent).
    pub async fn next_ack(&mut self, packet_type: u8, id: u16) -> Result<(Vec<u8>, u8), Fail> {
        self.ack_of(packet_type, id, Fail::context).await
    }

    /// Acknowledges a PUBLISH read with [`Client::next_publish`] as its QoS requires: PUBACK,
    /// or PUBREC, the PUBREL (via [`Client::next_ack`]) and PUBCOMP.
    pub async fn ack(&mut self, p: &wire::Publish) -> Result<(), Fail> {
        if let Some(id) = self.answer_publish(p).await? {
            self.next_ack(6, id).await?;
            let pubcomp = build::Pubcomp::new(self.version(), id).build();
            self.send_bytes(&pubcomp).await?;
        }
        Ok(())
    }

    /// Reads until `n` PUBLISH packets have arrived and every QoS 2 flow they began is complete,
    /// acknowledging as the receiver (PUBACK; PUBREC, then PUBCOMP for each PUBREL), whatever
    /// the interleaving. Returns the PUBLISHes in arrival order. Any other packet fails.
    pub async fn collect_n(&mut self, n: usize) -> Result<Vec<wire::Publish>, Fail> {
        let version = self.version();
        let mut out = Vec::new();
        let mut pending: Vec<u16> = Vec::new();
        while out.len() < n || !pending.is_empty() {
            let expected = format!(
                "{n} PUBLISH packets and their QoS 2 flows ({} so far)",
                out.len()
            );
            let bytes = self.raw_next(&expected).await?;
            match bytes.first().map(|b| b >> 4) {
                Some(3) => {
                    let p = wire::publish(&bytes, self.v5)
                        .map_err(|e| Fail::new("a well-formed PUBLISH", e.to_string()))?;
                    pending.extend(self.answer_publish(&p).await?);
                    out.push(p);
                }
                Some(6) => {
                    let (id, _) =
                        wire::ack(&bytes).map_err(|e| Fail::new("PUBREL", e.to_string()))?;
                    pending.retain(|x| *x != id);
                    self.send_bytes(&build::Pubcomp::new(version, id).build())
                        .await?;
                }
                _ => return Err(Fail::new("PUBLISH or PUBREL", wire::describe(&bytes))),
            }
        }
        Ok(out)
    }

    /// Every PUBLISH that arrives until nothing comes for `self.quiet`, acknowledged (QoS 2
    /// flows may interleave: PUBREC at once, PUBCOMP when its PUBREL comes). Any other packet,
    /// a PUBREL for an id not awaiting one, or a close fails.
    pub async fn collect(&mut self) -> Result<Vec<wire::Publish>, Fail> {
        self.collect_pending(Vec::new()).await
    }

    /// [`Client::collect`], with PUBRELs already awaited for `pending` (QoS 2 ids we sent
    /// PUBREC for).
    pub async fn collect_pending(
        &mut self,
        mut pending: Vec<u16>,
    ) -> Result<Vec<wire::Publish>, Fail> {
        let version = self.version();
        let mut out = Vec::new();
        loop {
            let wait = if pending.is_empty() {
                self.quiet
            } else {
                self.timeout
            };
            let next = match self.pop_ahead() {
                Some(bytes) => Ok(bytes),
                None => self.recv(wait).await.map(|r| r.bytes),
            };
            match next {
                Ok(bytes) if bytes.first().map(|b| b >> 4) == Some(6) => {
                    let (id, _) = wire::ack(&bytes).map_err(|e| Fail::new("a PUBREL", e.0))?;
                    if !pending.contains(&id) {
                        return Err(Fail::new(
                            format!("a PUBREL for one of the ids awaiting one: {pending:?}"),
                            wire::describe(&bytes),
                        ));
                    }
                    pending.retain(|&p| p != id);
                    self.send_bytes(&build::Pubcomp::new(version, id).build())
                        .await?;
                }
                Ok(bytes) => {
                    let p = wire::publish(&bytes, self.v5).map_err(|e| {
                        Fail::new(
                            "only PUBLISH packets (and PUBREL)",
                            format!("{}: {e}", wire::describe(&bytes)),
                        )
                    })?;
                    pending.extend(self.answer_publish(&p).await?);
                    out.push(p);
                }
                Err(ExpectError::Timeout { .. }) if pending.is_empty() => return Ok(out),
                Err(e) => {
                    return Err(Fail::from(e).with_expected(&format!(
                        "PUBLISH packets, PUBREL for {pending:?}, then silence"
                    )))
                }
            }
        }
    }

    /// SUBSCRIBE with several `(filter, options)` entries in one packet; waits for the SUBACK
    /// with the same packet identifier and returns its codes.
    pub async fn subscribe_many(&mut self, filters: &[(&str, u8)]) -> Result<Vec<u8>, Fail> {
        let id = self.packet_id();
        let mut s = build::Subscribe::new(self.version(), id);
        for (f, o) in filters {
            s = s.filter(f, *o);
        }
        self.send_bytes(&s.build()).await?;
        let got = self.expect_type(9).await?;
        let (got_id, codes) = wire::suback(&got, self.v5)
            .map_err(|e| Fail::new("a well-formed SUBACK", e.to_string()))?;
        if got_id != id {
            return Err(Fail::new(
                format!("SUBACK for packet identifier {id}"),
                format!("SUBACK for packet identifier {got_id}"),
            ));
        }
        Ok(codes)
    }

    /// UNSUBSCRIBE from `filters` in one packet; waits for the UNSUBACK with the same packet
    /// identifier and returns its codes (none in 3.1.1).
    pub async fn unsubscribe(&mut self, filters: &[&str]) -> Result<Vec<u8>, Fail> {
        let id = self.packet_id();
        let mut u = build::Unsubscribe::new(self.version(), id);
        for f in filters {
            u = u.filter(f);
        }
        self.send_bytes(&u.build()).await?;
        let got = self.expect_type(11).await?;
        let (got_id, codes) = wire::suback(&got, self.v5)
            .map_err(|e| Fail::new("a well-formed UNSUBACK", e.to_string()))?;
        if got_id != id {
            return Err(Fail::new(
                format!("UNSUBACK for packet identifier {id}"),
                format!("UNSUBACK for packet identifier {got_id}"),
            ));
        }
        Ok(codes)
    }

    /// 5.0: ends the session of this connected client: DISCONNECT 0x00 with Session Expiry 0,
    /// then closes our side.
    pub async fn end_session(&mut self) -> Result<(), Fail> {
        let packet = build::Disconnect::new(self.version())
            .reason(0)
            .property(build::prop::session_expiry_interval(0))
            .build();
        self.send_bytes(&packet).await?;
        self.close().await;
        Ok(())
    }

    fn version(&self) -> ProtocolVersion {
        if self.v5 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V3_1_1
        }
    }

    /// Sends a normal DISCONNECT and closes our side.
    pub async fn disconnect(&mut self) -> Result<(), Fail> {
        let version = if self.v5 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V3_1_1
        };
        self.send_bytes(&build::Disconnect::new(version).build())
            .await?;
        self.close().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_short_alphanumeric_and_stable() {
        let target = Arc::new(TargetInfo {
            host_port: "127.0.0.1:1".into(),
            connector: raw_client::Connector::Tcp,
            file: TargetFile::default(),
            caps: BTreeMap::new(),
            run_token: "ab1cd".into(),
            adapter: None,
        });
        let mut ctx = Ctx::new(target, Version::V3_1_1, 1295);
        let a = ctx.client_id("sub-scriber with a very long label");
        let b = ctx.client_id("pub");
        assert_eq!(a, ctx.client_id("sub-scriber with a very long label"));
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert!(
                id.len() <= 23 && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{id}"
            );
        }
        assert_eq!(b, "ab1cd0zz01pub");
        assert_eq!(ctx.topic("a/+"), "mqttconf/ab1cd0zz/a/+");
    }

    /// Mosquitto's order for two QoS 2 deliveries: PUBLISH 1, (PUBREC 1), PUBLISH 2, PUBREL 1,
    /// (PUBCOMP 1, PUBREC 2), PUBREL 2. `expect_publish` keeps PUBLISH 2 while it waits for
    /// PUBREL 1, then returns it, and every acknowledgement goes out in protocol order.
    #[tokio::test]
    async fn expect_publish_keeps_a_publish_sent_before_the_pubrel() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let broker = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let publish = |id: u8, payload: u8| {
                build::Publish::v311("t", [payload])
                    .qos(2)
                    .packet_id(u16::from(id))
                    .build()
            };
            let mut got = Vec::new();
            let mut four = [0u8; 4];
            s.write_all(&publish(1, b'a')).await.unwrap();
            s.read_exact(&mut four).await.unwrap();
            got.push(four);
            s.write_all(&publish(2, b'b')).await.unwrap();
            s.write_all(&build::Pubrel::v311(1).build()).await.unwrap();
            for _ in 0..2 {
                s.read_exact(&mut four).await.unwrap();
                got.push(four);
            }
            s.write_all(&build::Pubrel::v311(2).build()).await.unwrap();
            s.read_exact(&mut four).await.unwrap();
            got.push(four);
            got
        });
        let raw = RawClient::connect_tcp(&addr, ProtocolVersion::V3_1_1, "sub")
            .await
            .unwrap();
        let mut c = Client::new(raw, Version::V3_1_1, None);
        let a = c.expect_publish().await.unwrap();
        let b = c.expect_publish().await.unwrap();
        assert_eq!((a.payload, b.payload), (b"a".to_vec(), b"b".to_vec()));
        assert_eq!(
            broker.await.unwrap(),
            [
                [0x50, 2, 0, 1], // PUBREC 1
                [0x70, 2, 0, 1], // PUBCOMP 1
                [0x50, 2, 0, 2], // PUBREC 2
                [0x70, 2, 0, 2], // PUBCOMP 2
            ]
        );
    }
}
