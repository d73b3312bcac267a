//! The scenario descriptor: what a scenario checks (statement ids), against which protocol
//! version and role, what it needs from the target, and its async body.
//!
//! A body is a plain `async fn(&mut Ctx) -> Result<(), Fail>`; [`Scenario::server`] takes it as
//! it is, so a section module is a list of constructor calls and the functions they name.

use crate::caps::Capability;
use crate::ctx::Ctx;
use crate::fail::Fail;
use spec_manifest::Version;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The boxed future a scenario body returns once type-erased.
pub type BodyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Fail>> + Send + 'a>>;

/// A type-erased scenario body.
type Body = Arc<dyn for<'a> Fn(&'a mut Ctx) -> BodyFuture<'a> + Send + Sync>;

/// Which implementation the scenario puts under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The target is a broker; the scenario is a (raw) client of it.
    Server,
    /// The target is a client, driven through an adapter; the scenario plays a scripted
    /// server. Run by a client-role run (`--client`).
    Client,
}

/// One conformance scenario. Cheap to clone (the body is shared).
#[derive(Clone)]
pub struct Scenario {
    name: &'static str,
    ids: &'static [&'static str],
    version: Version,
    role: Role,
    needs: Vec<Capability>,
    exclusive: bool,
    lenient_receiver: bool,
    body: Body,
}

/// Lets [`Scenario::server`] accept an `async fn(&mut Ctx) -> Result<(), Fail>` directly: such a
/// function returns a future that borrows the context, which a plain `Fn` bound cannot name.
pub trait ScenarioFn<'a>: Fn(&'a mut Ctx) -> Self::Fut {
    /// The future the body returns.
    type Fut: Future<Output = Result<(), Fail>> + Send + 'a;
}

impl<'a, F, Fut> ScenarioFn<'a> for F
where
    F: Fn(&'a mut Ctx) -> Fut,
    Fut: Future<Output = Result<(), Fail>> + Send + 'a,
{
    type Fut = Fut;
}

impl Scenario {
    /// A scenario with the target as the server (broker).
    ///
    /// `name` is unique and starts with the version and section module
    /// (`v5.connect.reserved_flag_closes`); `ids` are the statement ids it checks, all of which
    /// must exist in the manifest of `version` (checked by the tidy test).
    pub fn server<F>(
        version: Version,
        name: &'static str,
        ids: &'static [&'static str],
        body: F,
    ) -> Scenario
    where
        F: for<'a> ScenarioFn<'a> + Send + Sync + 'static,
    {
        Scenario {
            name,
            ids,
            version,
            role: Role::Server,
            needs: Vec::new(),
            exclusive: false,
            lenient_receiver: false,
            body: Arc::new(move |ctx: &mut Ctx| -> BodyFuture<'_> { Box::pin(body(ctx)) }),
        }
    }

    /// A scenario with the target as the client: the body plays a scripted server
    /// ([`Ctx::scripted_server`](crate::Ctx::scripted_server)) and drives the client under test
    /// through the run's adapter. `name` and `ids` as for [`Scenario::server`].
    pub fn client<F>(
        version: Version,
        name: &'static str,
        ids: &'static [&'static str],
        body: F,
    ) -> Scenario
    where
        F: for<'a> ScenarioFn<'a> + Send + Sync + 'static,
    {
        Scenario {
            role: Role::Client,
            ..Scenario::server(version, name, ids, body)
        }
    }

    /// Adds a capability the target must have; without it the scenario is skipped with the
    /// reason.
    #[must_use]
    pub fn needs(mut self, capability: Capability) -> Scenario {
        self.needs.push(capability);
        self
    }

    /// Runs this scenario alone, after the concurrent ones: for timing measurements (a keep-alive
    /// deadline) that concurrent traffic on the broker would perturb — some brokers only check
    /// their timers when woken by traffic, and that must show the same way on every run.
    #[must_use]
    pub fn exclusive(mut self) -> Scenario {
        self.exclusive = true;
        self
    }

    /// Marks a scenario that sends the broker a packet a statement forbids the *client* to send
    /// (the statement binds the sender only) and checks that the broker rejects it. MQTT 5.0
    /// §4.13.1 ties the server's duty to close to an error it *detects* ("When a Server detects
    /// a Malformed Packet or Protocol Error ... it MUST close", MQTT-4.13.1-1) and says the
    /// rigour of a receiver's checks "will be a compromise" and that a receiver may "omit to
    /// check some feature": a broker that accepts the packet is a lenient receiver. Such a
    /// scenario's failure in the step under test is the outcome `lenient`, not `fail` (a block,
    /// skip, panic or runner timeout stays what it is).
    ///
    /// Only for 5.0: 3.1.1 has no such text (its §4.8, MQTT-4.8.0-1, requires a close on any
    /// protocol violation the receiver *encounters*, and most 3.1.1 statements about bad input
    /// name the receiver's duty themselves). Not for a scenario that also checks something the
    /// server must do (a grant, an answer), nor for a statement that itself binds the server
    /// ("The Server MUST treat any other value as malformed and close").
    #[must_use]
    pub fn lenient_receiver(mut self) -> Scenario {
        self.lenient_receiver = true;
        self
    }

    /// Whether a failure is a lenient-receiver finding (see [`Scenario::lenient_receiver`]).
    pub fn is_lenient_receiver(&self) -> bool {
        self.lenient_receiver
    }

    /// Whether it runs alone (see [`Scenario::exclusive`]).
    pub fn is_exclusive(&self) -> bool {
        self.exclusive
    }

    /// The unique name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The statement ids it checks.
    pub fn ids(&self) -> &'static [&'static str] {
        self.ids
    }

    /// The protocol version it speaks.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Which side is under test.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The capabilities it needs.
    pub fn needs_list(&self) -> &[Capability] {
        &self.needs
    }

    /// Starts the body on `ctx`.
    pub(crate) fn start<'a>(&self, ctx: &'a mut Ctx) -> BodyFuture<'a> {
        (self.body)(ctx)
    }
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .field("ids", &self.ids)
            .field("version", &self.version)
            .field("role", &self.role)
            .field("needs", &self.needs)
            .field("lenient_receiver", &self.lenient_receiver)
            .finish_non_exhaustive()
    }
}
