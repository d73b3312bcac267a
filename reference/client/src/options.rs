//! [`ClientOptions`]: where to connect and over what ([`Transport`], [`TlsOptions`]), how the
//! session behaves, how to reconnect.

use std::fmt;
use std::time::Duration;

use mqttref_core::client::{ClientConfig, UserProperty, Will};
use mqttref_core::codec::ProtocolVersion;

use crate::auth::Authenticator;
use crate::backoff::ReconnectPolicy;
use crate::error::ClientError;
use crate::tls::TlsOptions;
use crate::url::{MqttUrl, Scheme};

/// How [`Client::connect`](crate::Client::connect) reaches the server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Transport {
    /// `mqtt://`: TCP.
    #[default]
    Tcp,
    /// `mqtts://`: TLS over TCP, as [`ClientOptions::tls`] says.
    Tls,
    /// `ws://`: WebSocket over TCP, upgraded at this HTTP path.
    Ws {
        /// The HTTP path (`/mqtt`).
        path: String,
    },
    /// `wss://`: WebSocket over TLS over TCP, TLS as [`ClientOptions::tls`] says.
    Wss {
        /// The HTTP path (`/mqtt`).
        path: String,
    },
    /// `quic://`: one bidirectional stream of a QUIC connection (TLS 1.3 inside, as
    /// [`ClientOptions::tls`] says; ALPN `mqtt`). Needs the `quic` feature.
    Quic,
}

/// Everything [`Client::connect`](crate::Client::connect) needs. Build with [`ClientOptions::new`]
/// (or [`ClientOptions::from_url`]) and the `with_*` methods; the session fields are public in
/// [`ClientOptions::session`].
pub struct ClientOptions {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// TCP, TLS, WebSocket, WebSocket over TLS or QUIC.
    pub transport: Transport,
    /// The TLS settings of [`Transport::Tls`], [`Transport::Wss`] and [`Transport::Quic`]
    /// (unused otherwise).
    pub tls: TlsOptions,
    /// The sans-IO session's configuration: version, client id, keep alive, clean start,
    /// session expiry, credentials, will, limits, user properties.
    pub session: ClientConfig,
    /// Reconnect behaviour.
    pub reconnect: ReconnectPolicy,
    /// Keep trying the first connection under the reconnect policy instead of failing at once.
    pub retry_initial_connect: bool,
    /// Seed of the jitter PRNG (a fixed seed makes reconnect timing reproducible).
    pub seed: u64,
    /// Bound of the command channel and of the incoming message channel.
    pub channel_capacity: usize,
    /// Timeout of [`Client::request`](crate::Client::request).
    pub request_timeout: Duration,
    /// Enhanced authentication (5.0).
    pub authenticator: Option<Box<dyn Authenticator>>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("transport", &self.transport)
            .field("tls", &self.tls)
            .field("session", &self.session)
            .field("reconnect", &self.reconnect)
            .field("retry_initial_connect", &self.retry_initial_connect)
            .field("seed", &self.seed)
            .field("channel_capacity", &self.channel_capacity)
            .field("request_timeout", &self.request_timeout)
            .field(
                "authenticator",
                &self.authenticator.as_ref().map(|a| a.method()),
            )
            .finish()
    }
}

impl ClientOptions {
    /// MQTT 5.0 to `host:port` with client id `client_id` (empty: the server assigns one) and
    /// the defaults: clean start, 60 s keep alive, reconnect with backoff.
    pub fn new(host: impl Into<String>, port: u16, client_id: impl Into<String>) -> Self {
        ClientOptions {
            host: host.into(),
            port,
            transport: Transport::Tcp,
            tls: TlsOptions::default(),
            session: ClientConfig::new(ProtocolVersion::V5, client_id),
            reconnect: ReconnectPolicy::default(),
            retry_initial_connect: false,
            seed: 0x6d71_7474_7265_6621,
            channel_capacity: 256,
            request_timeout: Duration::from_secs(10),
            authenticator: None,
        }
    }

    /// Options from a `SCHEME://[user[:password]@]host[:port][/path]` URL: the scheme
    /// (`mqtt`, `mqtts`, `ws`, `wss`, `quic`) sets [`ClientOptions::transport`], the path of a `ws://`
    /// or `wss://` URL is the HTTP path (for the others it is ignored). TLS settings other than
    /// the defaults go in [`ClientOptions::tls`].
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`].
    pub fn from_url(url: &str, client_id: impl Into<String>) -> Result<Self, ClientError> {
        let u = MqttUrl::parse(url)?;
        let path = u.ws_path.clone().unwrap_or_else(|| "/".into());
        let transport = match u.scheme {
            Scheme::Mqtt => Transport::Tcp,
            Scheme::Mqtts => Transport::Tls,
            Scheme::Ws => Transport::Ws { path },
            Scheme::Wss => Transport::Wss { path },
            Scheme::Quic => Transport::Quic,
        };
        let mut o = ClientOptions::new(u.host, u.port, client_id).with_transport(transport);
        o.session.username = u.username;
        o.session.password = u.password.map(String::into_bytes);
        Ok(o)
    }

    /// The transport (TCP by default).
    #[must_use]
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// TLS settings (for [`Transport::Tls`] and [`Transport::Wss`]).
    #[must_use]
    pub fn with_tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Protocol version (5.0 or 3.1.1).
    #[must_use]
    pub fn with_version(mut self, version: ProtocolVersion) -> Self {
        self.session.version = version;
        self
    }

    /// Keep alive, seconds (0: off).
    #[must_use]
    pub fn with_keep_alive(mut self, secs: u16) -> Self {
        self.session.keep_alive = secs;
        self
    }

    /// Clean Start / Clean Session of the first connection.
    #[must_use]
    pub fn with_clean_start(mut self, clean: bool) -> Self {
        self.session.clean_start = clean;
        self
    }

    /// Session Expiry Interval, seconds (5.0).
    #[must_use]
    pub fn with_session_expiry(mut self, secs: u32) -> Self {
        self.session.session_expiry_interval = Some(secs);
        self
    }

    /// User name and password.
    #[must_use]
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: Option<Vec<u8>>,
    ) -> Self {
        self.session.username = Some(username.into());
        self.session.password = password;
        self
    }

    /// Will Message.
    #[must_use]
    pub fn with_will(mut self, will: Will) -> Self {
        self.session.will = Some(will);
        self
    }

    /// Adds a CONNECT User Property (5.0).
    #[must_use]
    pub fn with_user_property(mut self, property: UserProperty) -> Self {
        self.session.user_properties.push(property);
        self
    }

    /// Reconnect policy.
    #[must_use]
    pub fn with_reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    /// PRNG seed for reconnect jitter.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Enhanced authentication (5.0).
    #[must_use]
    pub fn with_authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.session.authentication_method = Some(authenticator.method());
        self.authenticator = Some(Box::new(authenticator));
        self
    }
}
