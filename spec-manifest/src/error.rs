//! Errors of loading a manifest: the file cannot be read, is not TOML, or breaks the rules.
//!
//! Validation does not stop at the first problem: [`ManifestError::Invalid`] lists every one,
//! each with its line and field, so one run of `cargo xtask manifest check` shows all of them.

use crate::model::Version;
use std::fmt;

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file, as given.
        file: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or its structure is not a header plus `[[statement]]` tables.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The file, as given.
        file: String,
        /// 1-based line of the problem (1 when the parser gave no position).
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// The file is TOML but breaks the manifest's rules; every problem found is listed.
    #[error("{file}: {} problem(s):{}", problems.len(), List(file, problems))]
    Invalid {
        /// The file, as given.
        file: String,
        /// Every problem, in file order.
        problems: Vec<Problem>,
    },
}

impl ManifestError {
    /// The validation problems, empty for read and syntax errors.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ManifestError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

/// Formats problems one per line as `file:line: field: message`.
struct List<'a>(&'a String, &'a Vec<Problem>);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in self.1 {
            write!(f, "\n  {}:{p}", self.0)?;
        }
        Ok(())
    }
}

/// One rule broken at one place. Displays as `line: field: message [id]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line: of the field's key, or of the `[[statement]]` header for a missing field.
    pub line: usize,
    /// The field, e.g. `summary`, or `version` for the header.
    pub field: String,
    /// The id of the statement concerned, when it has a usable one.
    pub id: Option<String>,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.line, self.field, self.kind)?;
        if let Some(id) = &self.id {
            write!(f, " [{id}]")?;
        }
        Ok(())
    }
}

/// What rule a [`Problem`] breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A required field is absent.
    #[error("required field is missing")]
    Missing,
    /// A field is present but empty (or only blanks).
    #[error("must not be empty")]
    Empty,
    /// A field the format does not define.
    #[error("unknown field")]
    UnknownField,
    /// A field has the wrong TOML type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// The type the format wants.
        expected: &'static str,
        /// The type in the file.
        found: &'static str,
    },
    /// The header's `version` names no known version.
    #[error("unknown version {0:?}: expected \"5.0\" or \"3.1.1\"")]
    UnknownVersion(String),
    /// The header's `version` is not the one the caller asked for.
    #[error("this manifest is for version {found}, expected {expected}")]
    WrongVersion {
        /// The version asked for.
        expected: Version,
        /// The version in the file.
        found: Version,
    },
    /// The id breaks the format rule (see [`crate::id`]).
    #[error("{0:?} is not an id of the form MQTT-<section>-<number> (e.g. MQTT-3.1.2-7)")]
    BadId(String),
    /// The id (or another spelling of it) appeared earlier.
    #[error("duplicate id: {first} is already at line {first_line}")]
    DuplicateId {
        /// The earlier spelling.
        first: String,
        /// Its line.
        first_line: usize,
    },
    /// The section is not a dotted number.
    #[error("{0:?} is not a dotted section number (e.g. 3.1.2.5)")]
    BadSection(String),
    /// The section's first component differs from the id's.
    #[error("section {section} is not in chapter {id_chapter} named by the id")]
    SectionMismatch {
        /// The statement's section.
        section: String,
        /// The first component of the id's section number.
        id_chapter: String,
    },
    /// Not one of the level keywords.
    #[error("{0:?} is not a level: expected MUST, MUST NOT, SHOULD, SHOULD NOT or MAY")]
    BadLevel(String),
    /// Not one of the roles.
    #[error("{0:?} is not a role: expected server, client or both")]
    BadRole(String),
    /// The summary is longer than 160 characters.
    #[error("{0} characters, at most 160")]
    TooLong(usize),
    /// A one-line field holds a line break.
    #[error("must be one line")]
    MultiLine,
    /// `observable = false` without a `reason`.
    #[error("observable = false needs a reason")]
    ReasonMissing,
    /// A `reason` on a statement that is observable.
    #[error("a reason is only allowed with observable = false")]
    ReasonWithoutUnobservable,
}
