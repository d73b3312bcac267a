//! `cargo xtask manifest check`: validate the spec manifests and compare their ids with a list;
//! `cargo xtask manifest where ID`: the scenarios that check a statement and the code that
//! enforces it (see [`citations`]).
//!
//! Without options it loads the two manifests compiled into `spec-manifest` and prints one line
//! per manifest. `--file` checks one file instead (e.g. a part before it is merged). `--against`
//! compares the ids with a reference list (the spec's tsv or a plain id list) and prints every
//! `missing:` and `extra:` id; any difference or validation problem makes the command fail.

mod citations;

use anyhow::{bail, Context, Result};
use spec_manifest::id::{alias, canonical, reference_ids};
use spec_manifest::{Manifest, Version};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Manifest commands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Load and validate the MQTT 5.0 and 3.1.1 manifests (every problem with file:line: field),
    /// print a one-line summary of each, and optionally compare their ids with a reference list.
    Check(CheckArgs),
    /// From a statement to the scenarios that check it and the code that enforces it (the
    /// `[MQTT-...]` citations in reference/*/src, with file:line). Without --version, both
    /// versions that have the id are listed.
    Where {
        /// The statement id, e.g. MQTT-3.3.1-5.
        id: String,
        /// Only this version (5.0 or 3.1.1).
        #[arg(long)]
        version: Option<Version>,
    },
    /// Check every statement id cited in the reference implementation's code: in the manifest
    /// of the version it names, and naming one when both manifests have the id.
    Citations,
}

/// Options of `manifest check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Check this manifest file instead of the two built into spec-manifest.
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// Compare the manifest's ids with this list: a tsv whose first column is the id (a first
    /// line starting with `id` is a header and skipped), or one id per line. Prints `missing:`
    /// (in the list, not in the manifest) and `extra:` (in the manifest, not in the list).
    #[arg(long, value_name = "FILE")]
    against: Option<PathBuf>,
    /// The version the --against list belongs to (5.0 or 3.1.1). Needed only when neither the
    /// file name (`mqtt-v5.0`, `ids-v3.1.1`, ...) nor the ids themselves tell.
    #[arg(long)]
    version: Option<Version>,
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Check(args) => check(args),
        Command::Where { id, version } => where_is(&id, version),
        Command::Citations => check_citations(),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn check_citations() -> Result<()> {
    let cites = citations::scan(&workspace_root(), &citations::CODE_DIRS)?;
    let problems = citations::problems(&cites)?;
    for p in &problems {
        eprintln!("{p}");
    }
    if !problems.is_empty() {
        bail!("{} of {} citations are wrong", problems.len(), cites.len());
    }
    println!(
        "{} citations, all in the manifest of the version they name",
        cites.len()
    );
    Ok(())
}

fn where_is(id: &str, only: Option<Version>) -> Result<()> {
    let cites = citations::scan(&workspace_root(), &citations::CODE_DIRS)?;
    let mut found = false;
    for v in Version::ALL {
        if only.is_some_and(|o| o != v) {
            continue;
        }
        let m = Manifest::builtin(v)?;
        let Some(st) = m.get(id) else {
            continue;
        };
        found = true;
        println!("{id} ({v}, {} {:?}): {}", st.section, st.level, st.summary);
        let scenarios: Vec<_> = scenarios::all()
            .into_iter()
            .filter(|s| s.version() == v && s.ids().contains(&id))
            .collect();
        if scenarios.is_empty() {
            println!("  checked by: no scenario");
        }
        for s in scenarios {
            println!("  checked by: {}", s.name());
        }
        let mut code = 0;
        for c in &cites {
            if citations::refers_to(c, id, v)? {
                println!("  enforced at: {}:{}", c.file.display(), c.line);
                code += 1;
            }
        }
        if code == 0 {
            println!("  enforced at: no citation in reference/*/src");
        }
    }
    if !found {
        bail!("{id} is in no manifest");
    }
    Ok(())
}

fn check(args: CheckArgs) -> Result<()> {
    let loaded: Vec<(String, Result<Manifest, spec_manifest::ManifestError>)> = match &args.file {
        Some(path) => vec![(path.display().to_string(), Manifest::load(path))],
        None => Version::ALL
            .iter()
            .map(|&v| {
                (
                    format!("spec-manifest/{}", v.file_name()),
                    Manifest::builtin(v),
                )
            })
            .collect(),
    };

    let mut failures = 0;
    let mut manifests = Vec::new();
    for (name, result) in loaded {
        match result {
            Ok(m) => {
                println!("{name}: ok: {}", m.summary_line());
                manifests.push(m);
            }
            Err(e) => {
                failures += 1;
                eprintln!("error: {e}");
            }
        }
    }

    if let Some(list_path) = &args.against {
        let text = std::fs::read_to_string(list_path)
            .with_context(|| format!("cannot read {}", list_path.display()))?;
        let ids = read_ids(&text);
        let version = match (&args.file, args.version) {
            // One file given: compare with it; a --version that disagrees is a mistake.
            (Some(_), v) => match manifests.first() {
                Some(m) if v.is_some_and(|v| v != m.version()) => {
                    bail!(
                        "--version {} but {} is a {} manifest",
                        v.unwrap_or(m.version()),
                        list_path.display(),
                        m.version()
                    )
                }
                Some(m) => m.version(),
                None => bail!(
                    "{}: not compared: the manifest did not load",
                    list_path.display()
                ),
            },
            (None, Some(v)) => v,
            (None, None) => guess_version(list_path, &ids).with_context(|| {
                format!(
                    "cannot tell which version {} lists: pass --version 5.0 or --version 3.1.1",
                    list_path.display()
                )
            })?,
        };
        match manifests.iter().find(|m| m.version() == version) {
            Some(m) => failures += compare(m, list_path, &ids),
            None => bail!(
                "{}: not compared: the {version} manifest did not load",
                list_path.display()
            ),
        }
    }

    if failures > 0 {
        bail!("manifest check failed");
    }
    Ok(())
}

