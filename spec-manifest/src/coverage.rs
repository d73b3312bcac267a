//! Coverage: which statements the scenarios of one version declare, joined with the manifest.
//!
//! This is coverage by declaration, before any run: a statement is `tested` when at least one
//! scenario names it, `not-observable` when the manifest says no peer can see it, `untested`
//! otherwise. Verdicts of a run (pass, fail, skipped) belong to the conformance report.

use crate::manifest::Manifest;
use crate::model::{section_cmp, Level, Role, Version};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The coverage of one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// At least one scenario declares the statement.
    Tested,
    /// Observable, but no scenario declares it.
    Untested,
    /// The manifest says no peer can observe it (and no scenario declares it).
    NotObservable,
}

impl Status {
    /// The name used in reports: `tested`, `untested`, `not-observable`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Tested => "tested",
            Status::Untested => "untested",
            Status::NotObservable => "not-observable",
        }
    }
}

/// One statement's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct StatementCoverage {
    /// The statement's id, as in the manifest.
    pub id: String,
    /// Its deepest section.
    pub section: String,
    /// Its level.
    pub level: Level,
    /// Its role.
    pub role: Role,
    /// Its coverage.
    pub status: Status,
    /// How many scenario declarations name it.
    pub scenarios: usize,
}

/// Counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// All statements counted.
    pub total: usize,
    /// Declared by a scenario.
    pub tested: usize,
    /// Observable but not declared.
    pub untested: usize,
    /// Not observable on the wire.
    pub not_observable: usize,
}

impl Tally {
    fn add(&mut self, status: Status) {
        self.total += 1;
        match status {
            Status::Tested => self.tested += 1,
            Status::Untested => self.untested += 1,
            Status::NotObservable => self.not_observable += 1,
        }
    }

    /// Tested share of the observable statements, in percent (100 when none is observable).
    pub fn percent_tested(&self) -> f64 {
        let observable = self.tested + self.untested;
        if observable == 0 {
            100.0
        } else {
            self.tested as f64 * 100.0 / observable as f64
        }
    }
}

/// One row of an aggregation: a section, or a role.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The section number (`3.1`, `3.1.2.5`) or the role (`server`).
    pub key: String,
    /// The section's title, when the manifest gives one (deepest sections only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The counts.
    #[serde(flatten)]
    pub tally: Tally,
}

/// The coverage of one version.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// The version.
    pub version: Version,
    /// Counts over all statements.
    pub totals: Tally,
    /// Per top-level group: the first two components of the section (`3.1`, `4.2`).
    pub by_group: Vec<Group>,
    /// Per deepest section, as the manifest gives it.
    pub by_section: Vec<Group>,
    /// Per role.
    pub by_role: Vec<Group>,
    /// Every statement, in manifest order.
    pub statements: Vec<StatementCoverage>,
    /// Ids that scenarios declare but the manifest does not have: errors.
    pub unknown_ids: Vec<String>,
    /// Ids that scenarios declare although the manifest marks them not observable: one of the
    /// two is wrong. They count as `tested`.
    pub tested_but_not_observable: Vec<String>,
}

/// Scenarios declare ids the manifest does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{version}: scenarios declare ids that are not in the manifest: {}", ids.join(", "))]
#[non_exhaustive]
pub struct UnknownIds {
    /// The version.
    pub version: Version,
    /// The ids, sorted.
    pub ids: Vec<String>,
}

/// The top-level group of a section: its first two components.
pub fn group_of(section: &str) -> &str {
    match section.match_indices('.').nth(1) {
        Some((i, _)) => &section[..i],
        None => section,
    }
}

