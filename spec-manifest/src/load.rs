//! Parsing a manifest file and checking every rule, collecting all problems with their lines.
//!
//! The TOML is read twice through serde with [`toml::Spanned`], never into the typed
//! [`Statement`] directly: once as the header's keys, once as the list of `[[statement]]` tables,
//! each a map of spanned keys to spanned values. A typed derive would stop at the first wrong
//! field; the spanned maps let the checks below report every problem with the line of its key.

use crate::error::{ManifestError, Problem, ProblemKind};
use crate::id;
use crate::model::{Level, Role, Statement, Version};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// The most characters a summary may have.
pub const SUMMARY_MAX_CHARS: usize = 160;

/// One table: its keys and values, each with its byte span.
type RawTable = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

/// The `[[statement]]` array; the header's keys are read separately.
#[derive(Deserialize)]
struct RawStatements {
    #[serde(default)]
    statement: Vec<Spanned<RawTable>>,
}

const HEADER_FIELDS: [&str; 3] = ["version", "spec", "statement"];
const STATEMENT_FIELDS: [&str; 9] = [
    "id",
    "section",
    "title",
    "level",
    "role",
    "summary",
    "observable",
    "reason",
    "notes",
];

/// What a successful parse yields.
pub(crate) struct Parsed {
    pub version: Version,
    pub spec: String,
    pub statements: Vec<Statement>,
}

/// Byte offset to 1-based line.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines(starts)
    }

    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset).max(1)
    }
}

/// Collects problems while checking one file.
struct Checker {
    lines: Lines,
    problems: Vec<Problem>,
}

impl Checker {
    fn push(&mut self, offset: usize, field: &str, id: Option<&str>, kind: ProblemKind) {
        self.problems.push(Problem {
            line: self.lines.line(offset),
            field: field.to_owned(),
            id: id.map(str::to_owned),
            kind,
        });
    }
}

fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a datetime",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// A table's fields by name, each with the byte offset of its key.
struct Fields<'a> {
    map: BTreeMap<&'a str, (usize, &'a toml::Value)>,
}

impl<'a> Fields<'a> {
    /// Splits a raw table into known fields; reports unknown ones.
    fn new(raw: &'a RawTable, known: &[&str], c: &mut Checker, id: Option<&str>) -> Self {
        let mut map = BTreeMap::new();
        for (key, value) in raw {
            let name = key.get_ref().as_str();
            if known.contains(&name) {
                map.insert(name, (key.span().start, value.get_ref()));
            } else {
                c.push(key.span().start, name, id, ProblemKind::UnknownField);
            }
        }
        Fields { map }
    }

    /// A required or optional non-empty string: `Ok(None)` when absent, `Err(())` when present
    /// but unusable (already reported).
    fn string(
        &self,
        name: &str,
        required_at: Option<usize>,
        c: &mut Checker,
        id: Option<&str>,
    ) -> Result<Option<(usize, &'a str)>, ()> {
        match self.map.get(name) {
            None => {
                if let Some(at) = required_at {
                    c.push(at, name, id, ProblemKind::Missing);
                    Err(())
                } else {
                    Ok(None)
                }
            }
            Some(&(at, toml::Value::String(s))) => {
                if s.trim().is_empty() {
                    c.push(at, name, id, ProblemKind::Empty);
                    Err(())
                } else {
                    Ok(Some((at, s.as_str())))
                }
            }
            Some(&(at, other)) => {
                let found = type_name(other);
                c.push(
                    at,
                    name,
                    id,
                    ProblemKind::WrongType {
                        expected: "a string",
                        found,
                    },
                );
                Err(())
            }
        }
    }
}

fn syntax(file: &str, lines: &Lines, err: &toml::de::Error) -> ManifestError {
    ManifestError::Syntax {
        file: file.to_owned(),
        line: err.span().map_or(1, |s| lines.line(s.start)),
        message: err.message().trim().to_owned(),
    }
}

/// Parses and checks one manifest. `file` only names the file in errors; `expected`, when
/// given, is the version the header must declare.
pub(crate) fn parse(
    text: &str,
    file: &str,
    expected: Option<Version>,
) -> Result<Parsed, ManifestError> {
    let lines = Lines::new(text);
    let header: RawTable = toml::from_str(text).map_err(|e| syntax(file, &lines, &e))?;
    let raw: RawStatements = toml::from_str(text).map_err(|e| syntax(file, &lines, &e))?;
    let mut c = Checker {
        lines,
        problems: Vec::new(),
    };

    // Header.
    let fields = Fields::new(&header, &HEADER_FIELDS, &mut c, None);
    let version = match fields.string("version", Some(0), &mut c, None) {
        Ok(Some((at, s))) => match s.parse::<Version>() {
            Ok(v) if s == v.as_str() => {
                if let Some(expected) = expected.filter(|&e| e != v) {
                    c.push(
                        at,
                        "version",
                        None,
                        ProblemKind::WrongVersion { expected, found: v },
                    );
                }
                Some(v)
            }
            _ => {
                c.push(
                    at,
                    "version",
                    None,
                    ProblemKind::UnknownVersion(s.to_owned()),
                );
                None
            }
        },
        _ => None,
    };
    let spec = fields.string("spec", Some(0), &mut c, None).ok().flatten();
    // Without a known version the ids cannot be checked; fall back to the caller's, or 5.0
    // (the stricter rule: it has no exceptions).
    let id_version = version.or(expected).unwrap_or(Version::V5_0);

    let mut statements = Vec::with_capacity(raw.statement.len());
    let mut seen: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for table in &raw.statement {
        if let Some(s) = check_statement(table, id_version, &mut seen, &mut c) {
            statements.push(s);
        }
    }

    match (version, spec) {
        (Some(version), Some((_, spec))) if c.problems.is_empty() => Ok(Parsed {
            version,
            spec: spec.to_owned(),
            statements,
        }),
        _ => {
            c.problems.sort_by_key(|p| p.line);
            Err(ManifestError::Invalid {
                file: file.to_owned(),
                problems: c.problems,
            })
        }
    }
}

