//! Statement ids cited in the reference implementation's code, checked against the manifests,
//! and `cargo xtask manifest where ID`: from a statement to the scenarios that check it and the
//! code that enforces it, in one hop.
//!
//! # How code cites a statement
//! `[MQTT-3.1.2-22]` followed, on the same line, by the version it means: `(5.0)`, `(3.1.1)`
//! or `(both)`. One annotation covers the ids before it back to the previous one or a ` / `
//! (`[MQTT-3.8.3-1], [MQTT-3.8.3-4] (5.0) / [MQTT-3.8.3-1] (3.1.1)`). An id without an
//! annotation is allowed only when exactly one manifest has it (the version is then clear);
//! the numbers of 5.0 and 3.1.1 overlap but mean different things, so an id both have must say
//! which it means.

use std::path::{Path, PathBuf};

use anyhow::Result;
use spec_manifest::{Manifest, Version};

/// Where the implementation's citations are looked for.
pub const CODE_DIRS: [&str; 4] = [
    "reference/core/src",
    "reference/broker/src",
    "reference/client/src",
    "reference/cli/src",
];

/// Which manifest a citation means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Means {
    /// Said: `(5.0)` or `(3.1.1)`.
    One(Version),
    /// Said: `(both)`.
    Both,
    /// Not said.
    Unsaid,
}

/// One id cited in a source line.
#[derive(Debug, Clone)]
pub struct Citation {
    /// The file, relative to the workspace root.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// `MQTT-x.y.z-n`.
    pub id: String,
    /// Which version it means.
    pub means: Means,
}

/// The annotations, longest first.
const ANNOTATIONS: [(&str, Means); 4] = [
    ("(5.0 and 3.1.1)", Means::Both),
    ("(5.0)", Means::One(Version::V5_0)),
    ("(3.1.1)", Means::One(Version::V3_1_1)),
    ("(both)", Means::Both),
];

/// The annotation a (comment) line starts with, for ids at the end of the line before it.
fn leading_annotation(line: &str) -> Option<Means> {
    let t = line
        .trim_start()
        .trim_start_matches("//!")
        .trim_start_matches("///")
        .trim_start_matches("//")
        .trim_start();
    ANNOTATIONS
        .into_iter()
        .find(|(a, _)| t.starts_with(a))
        .map(|(_, m)| m)
}

/// The citations in one line of text; `None` where the line gives no annotation.
fn cite_line(text: &str) -> Vec<(String, Option<Means>)> {
    let mut out: Vec<(String, Option<Means>)> = Vec::new();
    let mut pending = 0; // ids at the end of `out` still waiting for an annotation
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        if let Some(after) = rest.strip_prefix("MQTT-") {
            let len = after
                .bytes()
                .take_while(|b| b.is_ascii_digit() || *b == b'.' || *b == b'-')
                .count();
            let id = after[..len].split("..").next().unwrap_or("");
            let id = id.trim_end_matches(['.', '-']);
            if id.split('-').count() == 2 && id.contains('.') {
                out.push((format!("MQTT-{id}"), None));
                pending += 1;
            }
            i += 5 + len.max(1);
            continue;
        }
        let annotation = ANNOTATIONS.into_iter().find(|(a, _)| rest.starts_with(a));
        if let Some((a, means)) = annotation {
            let n = out.len();
            for c in &mut out[n - pending..] {
                c.1 = Some(means);
            }
            pending = 0;
            i += a.len();
            continue;
        }
        if rest.starts_with(" / ") {
            pending = 0;
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    out
}

/// Every citation in the `.rs` files under `dirs` (relative to `root`), in path order.
pub fn scan(root: &Path, dirs: &[&str]) -> Result<Vec<Citation>> {
    let mut files = Vec::new();
    for d in dirs {
        collect_rs(&root.join(d), &mut files)?;
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)?;
        let rel = f.strip_prefix(root).unwrap_or(&f).to_path_buf();
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            // A wrapped comment may put the annotation at the start of the next line.
            let next = lines.get(n + 1).and_then(|l| leading_annotation(l));
            for (id, means) in cite_line(line) {
                out.push(Citation {
                    file: rel.clone(),
                    line: n + 1,
                    id,
                    means: means.or(next).unwrap_or(Means::Unsaid),
                });
            }
        }
    }
    Ok(out)
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            collect_rs(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    Ok(())
}

