//! Adapter files (TOML; the format is documented in `CLIENTS.md`). Two kinds:
//!
//! - `[commands]`: which command line performs each operation; the runner spawns it with the
//!   placeholders filled in and reads what it prints. The built-in `mosquitto` adapter is such
//!   a file (`scenarios/adapters/mosquitto.toml`). Described below.
//! - `process = [...]`: one long-running process per session speaking the JSON line protocol
//!   ([`super::process`]), for client libraries wrapped in a small script.
//!
//! One process is one connection: a session performs its first operation by starting the
//! command (`subscribe` stays running and prints the messages it receives, one per line:
//! `<qos> <retain 0|1> <payload hex> <topic>`; `publish` exits 0 once its flow completed).
//! A further operation on the same session would be a second connection, so it is unsupported,
//! except `disconnect`, which sends the running command the file's signal.

use super::{AppMessage, ClientAdapter, DrivenClient, Event, Op, Session, Unsupported};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

/// An adapter file, as read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterFile {
    /// The client's name, for reports.
    pub name: String,
    /// A command whose first output line names the client's version (optional).
    #[serde(default)]
    pub version_command: Vec<String>,
    /// `{protocol}` per version (`"5.0"`, `"3.1.1"`); a version not listed is unsupported.
    #[serde(default)]
    pub protocol: BTreeMap<String, String>,
    /// Command lines per operation: `connect`, `subscribe`, `publish` (each optional).
    #[serde(default)]
    pub commands: BTreeMap<String, Vec<String>>,
    /// Or: the command line of a line-protocol adapter process (one per session).
    pub process: Option<Vec<String>>,
    /// For a `process` adapter: what its client cannot do (key: a version, `reconnect`,
    /// `no_clean_start`, `session_expiry`, `retain`, or an operation), with the reason.
    #[serde(default)]
    pub unsupported: BTreeMap<String, String>,
    /// Arguments for optional settings, and what the client can do.
    #[serde(default)]
    pub options: Options,
}

/// The `[options]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Appended when Clean Start is 0.
    pub no_clean_start: Option<Vec<String>>,
    /// Appended when a Session Expiry Interval is set (`{session_expiry}`).
    pub session_expiry: Option<Vec<String>>,
    /// Appended to `publish` when RETAIN is 1.
    pub retain: Option<Vec<String>>,
    /// The commands that reconnect by themselves when the connection drops.
    #[serde(default)]
    pub reconnects: Vec<String>,
    /// Signal (`INT`, `TERM`) that makes a running command disconnect normally.
    pub disconnect_signal: Option<String>,
}

/// An adapter driving command-line clients.
#[derive(Debug, Clone)]
pub struct CommandAdapter {
    file: AdapterFile,
}

impl CommandAdapter {
    /// The built-in `mosquitto` adapter.
    pub fn mosquitto() -> CommandAdapter {
        CommandAdapter::parse(include_str!("../../adapters/mosquitto.toml"))
            .expect("the built-in mosquitto adapter file parses")
    }

    /// Reads an adapter file.
    pub fn load(path: &Path) -> Result<CommandAdapter, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the adapter file {}: {e}", path.display()))?;
        let mut a = CommandAdapter::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        // A relative program path with a directory in it is relative to the adapter file, so
        // an adapter and its script can live side by side anywhere.
        // The same holds for the version command, which may ask that script.
        if let Some(dir) = path.parent() {
            let programs = [
                a.file.process.as_mut().and_then(|p| p.first_mut()),
                a.file.version_command.first_mut(),
            ];
            for program in programs.into_iter().flatten() {
                if program.contains('/') && Path::new(program.as_str()).is_relative() {
                    *program = dir.join(program.as_str()).display().to_string();
                }
            }
        }
        Ok(a)
    }

    /// Parses an adapter file's text.
    pub fn parse(text: &str) -> Result<CommandAdapter, String> {
        let file: AdapterFile = toml::from_str(text).map_err(|e| e.to_string())?;
        match (&file.process, file.commands.is_empty()) {
            (Some(argv), true) if !argv.is_empty() => return Ok(CommandAdapter { file }),
            (Some(_), true) => return Err("`process`: empty command line".into()),
            (Some(_), false) => {
                return Err("give either `process` or `[commands]`, not both".into())
            }
            (None, true) => return Err("no `[commands]` and no `process`".into()),
            (None, false) => {}
        }
        for (op, argv) in &file.commands {
            if !["connect", "subscribe", "publish"].contains(&op.as_str()) {
                return Err(format!(
                    "[commands] {op}: unknown operation (connect, subscribe, publish)"
                ));
            }
            if argv.is_empty() {
                return Err(format!("[commands] {op}: empty command line"));
            }
        }
        Ok(CommandAdapter { file })
    }
}

