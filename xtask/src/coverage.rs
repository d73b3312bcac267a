//! `cargo xtask coverage`: which normative statements the scenarios declare, per version.
//!
//! Joins each built-in manifest with the ids the scenarios of that version declare, prints the
//! totals and the tables per section and per role, and writes `reports/coverage.json` and
//! `reports/coverage.md`. Ids that scenarios declare but the manifest lacks fail the command
//! (after the reports are written, so they can be read).
//!
//! The client role is counted apart: of the statements that bind a client (`role` client, and
//! the client half of `both`), how many a client-role scenario checks — a `both` statement
//! checked only by broker scenarios has its client half untested.

use anyhow::{bail, Context, Result};
use spec_manifest::{Coverage, Manifest, Version};
use std::path::PathBuf;

/// Options of `coverage`.
#[derive(clap::Args)]
pub struct Args {
    /// Directory for coverage.json and coverage.md (default: `reports/` at the workspace root).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// The statement ids that the scenarios of `version` declare, once per declaring scenario.
pub fn scenario_ids(version: Version) -> Vec<String> {
    scenarios::all()
        .into_iter()
        .filter(|s| s.version() == version)
        .flat_map(|s| s.ids().iter().map(|id| id.to_string()))
        .collect()
}

/// The client role of one version: client obligations and how many client-role scenarios check.
#[derive(serde::Serialize)]
struct ClientRole {
    version: &'static str,
    /// `role = "client"` statements (observable ones).
    client_only: usize,
    client_only_tested: usize,
    /// `role = "both"` statements (observable ones): their client half.
    both: usize,
    both_client_half_tested: usize,
    /// Ids of client obligations no client-role scenario checks yet.
    untested: Vec<String>,
}

impl ClientRole {
    fn compute(manifest: &Manifest, version: Version) -> ClientRole {
        use spec_manifest::model::Role as R;
        let tested: std::collections::BTreeSet<String> = scenarios::all()
            .into_iter()
            .filter(|s| s.version() == version && s.role() == scenarios::Role::Client)
            .flat_map(|s| s.ids().iter().map(|id| id.to_string()))
            .collect();
        let mut c = ClientRole {
            version: version.as_str(),
            client_only: 0,
            client_only_tested: 0,
            both: 0,
            both_client_half_tested: 0,
            untested: Vec::new(),
        };
        for st in manifest.iter().filter(|st| st.observable) {
            let hit = tested.contains(&st.id);
            match st.role {
                R::Client => {
                    c.client_only += 1;
                    c.client_only_tested += usize::from(hit);
                }
                R::Both => {
                    c.both += 1;
                    c.both_client_half_tested += usize::from(hit);
                }
                _ => continue,
            }
            if !hit {
                c.untested.push(st.id.clone());
            }
        }
        c
    }

    fn line(&self) -> String {
        format!(
            "MQTT {} client role: {} of {} client-only statements and the client half of {} of {} \
             `both` statements tested by client-role scenarios",
            self.version,
            self.client_only_tested,
            self.client_only,
            self.both_client_half_tested,
            self.both
        )
    }
}

pub fn run(args: Args) -> Result<()> {
    let out = args
        .out
        .unwrap_or_else(|| crate::workspace_root().join("reports"));
    let mut reports = Vec::new();
    let mut client_role = Vec::new();
    for version in Version::ALL {
        let manifest = Manifest::builtin(version)?;
        let ids = scenario_ids(version);
        let coverage = Coverage::compute(&manifest, ids.iter().map(String::as_str));
        print!("{}", coverage.to_text());
        let client = ClientRole::compute(&manifest, version);
        println!("{}", client.line());
        reports.push(coverage);
        client_role.push(client);
    }

    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let json = Report {
        generated_by: "cargo xtask coverage",
        versions: &reports,
        client_role: &client_role,
    };
    let json_path = out.join("coverage.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let md_path = out.join("coverage.md");
    std::fs::write(&md_path, markdown(&reports, &client_role))
        .with_context(|| format!("cannot write {}", md_path.display()))?;
    println!("wrote {} and {}", json_path.display(), md_path.display());

    let errors: Vec<String> = reports
        .iter()
        .filter_map(|c| c.check().err())
        .map(|e| e.to_string())
        .collect();
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(())
}

/// The shape of coverage.json: a struct, so the fields keep their order.
#[derive(serde::Serialize)]
struct Report<'a> {
    generated_by: &'static str,
    versions: &'a [Coverage],
    client_role: &'a [ClientRole],
}

fn markdown(reports: &[Coverage], client_role: &[ClientRole]) -> String {
    let mut md = String::from(
        "# Coverage of the normative statements by the scenarios\n\n\
         Generated by `cargo xtask coverage` from the manifests in `spec-manifest/` and the ids \
         the scenarios declare. `tested` means at least one scenario checks the statement; \
         the verdicts of a run are in the conformance report.\n\n",
    );
    for c in reports {
        md.push_str(&c.to_markdown());
    }
    md.push_str(
        "## Client role\n\nStatements binding a client (role `client`, and the client half of \
         `both`), observable ones, checked by a client-role scenario (a scripted server and the \
         client under test, `cargo xtask conformance --client`).\n\n\
         | version | client-only tested | `both`: client half tested |\n|---|---|---|\n",
    );
    for c in client_role {
        md.push_str(&format!(
            "| {} | {} / {} | {} / {} |\n",
            c.version, c.client_only_tested, c.client_only, c.both_client_half_tested, c.both
        ));
    }
    md
}
