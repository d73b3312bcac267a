//! [`Authenticator`]: MQTT 5.0 enhanced authentication (§4.12), pluggable.

/// One side of an enhanced authentication exchange (SCRAM, Kerberos, a challenge-response of
/// your own). The driver calls [`initial_data`](Self::initial_data) for every CONNECT and
/// [`step`](Self::step) for every AUTH the server sends with Continue Authentication.
pub trait Authenticator: Send + 'static {
    /// The Authentication Method (e.g. `SCRAM-SHA-256`).
    fn method(&self) -> String;

    /// Authentication Data for CONNECT; starts a new exchange.
    fn initial_data(&mut self) -> Option<Vec<u8>>;

    /// Answers a server challenge.
    ///
    /// # Errors
    /// A description of why the exchange cannot go on; the client then closes the connection
    /// (DISCONNECT 0x87 Not authorized) and reports [`ClientError::Auth`](crate::ClientError::Auth).
    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Option<Vec<u8>>, String>;
}