/// What is wrong with each citation that is wrong: an id not in the manifest of the version it
/// names, or an id both manifests have cited without saying which.
pub fn problems(citations: &[Citation]) -> Result<Vec<String>> {
    let m5 = Manifest::builtin(Version::V5_0)?;
    let m3 = Manifest::builtin(Version::V3_1_1)?;
    let mut out = Vec::new();
    for c in citations {
        let (in5, in3) = (m5.get(&c.id).is_some(), m3.get(&c.id).is_some());
        let problem = match c.means {
            Means::One(Version::V5_0) if !in5 => Some("is not in the 5.0 manifest"),
            Means::One(Version::V3_1_1) if !in3 => Some("is not in the 3.1.1 manifest"),
            Means::Both if !(in5 && in3) => Some("is marked (both) but is not in both manifests"),
            Means::Unsaid if in5 && in3 => {
                Some("is in both manifests (with different meanings): add (5.0) or (3.1.1)")
            }
            Means::Unsaid if !in5 && !in3 => Some("is in neither manifest"),
            _ => None,
        };
        if let Some(p) = problem {
            out.push(format!("{}:{}: {} {p}", c.file.display(), c.line, c.id));
        }
    }
    Ok(out)
}

/// Whether citation `c` refers to `id` of `version`.
pub fn refers_to(c: &Citation, id: &str, version: Version) -> Result<bool> {
    if c.id != id {
        return Ok(false);
    }
    Ok(match c.means {
        Means::One(v) => v == version,
        Means::Both => true,
        Means::Unsaid => Manifest::builtin(version)?.get(id).is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(line: &str) -> Vec<(String, Means)> {
        cite_line(line)
            .into_iter()
            .map(|(id, m)| (id, m.unwrap_or(Means::Unsaid)))
            .collect()
    }

    #[test]
    fn annotations_cover_the_ids_before_them() {
        let v5 = Means::One(Version::V5_0);
        let v3 = Means::One(Version::V3_1_1);
        assert_eq!(
            ids("// [MQTT-3.8.3-1], [MQTT-3.8.3-4] (5.0) / [MQTT-3.8.3-1] (3.1.1): x")
                .into_iter()
                .map(|(_, m)| m)
                .collect::<Vec<_>>(),
            vec![v5, v5, v3]
        );
        assert_eq!(
            ids("[MQTT-4.7.2-1] and MQTT-1.5.4-1 (both)."),
            vec![
                ("MQTT-4.7.2-1".to_owned(), Means::Both),
                ("MQTT-1.5.4-1".to_owned(), Means::Both)
            ]
        );
        assert_eq!(
            ids("[MQTT-1.5.3-1..3] (3.1.1), [MQTT-4.7.3-1] (5.0 and 3.1.1)"),
            vec![
                ("MQTT-1.5.3-1".to_owned(), v3),
                ("MQTT-4.7.3-1".to_owned(), Means::Both)
            ]
        );
        assert_eq!(leading_annotation("    //! (3.1.1)), or"), Some(v3));
        assert_eq!(
            ids("([MQTT-3.1.2-22]) then / [MQTT-2.2.1-4]"),
            vec![
                ("MQTT-3.1.2-22".to_owned(), Means::Unsaid),
                ("MQTT-2.2.1-4".to_owned(), Means::Unsaid)
            ]
        );
    }

    /// The tidy check: every statement id the reference implementation cites is in the
    /// manifest of the version it means, and says which version when both have it.
    #[test]
    fn code_citations_name_real_statements_of_a_stated_version() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let cites = scan(&root, &CODE_DIRS).unwrap();
        assert!(cites.len() > 100, "{} citations found", cites.len());
        let problems = problems(&cites).unwrap();
        assert!(
            problems.is_empty(),
            "{} citations to fix (see xtask/src/manifest/citations.rs):\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
}
