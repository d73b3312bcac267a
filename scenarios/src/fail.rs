//! `Fail`: why a scenario did not pass — what was expected and what happened — or why it was
//! skipped, or which setup step blocked it. The runner adds the transcripts of the scenario's
//! clients as evidence.

use raw_client::{ExpectError, RawError};
use std::fmt;

/// The error of a scenario body: a failure (expected vs got) or a skip (with its reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    pub(crate) kind: FailKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FailKind {
    Failed {
        expected: String,
        got: String,
    },
    Skipped {
        reason: String,
    },
    /// A setup step failed before the step under test: nothing about the scenario's own
    /// statements was learned. `statement`: the statement the failed step itself breaks, if
    /// one does.
    Blocked {
        expected: String,
        got: String,
        statement: Option<String>,
    },
}

impl Fail {
    /// The target did `got` where the spec requires `expected`.
    pub fn new(expected: impl Into<String>, got: impl Into<String>) -> Fail {
        Fail {
            kind: FailKind::Failed {
                expected: expected.into(),
                got: got.into(),
            },
        }
    }

    /// The scenario cannot run against this target (say which capability or setting is
    /// missing). Prefer declaring needs with `Scenario::needs`, which skips before connecting.
    pub fn skip(reason: impl Into<String>) -> Fail {
        Fail {
            kind: FailKind::Skipped {
                reason: reason.into(),
            },
        }
    }

    /// A setup step (not the step under test) did not work: `expected` is what the step
    /// needed, `got` what happened, `statement` the statement that failure itself breaks when
    /// one does (no CONNACK for a valid CONNECT: MQTT-3.1.4-5). The scenario's statements are
    /// `blocked`, never `fail`, unless `statement` is one of them.
    pub fn blocked(
        expected: impl Into<String>,
        got: impl Into<String>,
        statement: Option<&str>,
    ) -> Fail {
        Fail {
            kind: FailKind::Blocked {
                expected: expected.into(),
                got: got.into(),
                statement: statement.map(str::to_string),
            },
        }
    }

    /// This failure, met in a setup step: a [`Fail::blocked`] with the same expected and got
    /// (a skip or a block stays as it is).
    #[must_use]
    pub fn setup(self, statement: Option<&str>) -> Fail {
        match self.kind {
            FailKind::Failed { expected, got } => Fail::blocked(expected, got, statement),
            kind => Fail { kind },
        }
    }

    /// Prefixes the expectation with context (e.g. the step: "after the second CONNECT").
    #[must_use]
    pub fn context(mut self, step: &str) -> Fail {
        if let FailKind::Failed { expected, .. } | FailKind::Blocked { expected, .. } =
            &mut self.kind
        {
            *expected = format!("{step}: {expected}");
        }
        self
    }

    /// What was expected (empty for a skip).
    pub fn expected(&self) -> &str {
        match &self.kind {
            FailKind::Failed { expected, .. } | FailKind::Blocked { expected, .. } => expected,
            FailKind::Skipped { .. } => "",
        }
    }

    /// What happened (the skip reason for a skip).
    pub fn got(&self) -> &str {
        match &self.kind {
            FailKind::Failed { got, .. } | FailKind::Blocked { got, .. } => got,
            FailKind::Skipped { reason } => reason,
        }
    }

    /// Whether a setup step failed (see [`Fail::blocked`]).
    pub fn is_blocked(&self) -> bool {
        matches!(self.kind, FailKind::Blocked { .. })
    }

    /// For a block, the statement the failed setup step breaks, if one does.
    pub fn blocked_by(&self) -> Option<&str> {
        match &self.kind {
            FailKind::Blocked { statement, .. } => statement.as_deref(),
            _ => None,
        }
    }

    /// Whether this is a skip rather than a failure.
    pub fn is_skip(&self) -> bool {
        matches!(self.kind, FailKind::Skipped { .. })
    }
}

impl Fail {
    /// Replaces the expectation of a low-level failure with the helper's own wording.
    pub(crate) fn with_expected(mut self, what: &str) -> Fail {
        if let FailKind::Failed { expected, .. } | FailKind::Blocked { expected, .. } =
            &mut self.kind
        {
            *expected = what.to_string();
        }
        self
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FailKind::Failed { expected, got } => write!(f, "expected: {expected}\ngot: {got}"),
            FailKind::Skipped { reason } => write!(f, "skipped: {reason}"),
            FailKind::Blocked {
                expected,
                got,
                statement,
            } => {
                write!(f, "blocked in setup: expected: {expected}\ngot: {got}")?;
                match statement {
                    Some(id) => write!(f, "\n(breaks {id})"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for Fail {}

impl From<ExpectError> for Fail {
    fn from(e: ExpectError) -> Fail {
        match e {
            ExpectError::Timeout { what, waited } => {
                Fail::new(what, format!("nothing within {} ms", waited.as_millis()))
            }
            ExpectError::Closed { what } => Fail::new(what, "the connection was closed"),
            ExpectError::Unexpected { what, got } => Fail::new(what, got),
            other => Fail::new("the exchange to complete", other.to_string()),
        }
    }
}

impl From<RawError> for Fail {
    fn from(e: RawError) -> Fail {
        Fail::new("the connection to work", e.to_string())
    }
}

/// Returns `Err(Fail::new(expected, got))` unless `cond` holds.
///
/// ```
/// use scenarios::{ensure, Fail};
///
/// fn check(session_present: bool) -> Result<(), Fail> {
///     ensure!(!session_present, "Session Present 0 after Clean Start", "Session Present 1");
///     Ok(())
/// }
/// assert_eq!(check(true).unwrap_err().got(), "Session Present 1");
/// ```
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $expected:expr, $got:expr $(,)?) => {
        if !$cond {
            return Err($crate::Fail::new($expected, $got));
        }
    };
}

/// Marks a setup step: `c.publish(&t, b"x", 1, true).await.setup()?` makes its failure block
/// the scenario (`blocked`, with the cause) instead of failing its statements.
pub trait Setup<T> {
    /// The result, a failure turned into a [`Fail::blocked`] without a statement.
    fn setup(self) -> Result<T, Fail>;
    /// The same, naming the statement the failure breaks.
    fn setup_breaking(self, statement: &str) -> Result<T, Fail>;
}

impl<T, E: Into<Fail>> Setup<T> for Result<T, E> {
    fn setup(self) -> Result<T, Fail> {
        self.map_err(|e| e.into().setup(None))
    }

    fn setup_breaking(self, statement: &str) -> Result<T, Fail> {
        self.map_err(|e| e.into().setup(Some(statement)))
    }
}

/// Returns `Err(Fail::blocked(expected, got, None))` unless `cond` holds: for a condition the
/// setup needs (the session resumed, the QoS granted as asked) rather than the one under test.
///
/// ```
/// use scenarios::{require, Fail};
///
/// fn check(session_present: bool) -> Result<(), Fail> {
///     require!(session_present, "the session resumed (setup)", "Session Present 0");
///     Ok(())
/// }
/// assert!(check(false).unwrap_err().is_blocked());
/// ```
#[macro_export]
macro_rules! require {
    ($cond:expr, $expected:expr, $got:expr $(,)?) => {
        if !$cond {
            return Err($crate::Fail::blocked($expected, $got, None));
        }
    };
    ($cond:expr, $expected:expr, $got:expr, $statement:expr $(,)?) => {
        if !$cond {
            return Err($crate::Fail::blocked($expected, $got, Some($statement)));
        }
    };
}
