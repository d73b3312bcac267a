//! [`Authenticator`]: who may connect. The engine asks it once per CONNECT.
//!
//! Extended authentication (AUTH exchanges, 5.0 §4.12) is not offered yet: an authenticator
//! either accepts or refuses from the CONNECT alone.

/// What a CONNECT presents.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    /// Client identifier as sent (may be empty).
    pub client_id: &'a str,
    /// User Name, if any.
    pub username: Option<&'a str>,
    /// Password, if any.
    pub password: Option<&'a [u8]>,
    /// Authentication Method (5.0), if any.
    pub method: Option<&'a str>,
    /// Authentication Data (5.0), if any.
    pub data: Option<&'a [u8]>,
}

/// The authenticator's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    /// Accept the connection.
    Allow,
    /// Refuse with this 5.0 reason code (0x86 Bad User Name or Password, 0x87 Not authorized,
    /// 0x8C Bad authentication method, ...); 3.1.1 clients get the closest return code.
    Deny(u8),
}

/// Decides whether a client may connect.
pub trait Authenticator {
    /// Judges one CONNECT.
    fn authenticate(&mut self, req: &AuthRequest<'_>) -> AuthDecision;
}

/// Accepts everyone without an Authentication Method; a CONNECT with one gets 0x8C Bad
/// authentication method, because no method is supported ([MQTT-4.12.0-1]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAuth;

impl Authenticator for NoAuth {
    fn authenticate(&mut self, req: &AuthRequest<'_>) -> AuthDecision {
        if req.method.is_some() {
            AuthDecision::Deny(0x8C)
        } else {
            AuthDecision::Allow
        }
    }
}
