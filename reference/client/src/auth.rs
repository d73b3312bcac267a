//! [`Authenticator`]: MQTT 5.0 enhanced authentication (§4.12), pluggable.

/// One side of an enhanced authentication exchange (SCRAM, Kerberos, a challenge-response of
/// your own). The driver calls [`initial_data`](Self::initial_data) for every CONNECT and
/// [`step`](Self::step) for every AUTH the server sends with Continue Authentication, then
/// [`success`](Self::success) with the data of the acceptance. `Client::reauthenticate`
/// starts the exchange again on a live connection ([`initial_data`](Self::initial_data)
/// into AUTH 0x19). [`crate::scram::ScramClient`] is SCRAM-SHA-256.
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

    /// Judges the data of the server's acceptance: CONNACK 0x00, or AUTH 0x00 ending a
    /// re-authentication. A method where the server proves itself too (SCRAM's server
    /// signature) checks it here; the default accepts.
    ///
    /// # Errors
    /// As [`step`](Self::step): the client then closes the connection (DISCONNECT 0x87).
    fn success(&mut self, data: Option<&[u8]>) -> Result<(), String> {
        let _ = data;
        Ok(())
    }
}
