//! `Fail`: why a scenario did not pass — what was expected and what happened — or why it was
//! skipped. The runner adds the transcripts of the scenario's clients as evidence.

use raw_client::{ExpectError, RawError};
use std::fmt;

/// The error of a scenario body: a failure (expected vs got) or a skip (with its reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    pub(crate) kind: FailKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FailKind {
    Failed { expected: String, got: String },
    Skipped { reason: String },
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

    /// Prefixes the expectation with context (e.g. the step: "after the second CONNECT").
    #[must_use]
    pub fn context(mut self, step: &str) -> Fail {
        if let FailKind::Failed { expected, .. } = &mut self.kind {
            *expected = format!("{step}: {expected}");
        }
        self
    }

    /// What was expected (empty for a skip).
    pub fn expected(&self) -> &str {
        match &self.kind {
            FailKind::Failed { expected, .. } => expected,
            FailKind::Skipped { .. } => "",
        }
    }

    /// What happened (the skip reason for a skip).
    pub fn got(&self) -> &str {
        match &self.kind {
            FailKind::Failed { got, .. } => got,
            FailKind::Skipped { reason } => reason,
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
        if let FailKind::Failed { expected, .. } = &mut self.kind {
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
