//! The loaded manifest of one version: its statements in file order, with lookups.

use crate::error::ManifestError;
use crate::id;
use crate::load;
use crate::model::{section_in, Level, Statement, Version};
use std::collections::BTreeMap;
use std::path::Path;

/// Every normative statement of one version of the specification, validated.
#[derive(Debug, Clone)]
pub struct Manifest {
    version: Version,
    spec: String,
    statements: Vec<Statement>,
    /// id → index in `statements`.
    by_id: BTreeMap<String, usize>,
}

impl Manifest {
    /// The manifest of `version` committed in this crate (`mqtt-v5.0.toml`, `mqtt-v3.1.1.toml`),
    /// compiled in. The crate's tests check that both load; an error here means the committed
    /// file was edited without running them.
    pub fn builtin(version: Version) -> Result<Manifest, ManifestError> {
        Manifest::parse(builtin_source(version), version.file_name(), Some(version))
    }

    /// Parses and validates manifest text. `file` names the file in errors; `expected`, when
    /// given, is the version the header must declare.
    pub fn parse(
        text: &str,
        file: &str,
        expected: Option<Version>,
    ) -> Result<Manifest, ManifestError> {
        let parsed = load::parse(text, file, expected)?;
        let by_id = parsed
            .statements
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        Ok(Manifest {
            version: parsed.version,
            spec: parsed.spec,
            statements: parsed.statements,
            by_id,
        })
    }

    /// Reads, parses and validates a manifest file; the version comes from its header.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            file: file.clone(),
            source,
        })?;
        Manifest::parse(&text, &file, None)
    }

    /// The version the manifest describes.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The specification's full name, from the header.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// How many statements.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Whether there are no statements.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The statements, in file order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// The statements, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, Statement> {
        self.statements.iter()
    }

    /// The ids, in file order.
    pub fn ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.statements.iter().map(|s| s.id.as_str())
    }

    /// The statement with this id. For 3.1.1 either spelling of a mistyped label finds it
    /// (`MQTT-3.1.2.7` or `MQTT-3.1.2-7`).
    pub fn get(&self, id: &str) -> Option<&Statement> {
        let index = self
            .by_id
            .get(id)
            .or_else(|| id::alias(self.version, id).and_then(|a| self.by_id.get(a)))?;
        self.statements.get(*index)
    }

    /// The statements whose section is `prefix` or below it, in file order: `3.1` gives `3.1`,
    /// `3.1.2.5`, ... but not `3.10`.
    pub fn in_section<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Statement> + 'a {
        self.statements
            .iter()
            .filter(move |s| section_in(&s.section, prefix))
    }

    /// How many statements are observable on the wire.
    pub fn observable_count(&self) -> usize {
        self.statements.iter().filter(|s| s.observable).count()
    }

    /// How many statements have each level, strongest first.
    pub fn level_counts(&self) -> [(Level, usize); 5] {
        Level::ALL.map(|l| (l, self.statements.iter().filter(|s| s.level == l).count()))
    }

    /// One line: `5.0: 251 statements, 240 observable; MUST 170, MUST NOT 50, ...`.
    pub fn summary_line(&self) -> String {
        let levels: Vec<String> = self
            .level_counts()
            .iter()
            .map(|(l, n)| format!("{l} {n}"))
            .collect();
        format!(
            "{}: {} statements, {} observable; {}",
            self.version,
            self.len(),
            self.observable_count(),
            levels.join(", ")
        )
    }
}

impl<'a> IntoIterator for &'a Manifest {
    type Item = &'a Statement;
    type IntoIter = std::slice::Iter<'a, Statement>;

    fn into_iter(self) -> Self::IntoIter {
        self.statements.iter()
    }
}

/// The committed manifest text of `version`, as compiled into the crate.
pub fn builtin_source(version: Version) -> &'static str {
    match version {
        Version::V5_0 => include_str!("../mqtt-v5.0.toml"),
        Version::V3_1_1 => include_str!("../mqtt-v3.1.1.toml"),
    }
}
