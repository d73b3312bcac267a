//! `mqttref acl`: edit and query an ACL file (Mosquitto's format, the broker's `acl_file`).
//!
//! - `mqttref acl add FILE [--user USER | --pattern] ACCESS FILTER`: a `topic` rule in USER's
//!   section (created at the end when missing), among the anonymous rules (before the first
//!   `user` line) without `--user`, or a `pattern` rule with `--pattern`.
//! - `mqttref acl remove FILE [--user USER | --pattern] ACCESS FILTER`: that rule's line.
//! - `mqttref acl list FILE`: the rules by section.
//! - `mqttref acl check FILE [--user USER] [--client-id ID] read|write|subscribe TOPIC`:
//!   `allow` (exit 0) or `deny` (exit 1), as the broker would judge.
//!
//! Edits keep every other line (comments included) and are checked by parsing the result as
//! the broker does before the file is replaced, so an edit never leaves a file the broker
//! would refuse.

use std::path::{Path, PathBuf};

use anyhow::bail;
use mqttref_broker::auth::Acl;
use mqttref_core::broker::{Access, Authorizer as _, Subject};

/// Which rules a rule belongs to.
#[derive(clap::Args)]
#[group(multiple = false)]
pub struct Section {
    /// The rule is USER's (after `user USER`).
    #[arg(long)]
    user: Option<String>,
    /// A `pattern` rule (every client; `%u`, `%c` substituted).
    #[arg(long)]
    pattern: bool,
}

/// `mqttref acl` subcommands.
#[derive(clap::Subcommand)]
pub enum AclCommand {
    /// Add a rule.
    Add {
        /// The ACL file (created when missing).
        file: PathBuf,
        #[command(flatten)]
        section: Section,
        /// read, write, readwrite or deny.
        #[arg(value_parser = ["read", "write", "readwrite", "deny"])]
        access: String,
        /// The topic filter.
        filter: String,
    },
    /// Remove a rule.
    Remove {
        /// The ACL file.
        file: PathBuf,
        #[command(flatten)]
        section: Section,
        /// read, write, readwrite or deny.
        #[arg(value_parser = ["read", "write", "readwrite", "deny"])]
        access: String,
        /// The topic filter.
        filter: String,
    },
    /// List the rules by section.
    List {
        /// The ACL file.
        file: PathBuf,
    },
    /// Judge one access as the broker would: prints allow (exit 0) or deny (exit 1).
    Check {
        /// The ACL file.
        file: PathBuf,
        /// The client's user name (none: an anonymous client).
        #[arg(long)]
        user: Option<String>,
        /// The client identifier (for `%c`).
        #[arg(long, default_value = "")]
        client_id: String,
        /// read (receive a message), write (publish) or subscribe (a filter).
        #[arg(value_parser = ["read", "write", "subscribe"])]
        access: String,
        /// The topic name (or filter, for subscribe).
        topic: String,
    },
}

/// One parsed line: where it is and what it says.
enum Line {
    User(String),
    Rule {
        pattern: bool,
        access: String,
        filter: String,
    },
    Other,
}

fn classify(raw: &str) -> Line {
    let line = raw.trim();
    let (keyword, rest) = line
        .split_once(char::is_whitespace)
        .map_or((line, ""), |(k, r)| (k, r.trim()));
    match keyword {
        "user" if !rest.is_empty() => Line::User(rest.to_owned()),
        "topic" | "pattern" => {
            let (access, filter) = match rest.split_once(char::is_whitespace) {
                Some((a, f)) if ["read", "write", "readwrite", "deny"].contains(&a) => {
                    (a.to_owned(), f.trim().to_owned())
                }
                _ => ("readwrite".to_owned(), rest.to_owned()),
            };
            Line::Rule {
                pattern: keyword == "pattern",
                access,
                filter,
            }
        }
        _ => Line::Other,
    }
}

/// The lines of `file` (none when missing) and whether it ended with a newline.
fn read_lines(file: &Path, must_exist: bool) -> anyhow::Result<Vec<String>> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => Ok(Vec::new()),
        Err(e) => bail!("{}: {e}", file.display()),
    }
}

/// Checks `lines` parse as the broker parses them, then replaces the file.
fn save(file: &Path, lines: &[String]) -> anyhow::Result<()> {
    let mut text = lines.join("\n");
    text.push('\n');
    Acl::parse(&text, file)?;
    mqttref_broker::auth::replace_file(file, &text)?;
    Ok(())
}

