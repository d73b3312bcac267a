//! [`Authenticator`]: who may connect, and the challenge/response exchanges of enhanced
//! authentication (MQTT 5.0 §4.12).
//!
//! The engine asks [`Authenticator::authenticate`] once per CONNECT. With an Authentication
//! Method, the answer may be [`AuthDecision::Continue`]: the engine sends AUTH 0x18 with the
//! data, and each AUTH 0x18 the client answers with goes to [`Authenticator::continue_auth`],
//! until it allows (CONNACK 0x00 carrying the method) or denies (CONNACK with the code).
//! After CONNACK a client may re-authenticate (AUTH 0x19) with the same method; a denial then
//! is DISCONNECT with the code.

use alloc::vec::Vec;

use crate::codec::ReasonCode;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthDecision {
    /// Accept; with enhanced authentication, the optional data goes in CONNACK (or the final
    /// AUTH 0x00 of a re-authentication).
    Allow(Option<Vec<u8>>),
    /// Another round: send AUTH 0x18 Continue authentication with this data. Only meaningful
    /// with an Authentication Method.
    Continue(Vec<u8>),
    /// Refuse with this 5.0 reason code (0x86 Bad User Name or Password, 0x87 Not authorized,
    /// 0x8C Bad authentication method, ...); 3.1.1 clients get the closest return code.
    Deny(ReasonCode),
}

/// Decides whether a client may connect.
pub trait Authenticator {
    /// Judges one CONNECT.
    fn authenticate(&mut self, req: &AuthRequest<'_>) -> AuthDecision;

    /// Judges one AUTH from the client (0x18 during CONNECT, 0x18 or 0x19 afterwards) for the
    /// method it started with. `who`: the client identifier and User Name of the CONNECT (as
    /// sent, before CONNACK; as accepted, after it), so every step, re-authentication
    /// included, can be held to the user the CONNECT named. Exchange state cannot be keyed
    /// by `who` (two connections may use one client identifier): key it by something the
    /// method's own messages carry (SCRAM's nonce). The default refuses: an authenticator
    /// that never answers `Continue` never gets here, except for a client that starts a
    /// re-authentication.
    fn continue_auth(
        &mut self,
        who: &Subject<'_>,
        method: &str,
        data: Option<&[u8]>,
    ) -> AuthDecision {
        let _ = (who, method, data);
        AuthDecision::Deny(ReasonCode::NotAuthorized)
    }
}

/// Accepts everyone without an Authentication Method; a CONNECT with one gets 0x8C Bad
/// authentication method, because no method is supported ([MQTT-4.12.0-1]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAuth;

impl Authenticator for NoAuth {
    fn authenticate(&mut self, req: &AuthRequest<'_>) -> AuthDecision {
        if req.method.is_some() {
            AuthDecision::Deny(ReasonCode::BadAuthenticationMethod)
        } else {
            AuthDecision::Allow(None)
        }
    }
}

/// What a client wants to do with a topic, for [`Authorizer::authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Publish to a topic name: a PUBLISH (after topic alias resolution) or the will at CONNECT.
    Write,
    /// Receive a message on a topic name: every delivery, retained messages included.
    Read,
    /// Subscribe to a topic filter (without any `$share/GROUP/` prefix).
    Subscribe,
}

/// Who asks: the client identifier and the User Name its CONNECT was accepted with.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Client identifier (the assigned one if the client sent none).
    pub client_id: &'a str,
    /// User Name of the CONNECT, if any.
    pub username: Option<&'a str>,
}

/// Decides what a connected client may do with a topic. The engine asks on PUBLISH, per
/// SUBSCRIBE filter, per delivery (a subscriber receives only what it may read, retained
/// messages included) and for the will at CONNECT. Without one, everything is allowed (only
/// [`Config::denied_topics`](super::Config::denied_topics) applies). `&self`: it is consulted
/// on the fan-out path and must not change the engine's behaviour between calls.
pub trait Authorizer {
    /// Whether `who` may do `access` on `topic` (a topic name, or a filter for
    /// [`Access::Subscribe`]).
    fn authorize(&self, who: &Subject<'_>, topic: &str, access: Access) -> bool;
}