impl Coverage {
    /// Joins `manifest` with the ids that the scenarios of its version declare (an id may appear
    /// several times, once per scenario). Unknown ids are kept in [`Coverage::unknown_ids`];
    /// [`Coverage::check`] turns them into an error.
    pub fn compute<'a>(manifest: &Manifest, tested: impl IntoIterator<Item = &'a str>) -> Coverage {
        let version = manifest.version();
        let mut declared: BTreeMap<&str, usize> = BTreeMap::new();
        let mut unknown = Vec::new();
        for id in tested {
            match manifest.get(id) {
                Some(s) => *declared.entry(s.id.as_str()).or_default() += 1,
                None => unknown.push(id.to_owned()),
            }
        }
        unknown.sort();
        unknown.dedup();

        let mut totals = Tally::default();
        let mut groups: BTreeMap<&str, Tally> = BTreeMap::new();
        let mut sections: BTreeMap<&str, (Option<&str>, Tally)> = BTreeMap::new();
        let mut roles: BTreeMap<Role, Tally> = BTreeMap::new();
        let mut statements = Vec::with_capacity(manifest.len());
        let mut contradictions = Vec::new();
        for s in manifest {
            let scenarios = declared.get(s.id.as_str()).copied().unwrap_or(0);
            let status = match (scenarios, s.observable) {
                (0, true) => Status::Untested,
                (0, false) => Status::NotObservable,
                (_, observable) => {
                    if !observable {
                        contradictions.push(s.id.clone());
                    }
                    Status::Tested
                }
            };
            totals.add(status);
            groups.entry(group_of(&s.section)).or_default().add(status);
            let section = sections
                .entry(&s.section)
                .or_insert((Some(s.title.as_str()), Tally::default()));
            section.1.add(status);
            roles.entry(s.role).or_default().add(status);
            statements.push(StatementCoverage {
                id: s.id.clone(),
                section: s.section.clone(),
                level: s.level,
                role: s.role,
                status,
                scenarios,
            });
        }

        let mut by_group: Vec<Group> = groups
            .into_iter()
            .map(|(k, tally)| Group {
                key: k.to_owned(),
                title: None,
                tally,
            })
            .collect();
        by_group.sort_by(|a, b| section_cmp(&a.key, &b.key));
        let mut by_section: Vec<Group> = sections
            .into_iter()
            .map(|(k, (title, tally))| Group {
                key: k.to_owned(),
                title: title.map(str::to_owned),
                tally,
            })
            .collect();
        by_section.sort_by(|a, b| section_cmp(&a.key, &b.key));
        let by_role = roles
            .into_iter()
            .map(|(r, tally)| Group {
                key: r.to_string(),
                title: None,
                tally,
            })
            .collect();

        Coverage {
            version,
            totals,
            by_group,
            by_section,
            by_role,
            statements,
            unknown_ids: unknown,
            tested_but_not_observable: contradictions,
        }
    }

    /// `Err` when scenarios declare ids the manifest does not have.
    pub fn check(&self) -> Result<(), UnknownIds> {
        if self.unknown_ids.is_empty() {
            Ok(())
        } else {
            Err(UnknownIds {
                version: self.version,
                ids: self.unknown_ids.clone(),
            })
        }
    }

    /// One line: `5.0: 251 statements: 10 tested, 230 untested, 11 not observable (4.2% of observable tested)`.
    pub fn totals_line(&self) -> String {
        let t = &self.totals;
        format!(
            "{}: {} statements: {} tested, {} untested, {} not observable ({:.1}% of observable tested)",
            self.version,
            t.total,
            t.tested,
            t.untested,
            t.not_observable,
            t.percent_tested()
        )
    }

    /// The per-group and per-role tables, as plain text for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = self.totals_line();
        out.push('\n');
        for (title, rows) in [("section", &self.by_group), ("role", &self.by_role)] {
            let _ = writeln!(
                out,
                "  {title:<10} {:>5} {:>6} {:>8} {:>14}",
                "total", "tested", "untested", "not-observable"
            );
            for g in rows {
                let t = &g.tally;
                let _ = writeln!(
                    out,
                    "  {:<10} {:>5} {:>6} {:>8} {:>14}",
                    g.key, t.total, t.tested, t.untested, t.not_observable
                );
            }
        }
        out
    }

    /// A Markdown section for this version: totals, then tables per top-level section, per
    /// role and per deepest section, then the lists of problems if any.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let t = &self.totals;
        let _ = writeln!(out, "## MQTT {}\n", self.version);
        let _ = writeln!(
            out,
            "{} statements: **{} tested**, {} untested, {} not observable ({:.1}% of the observable ones tested).\n",
            t.total,
            t.tested,
            t.untested,
            t.not_observable,
            t.percent_tested()
        );
        table(&mut out, "By section", "section", &self.by_group, false);
        table(&mut out, "By role", "role", &self.by_role, false);
        table(
            &mut out,
            "By subsection",
            "subsection",
            &self.by_section,
            true,
        );
        if !self.unknown_ids.is_empty() {
            let _ = writeln!(out, "### Errors: ids not in the manifest\n");
            for id in &self.unknown_ids {
                let _ = writeln!(out, "- `{id}`");
            }
            out.push('\n');
        }
        if !self.tested_but_not_observable.is_empty() {
            let _ = writeln!(
                out,
                "### Declared by a scenario but marked not observable\n"
            );
            for id in &self.tested_but_not_observable {
                let _ = writeln!(out, "- `{id}`");
            }
            out.push('\n');
        }
        out
    }
}

fn table(out: &mut String, heading: &str, key: &str, rows: &[Group], titles: bool) {
    let _ = writeln!(out, "### {heading}\n");
    if titles {
        let _ = writeln!(
            out,
            "| {key} | title | total | tested | untested | not observable |"
        );
        let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: |");
    } else {
        let _ = writeln!(
            out,
            "| {key} | total | tested | untested | not observable |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: |");
    }
    for g in rows {
        let t = &g.tally;
        let title = if titles {
            format!(
                " {} |",
                g.title.as_deref().unwrap_or("").replace('|', "\\|")
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} |{title} {} | {} | {} | {} |",
            g.key, t.total, t.tested, t.untested, t.not_observable
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_the_first_two_components() {
        assert_eq!(group_of("3.1.2.5"), "3.1");
        assert_eq!(group_of("3.10.1"), "3.10");
        assert_eq!(group_of("4.2"), "4.2");
        assert_eq!(group_of("4"), "4");
    }
}