/// Index range of the section's `topic` rules: (where a new rule goes, the lines to search).
fn section_bounds(lines: &[String], user: Option<&str>) -> Option<(usize, std::ops::Range<usize>)> {
    let users: Vec<(usize, String)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match classify(l) {
            Line::User(u) => Some((i, u)),
            _ => None,
        })
        .collect();
    match user {
        None => {
            let end = users.first().map_or(lines.len(), |(i, _)| *i);
            Some((end, 0..end))
        }
        Some(u) => {
            let k = users.iter().position(|(_, name)| name == u)?;
            let start = users[k].0 + 1;
            let end = users.get(k + 1).map_or(lines.len(), |(i, _)| *i);
            // A new rule goes after the section's last rule (before trailing blank lines).
            let mut at = end;
            while at > start && lines[at - 1].trim().is_empty() {
                at -= 1;
            }
            Some((at, start..end))
        }
    }
}

fn rule_text(pattern: bool, access: &str, filter: &str) -> String {
    format!(
        "{} {access} {filter}",
        if pattern { "pattern" } else { "topic" }
    )
}

fn is_rule(line: &str, pattern: bool, access: &str, filter: &str) -> bool {
    matches!(classify(line), Line::Rule { pattern: p, access: a, filter: f }
        if p == pattern && a == access && f == filter)
}

/// Runs `mqttref acl`; `Ok(false)` is a `check` that denies (exit 1).
///
/// # Errors
/// A file that cannot be read or written, an edit the broker would refuse (file and line), a
/// rule to remove that is not there.
pub fn run(cmd: AclCommand) -> anyhow::Result<bool> {
    match cmd {
        AclCommand::Add {
            file,
            section,
            access,
            filter,
        } => {
            let mut lines = read_lines(&file, false)?;
            let rule = rule_text(section.pattern, &access, &filter);
            if section.pattern {
                lines.push(rule);
            } else {
                match section_bounds(&lines, section.user.as_deref()) {
                    Some((at, range)) => {
                        if lines[range]
                            .iter()
                            .any(|l| is_rule(l, false, &access, &filter))
                        {
                            bail!("{}: the rule is there already", file.display());
                        }
                        lines.insert(at, rule);
                    }
                    None => {
                        let user = section.user.unwrap_or_default();
                        lines.push(format!("user {user}"));
                        lines.push(rule);
                    }
                }
            }
            save(&file, &lines)?;
        }
        AclCommand::Remove {
            file,
            section,
            access,
            filter,
        } => {
            let mut lines = read_lines(&file, true)?;
            let range = if section.pattern {
                0..lines.len()
            } else {
                match section_bounds(&lines, section.user.as_deref()) {
                    Some((_, r)) => r,
                    None => bail!("{}: no such section", file.display()),
                }
            };
            let Some(i) = range
                .clone()
                .find(|&i| is_rule(&lines[i], section.pattern, &access, &filter))
            else {
                bail!(
                    "{}: no rule `{}`",
                    file.display(),
                    rule_text(section.pattern, &access, &filter)
                );
            };
            lines.remove(i);
            save(&file, &lines)?;
        }
        AclCommand::List { file } => {
            let lines = read_lines(&file, true)?;
            Acl::parse(&(lines.join("\n") + "\n"), &file)?;
            let mut heading = "anonymous clients".to_owned();
            let mut printed = String::new();
            let mut patterns = Vec::new();
            for l in &lines {
                match classify(l) {
                    Line::User(u) => heading = format!("user {u}"),
                    Line::Rule {
                        pattern: true,
                        access,
                        filter,
                    } => patterns.push(format!("  {access} {filter}")),
                    Line::Rule {
                        pattern: false,
                        access,
                        filter,
                    } => {
                        if printed != heading {
                            println!("{heading}:");
                            printed.clone_from(&heading);
                        }
                        println!("  {access} {filter}");
                    }
                    Line::Other => {}
                }
            }
            if !patterns.is_empty() {
                println!("patterns (every client):");
                for p in patterns {
                    println!("{p}");
                }
            }
        }
        AclCommand::Check {
            file,
            user,
            client_id,
            access,
            topic,
        } => {
            let acl = Acl::load(&file)?;
            let access = match access.as_str() {
                "read" => Access::Read,
                "write" => Access::Write,
                _ => Access::Subscribe,
            };
            let who = Subject {
                client_id: &client_id,
                username: user.as_deref(),
            };
            let allowed = acl.authorize(&who, &topic, access);
            println!("{}", if allowed { "allow" } else { "deny" });
            return Ok(allowed);
        }
    }
    Ok(true)
}
