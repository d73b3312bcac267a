//! `mqttref scram`: manage a SCRAM-SHA-256 credentials file (the broker's `scram_file`).
//!
//! - `mqttref scram add FILE USER`: set USER's credentials; the password is read twice from the
//!   terminal (no echo), or once from stdin when it is not a terminal (first line);
//!   `-b PASSWORD` takes it from the command line (visible to `ps`: scripts only); `-i N` sets
//!   the PBKDF2 iteration count (default 600,000); FILE is created when missing.
//! - `mqttref scram delete FILE USER`, `mqttref scram list FILE`.
//!
//! The file holds salts and derived keys, never a password (see `mqttref_broker::scram`).

use std::path::PathBuf;

use anyhow::bail;
use mqttref_broker::scram::{ScramFile, DEFAULT_ITERATIONS};
use mqttref_client::scram::MIN_ITERATIONS;

/// `mqttref scram` subcommands.
#[derive(clap::Subcommand)]
pub enum ScramCommand {
    /// Add or replace a user's credentials.
    Add {
        /// The credentials file (created when missing).
        file: PathBuf,
        /// The user name.
        user: String,
        /// The password, on the command line (visible to `ps`: scripts only).
        #[arg(short = 'b', value_name = "PASSWORD")]
        batch: Option<String>,
        /// PBKDF2 iteration count (at least 4096, RFC 7677).
        #[arg(short = 'i', long, default_value_t = DEFAULT_ITERATIONS)]
        iterations: u32,
    },
    /// Remove a user.
    Delete {
        /// The credentials file.
        file: PathBuf,
        /// The user name.
        user: String,
    },
    /// List the users and their iteration counts.
    List {
        /// The credentials file.
        file: PathBuf,
    },
}

/// Runs `mqttref scram`.
///
/// # Errors
/// A file that cannot be read or written, a malformed file (file and line), a bad user name or
/// iteration count, passwords that differ.
pub fn run(cmd: ScramCommand) -> anyhow::Result<()> {
    match cmd {
        ScramCommand::Add {
            file,
            user,
            batch,
            iterations,
        } => {
            if user.is_empty() || user.contains(':') || user.starts_with('#') {
                // `:` separates the fields; `#` at the start would make the line a comment.
                bail!("a user name cannot be empty, contain `:` or start with `#`");
            }
            if iterations < MIN_ITERATIONS {
                bail!("-i {iterations}: at least {MIN_ITERATIONS} (RFC 7677)");
            }
            let mut creds = if file.exists() {
                ScramFile::load(&file)?
            } else {
                ScramFile::default()
            };
            let password = match batch {
                Some(p) => p,
                None => crate::passwd::read_password()?,
            };
            creds
                .set(&user, &password, iterations)
                .map_err(anyhow::Error::msg)?;
            creds.save(&file)?;
        }
        ScramCommand::Delete { file, user } => {
            let mut creds = ScramFile::load(&file)?;
            if !creds.remove(&user) {
                bail!("{}: no user `{user}`", file.display());
            }
            creds.save(&file)?;
        }
        ScramCommand::List { file } => {
            for (user, c) in &ScramFile::load(&file)?.entries {
                println!("{user} (iterations {})", c.iterations);
            }
        }
    }
    Ok(())
}
