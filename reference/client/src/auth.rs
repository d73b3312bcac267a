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

/// JWT authentication (Authentication Method `JWT`): the token goes in CONNECT's
/// Authentication Data, in one step; [`Client::reauthenticate`](crate::Client::reauthenticate)
/// presents the same token again in AUTH 0x19 (for a fresh token, implement [`Authenticator`]
/// with your own token source).
#[derive(Clone)]
pub struct JwtClient {
    token: String,
}

impl std::fmt::Debug for JwtClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A bearer token: whoever reads it can use it.
        f.debug_struct("JwtClient").finish_non_exhaustive()
    }
}

impl JwtClient {
    /// The Authentication Method name.
    pub const METHOD: &'static str = "JWT";

    /// Presents `token` (a compact JWS, `header.payload.signature`).
    pub fn new(token: impl Into<String>) -> Self {
        JwtClient {
            token: token.into(),
        }
    }
}

impl Authenticator for JwtClient {
    fn method(&self) -> String {
        Self::METHOD.to_owned()
    }

    fn initial_data(&mut self) -> Option<Vec<u8>> {
        Some(self.token.clone().into_bytes())
    }

    fn step(&mut self, _challenge: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        Err("JWT is one step: the server sent a challenge".into())
    }
}
