//! `mqttref passwd`: manage a password file of argon2id hashes, with mosquitto_passwd's flags.
//!
//! - `mqttref passwd FILE USER`: set USER's password, read twice from the terminal (no echo),
//!   or once from stdin when it is not a terminal (first line).
//! - `-b FILE USER PASSWORD`: the password on the command line (visible to `ps`: scripts only).
//! - `-c`: create (or overwrite) FILE instead of updating it.
//! - `-D FILE USER`: delete USER.
//! - `-U FILE`: hash a plaintext `user:password` file in place.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use mqttref_broker::auth::PasswordFile;

/// Flags as mosquitto_passwd's.
#[derive(clap::Args)]
pub struct PasswdArgs {
    /// Create a new file (overwriting any).
    #[arg(short = 'c')]
    create: bool,
    /// Take the password from the command line: FILE USER PASSWORD.
    #[arg(short = 'b')]
    batch: bool,
    /// Delete USER from FILE.
    #[arg(short = 'D', conflicts_with_all = ["create", "batch", "upgrade"])]
    delete: bool,
    /// Hash a plaintext `user:password` FILE in place.
    #[arg(short = 'U', conflicts_with_all = ["create", "batch"])]
    upgrade: bool,
    /// The password file.
    file: PathBuf,
    /// USER [PASSWORD].
    rest: Vec<String>,
}

/// Runs `mqttref passwd`.
///
/// # Errors
/// A file that cannot be read or written, a malformed file (file and line), wrong arguments,
/// passwords that differ.
pub fn run(args: PasswdArgs) -> anyhow::Result<()> {
    let path = args.file.as_path();
    if args.upgrade {
        if !args.rest.is_empty() {
            bail!("-U takes only FILE");
        }
        let plain = PasswordFile::load_plain(path)?;
        let mut hashed = PasswordFile::default();
        for (user, password) in &plain.entries {
            hashed.set(user, password.as_bytes());
        }
        hashed.save(path)?;
        return Ok(());
    }
    let (user, password) = match (args.batch, args.rest.as_slice()) {
        (true, [u, p]) => (u, Some(p.clone())),
        (false, [u]) => (u, None),
        (true, _) => bail!("-b takes FILE USER PASSWORD"),
        (false, _) => bail!("expected FILE USER"),
    };
    if user.is_empty() || user.contains(':') || user.starts_with('#') {
        // `#` at the start would make the line a comment.
        bail!("a user name cannot be empty, contain `:` or start with `#`");
    }
    let mut file = if args.create {
        PasswordFile::default()
    } else {
        load_existing(path)?
    };
    if args.delete {
        if !file.remove(user) {
            bail!("{}: no user `{user}`", path.display());
        }
        file.save(path)?;
        return Ok(());
    }
    let password = match password {
        Some(p) => p,
        None => read_password()?,
    };
    file.set(user, password.as_bytes());
    file.save(path)?;
    Ok(())
}

fn load_existing(path: &Path) -> anyhow::Result<PasswordFile> {
    if !path.exists() {
        bail!("{}: no such file (use -c to create it)", path.display());
    }
    Ok(PasswordFile::load(path)?)
}

/// Twice from the terminal without echo, or the first line of stdin.
pub(crate) fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Password: ").context("reading the password")?;
        let b = rpassword::prompt_password("Reenter password: ").context("reading the password")?;
        if a != b {
            bail!("passwords do not match");
        }
        return Ok(a);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}