/// The ids of a reference list: first tab-separated column of each non-empty line; a first line
/// starting with `id` is a header; `#` starts a comment line.
pub fn read_ids(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let first = line.split('\t').next().unwrap_or_default().trim();
        if first.is_empty() || first.starts_with('#') || (i == 0 && first.starts_with("id")) {
            continue;
        }
        ids.push(first.to_owned());
    }
    ids
}

/// Which version a list belongs to: from its file name, else from ids that exist in only one
/// version's reference list, else from its size. `None` when still ambiguous.
pub fn guess_version(path: &Path, ids: &[String]) -> Option<Version> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    let by_name: Vec<Version> = Version::ALL
        .into_iter()
        .filter(|v| name.contains(&format!("v{v}")) || name.contains(&format!("-{v}.")))
        .collect();
    if let [v] = by_name[..] {
        return Some(v);
    }

    // 121 ids exist in both versions, so only the others say anything.
    let sets = Version::ALL.map(|v| {
        let set: BTreeSet<&str> = reference_ids(v)
            .into_iter()
            .map(|id| canonical(v, id))
            .collect();
        (v, set)
    });
    let only_in = |i: usize| {
        ids.iter()
            .filter(|id| {
                let mine = sets[i].0;
                sets[i].1.contains(canonical(mine, id))
                    && !sets[1 - i].1.contains(canonical(sets[1 - i].0, id))
            })
            .count()
    };
    match (only_in(0), only_in(1)) {
        (a, 0) if a > 0 => return Some(sets[0].0),
        (0, b) if b > 0 => return Some(sets[1].0),
        _ => {}
    }
    let by_size: Vec<Version> = Version::ALL
        .into_iter()
        .filter(|v| v.statement_count() == ids.len())
        .collect();
    match by_size[..] {
        [v] => Some(v),
        _ => None,
    }
}

/// Prints the differences between the manifest's ids and the list; returns 1 if any.
fn compare(m: &Manifest, list_path: &Path, ids: &[String]) -> usize {
    let want: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let have: BTreeSet<&str> = m.ids().collect();
    let missing: Vec<&str> = want.difference(&have).copied().collect();
    let extra: Vec<&str> = have.difference(&want).copied().collect();
    for id in &missing {
        println!("missing: {id}");
    }
    for id in &extra {
        match alias(m.version(), id).filter(|a| missing.contains(a)) {
            Some(other) => println!("extra: {id} (the other spelling of {other})"),
            None => println!("extra: {id}"),
        }
    }
    if want.len() != ids.len() {
        println!(
            "note: {} lists {} ids more than once",
            list_path.display(),
            ids.len() - want.len()
        );
    }
    println!(
        "{} against {} ({} ids): {} missing, {} extra",
        m.version(),
        list_path.display(),
        want.len(),
        missing.len(),
        extra.len()
    );
    usize::from(!missing.is_empty() || !extra.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_tsv_with_header_and_a_plain_list() {
        let tsv = "id\tsection\ttext\nMQTT-1.5.4-1\t1.5.4\tA\n\nMQTT-4.2-1\t4.2\tB\n";
        assert_eq!(read_ids(tsv), ["MQTT-1.5.4-1", "MQTT-4.2-1"]);
        assert_eq!(
            read_ids("MQTT-1.5.4-1\n# comment\n MQTT-4.2-1 \n"),
            ["MQTT-1.5.4-1", "MQTT-4.2-1"]
        );
    }

    #[test]
    fn version_from_the_file_name() {
        let none: Vec<String> = Vec::new();
        let g = |p: &str| guess_version(Path::new(p), &none);
        assert_eq!(g("/x/mqtt-v3.1.1-normative.tsv"), Some(Version::V3_1_1));
        assert_eq!(g("/x/mqtt-v5.0-normative-detail.tsv"), Some(Version::V5_0));
        assert_eq!(g("spec-manifest/ids-v3.1.1.txt"), Some(Version::V3_1_1));
        assert_eq!(g("ids.txt"), None);
    }

    #[test]
    fn version_from_ids_found_in_only_one_version() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // MQTT-1.5.4-1 is 5.0 only (3.1.1 numbers that section 1.5.3).
        assert_eq!(
            guess_version(Path::new("l.txt"), &ids(&["MQTT-1.5.4-1"])),
            Some(Version::V5_0)
        );
        assert_eq!(
            guess_version(Path::new("l.txt"), &ids(&["MQTT-1.5.3-1"])),
            Some(Version::V3_1_1)
        );
        // Both kinds, and no size match: ambiguous.
        assert_eq!(
            guess_version(Path::new("l.txt"), &ids(&["MQTT-1.5.4-1", "MQTT-1.5.3-1"])),
            None
        );
    }

    #[test]
    fn version_of_each_full_reference_list_without_a_hint() {
        for v in Version::ALL {
            let ids: Vec<String> = reference_ids(v).into_iter().map(String::from).collect();
            assert_eq!(guess_version(Path::new("list.txt"), &ids), Some(v));
        }
    }
}