/// Checks one `[[statement]]` table; returns it when it has no problem.
fn check_statement(
    table: &Spanned<RawTable>,
    version: Version,
    seen: &mut BTreeMap<String, (String, usize)>,
    c: &mut Checker,
) -> Option<Statement> {
    let header_at = table.span().start;
    let before = c.problems.len();
    let raw = table.get_ref();

    // The id first, so that every later problem can name it.
    let id = match raw.iter().find(|(k, _)| k.get_ref() == "id") {
        Some((_, v)) => v.get_ref().as_str().filter(|s| id::is_valid_id(version, s)),
        None => None,
    };
    let fields = Fields::new(raw, &STATEMENT_FIELDS, c, id);
    let req = Some(header_at);

    let id_field = fields.string("id", req, c, id);
    if let Ok(Some((at, s))) = id_field {
        if !id::is_valid_id(version, s) {
            c.push(at, "id", None, ProblemKind::BadId(s.to_owned()));
        } else {
            let key = id::canonical(version, s).to_owned();
            let line = c.lines.line(at);
            if let Some((first, first_line)) = seen.get(&key) {
                let kind = ProblemKind::DuplicateId {
                    first: first.clone(),
                    first_line: *first_line,
                };
                c.push(at, "id", id, kind);
            } else {
                seen.insert(key, (s.to_owned(), line));
            }
        }
    }

    let section = fields.string("section", req, c, id);
    if let Ok(Some((at, s))) = section {
        if !id::is_dotted_number(s) {
            c.push(at, "section", id, ProblemKind::BadSection(s.to_owned()));
        } else if let Some(id_section) = id.and_then(|i| id::id_section(version, i)) {
            // Lenient on purpose: a statement may sit in a deeper or neighbouring subsection of
            // the one its label names, but never in another chapter.
            let chapter = id_section.split('.').next().unwrap_or_default();
            if s.split('.').next() != Some(chapter) {
                let kind = ProblemKind::SectionMismatch {
                    section: s.to_owned(),
                    id_chapter: chapter.to_owned(),
                };
                c.push(at, "section", id, kind);
            }
        }
    }

    let title = fields.string("title", req, c, id);
    if let Ok(Some((at, s))) = title {
        one_line(at, "title", s, id, c);
    }

    let level = match fields.string("level", req, c, id) {
        Ok(Some((at, s))) => s.parse::<Level>().map_err(|()| {
            c.push(at, "level", id, ProblemKind::BadLevel(s.to_owned()));
        }),
        _ => Err(()),
    };
    let role = match fields.string("role", req, c, id) {
        Ok(Some((at, s))) => s.parse::<Role>().map_err(|()| {
            c.push(at, "role", id, ProblemKind::BadRole(s.to_owned()));
        }),
        _ => Err(()),
    };

    let summary = fields.string("summary", req, c, id);
    if let Ok(Some((at, s))) = summary {
        one_line(at, "summary", s, id, c);
        let chars = s.chars().count();
        if chars > SUMMARY_MAX_CHARS {
            c.push(at, "summary", id, ProblemKind::TooLong(chars));
        }
    }

    let observable = match fields.map.get("observable") {
        None => Some((header_at, true)),
        Some(&(at, toml::Value::Boolean(b))) => Some((at, *b)),
        Some(&(at, other)) => {
            let found = type_name(other);
            c.push(
                at,
                "observable",
                id,
                ProblemKind::WrongType {
                    expected: "a boolean",
                    found,
                },
            );
            None
        }
    };
    let reason = fields.string("reason", None, c, id);
    if let Ok(Some((at, s))) = reason {
        one_line(at, "reason", s, id, c);
    }
    match (observable, &reason) {
        (Some((at, false)), Ok(None)) => c.push(at, "observable", id, ProblemKind::ReasonMissing),
        (Some((_, true)), Ok(Some((at, _)))) => {
            c.push(*at, "reason", id, ProblemKind::ReasonWithoutUnobservable);
        }
        _ => {}
    }
    let notes = fields.string("notes", None, c, id);

    if c.problems.len() != before {
        return None;
    }
    let text = |f: Result<Option<(usize, &str)>, ()>| f.ok().flatten().map(|(_, s)| s.to_owned());
    Some(Statement {
        id: text(id_field)?,
        section: text(section)?,
        title: text(title)?,
        level: level.ok()?,
        role: role.ok()?,
        summary: text(summary)?,
        observable: observable?.1,
        reason: text(reason),
        notes: text(notes),
    })
}

fn one_line(at: usize, field: &str, s: &str, id: Option<&str>, c: &mut Checker) {
    if s.contains(['\n', '\r']) {
        c.push(at, field, id, ProblemKind::MultiLine);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_lines() {
        let l = Lines::new("a\nbc\n\nd");
        assert_eq!(l.line(0), 1);
        assert_eq!(l.line(1), 1);
        assert_eq!(l.line(2), 2);
        assert_eq!(l.line(5), 3);
        assert_eq!(l.line(6), 4);
        assert_eq!(l.line(99), 4);
    }
}