impl ClientAdapter for CommandAdapter {
    fn name(&self) -> String {
        self.file.name.clone()
    }

    fn version(&self) -> Option<String> {
        let (program, args) = self.file.version_command.split_first()?;
        let out = std::process::Command::new(program)
            .args(args)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        text.lines()
            .map(str::trim)
            .find(|l| l.contains("version"))
            .map(str::to_string)
    }

    fn start(&self, session: Session) -> Result<Box<dyn DrivenClient>, Unsupported> {
        let name = &self.file.name;
        if let Some(argv) = &self.file.process {
            return super::process::start(name, argv, &self.file.unsupported, session);
        }
        let c = &session.connect;
        let protocol =
            self.file.protocol.get(c.version.as_str()).ok_or_else(|| {
                Unsupported(format!("{name}: MQTT {} is not supported", c.version))
            })?;
        let (key, first) = match &session.first {
            None => ("connect", None),
            Some(op @ Op::Subscribe { .. }) => ("subscribe", Some(op)),
            Some(op @ Op::Publish { .. }) => ("publish", Some(op)),
            Some(op) => {
                return Err(Unsupported(format!(
                    "{name}: cannot {} as the first operation of a session",
                    op.name()
                )))
            }
        };
        let template = self.file.commands.get(key).ok_or_else(|| {
            Unsupported(format!("{name}: the adapter file has no `{key}` command"))
        })?;
        let mut vars: BTreeMap<&str, String> = BTreeMap::new();
        vars.insert("host", c.host.clone());
        vars.insert("port", c.port.to_string());
        vars.insert("protocol", protocol.clone());
        vars.insert("client_id", c.client_id.clone());
        vars.insert("keep_alive", c.keep_alive.to_string());
        let mut argv: Vec<String> = Vec::new();
        let mut extra: Vec<&[String]> = Vec::new();
        let opts = &self.file.options;
        let need = |what: &str, arg: &Option<Vec<String>>| -> Result<Vec<String>, Unsupported> {
            arg.clone()
                .ok_or_else(|| Unsupported(format!("{name}: cannot set {what}")))
        };
        let no_clean;
        if !c.clean_start {
            no_clean = need("Clean Start 0", &opts.no_clean_start)?;
            extra.push(&no_clean);
        }
        let expiry;
        if let Some(e) = c.session_expiry {
            vars.insert("session_expiry", e.to_string());
            expiry = need("a Session Expiry Interval", &opts.session_expiry)?;
            extra.push(&expiry);
        }
        if c.reconnect && !opts.reconnects.iter().any(|r| r == key) {
            return Err(Unsupported(format!(
                "{name}: its `{key}` command does not reconnect by itself"
            )));
        }
        let retain;
        match first {
            Some(Op::Subscribe { filter, qos }) => {
                vars.insert("filter", filter.clone());
                vars.insert("qos", qos.to_string());
            }
            Some(Op::Publish {
                topic,
                payload,
                qos,
                retain: r,
            }) => {
                vars.insert("topic", topic.clone());
                vars.insert("payload", String::from_utf8_lossy(payload).into_owned());
                vars.insert("qos", qos.to_string());
                if *r {
                    retain = need("RETAIN 1", &opts.retain)?;
                    extra.push(&retain);
                }
            }
            _ => {}
        }
        for arg in template.iter().chain(extra.into_iter().flatten()) {
            argv.push(fill(arg, &vars).map_err(Unsupported)?);
        }
        let (events_tx, events) = mpsc::unbounded_channel();
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| Unsupported(format!("{name}: cannot run `{}`: {e}", argv[0])))?;
        let _ = events_tx.send(Event::Log(format!("started: {}", argv.join(" "))));
        let pid = child.id();
        if let Some(out) = child.stdout.take() {
            let tx = events_tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = tx.send(match parse_message(&line) {
                        Some(m) => Event::Message(m),
                        None => Event::Log(format!("stdout: {line}")),
                    });
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            let tx = events_tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = tx.send(Event::Log(format!("stderr: {line}")));
                }
            });
        }
        let is_publish = key == "publish";
        let (kill_tx, mut kill_rx) = mpsc::unbounded_channel::<()>();
        let tx = events_tx;
        tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s,
                _ = kill_rx.recv() => {
                    let _ = child.kill().await;
                    child.wait().await
                }
            };
            let text = match &status {
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            };
            if is_publish {
                let ok = status.as_ref().is_ok_and(|s| s.success());
                let _ = tx.send(Event::Done {
                    op: "publish",
                    result: if ok { Ok(()) } else { Err(text.clone()) },
                });
            }
            let _ = tx.send(Event::Stopped(format!("the process ended: {text}")));
        });
        Ok(Box::new(Running {
            name: name.clone(),
            pid,
            signal: opts.disconnect_signal.clone(),
            events,
            kill: kill_tx,
        }))
    }
}

/// `arg` with every `{name}` replaced; an unknown or unset placeholder is an error.
fn fill(arg: &str, vars: &BTreeMap<&str, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("unclosed placeholder in `{arg}`"));
        };
        let key = &rest[open + 1..open + close];
        let v = vars
            .get(key)
            .ok_or_else(|| format!("placeholder {{{key}}} has no value in `{arg}`"))?;
        out.push_str(v);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `<qos> <retain 0|1> <payload hex> <topic>` (the payload may be empty).
fn parse_message(line: &str) -> Option<AppMessage> {
    let mut parts = line.splitn(4, ' ');
    let qos = parts.next()?.parse().ok()?;
    let retain = match parts.next()? {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    let hex = parts.next()?;
    let topic = parts.next()?.to_string();
    if hex.len() % 2 != 0 {
        return None;
    }
    let payload = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(AppMessage {
        topic,
        payload,
        qos,
        retain,
    })
}

/// How long after `disconnect` is asked the running command gets its signal.
const SIGNAL_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

struct Running {
    name: String,
    pid: Option<u32>,
    signal: Option<String>,
    events: mpsc::UnboundedReceiver<Event>,
    kill: mpsc::UnboundedSender<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.kill.send(());
    }
}

impl DrivenClient for Running {
    fn perform(&mut self, op: Op) -> Result<(), Unsupported> {
        match (op, &self.signal, self.pid) {
            (Op::Disconnect, Some(sig), Some(pid)) => {
                let r = std::process::Command::new("kill")
                    .arg("-0")
                    .arg(pid.to_string())
                    .status();
                if !r.is_ok_and(|s| s.success()) {
                    return Err(Unsupported(format!(
                        "{}: could not signal the process",
                        self.name
                    )));
                }
                // The signal goes out after SIGNAL_DELAY, as a user's Ctrl-C would: a signal
                // landing within a millisecond of the SUBACK, while mosquitto_sub is inside a
                // libmosquitto callback, sometimes left it running without a DISCONNECT (1 run
                // in 30), a race of our timing rather than of the protocol.
                let sig = sig.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(SIGNAL_DELAY).await;
                    let _ = tokio::process::Command::new("kill")
                        .arg(format!("-{sig}"))
                        .arg(pid.to_string())
                        .status()
                        .await;
                });
                Ok(())
            }
            (Op::Disconnect, _, _) => Err(Unsupported(format!(
                "{}: no way to make a running command disconnect (no disconnect_signal)",
                self.name
            ))),
            (op, _, _) => Err(Unsupported(format!(
                "{}: one operation per process and connection; cannot {} on a running session",
                self.name,
                op.name()
            ))),
        }
    }

    fn events(&mut self) -> &mut mpsc::UnboundedReceiver<Event> {
        &mut self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mosquitto_file_parses() {
        let a = CommandAdapter::mosquitto();
        assert_eq!(a.name(), "mosquitto");
        assert!(a.file.commands.contains_key("subscribe"));
    }

    #[test]
    fn placeholders_and_message_lines() {
        let mut vars = BTreeMap::new();
        vars.insert("host", "127.0.0.1".to_string());
        assert_eq!(fill("-h{host}:x", &vars).unwrap(), "-h127.0.0.1:x");
        assert!(fill("{nope}", &vars).is_err());
        assert_eq!(
            parse_message("1 0 6869 a/b c").unwrap(),
            AppMessage {
                topic: "a/b c".into(),
                payload: b"hi".to_vec(),
                qos: 1,
                retain: false
            }
        );
        assert_eq!(parse_message("0 1  t").unwrap().payload, b"");
        assert!(parse_message("hello").is_none());
    }
}
