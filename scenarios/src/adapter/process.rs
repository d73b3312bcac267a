//! The line-protocol adapter: one long-running process per session, driven by JSON lines on its
//! stdin and reporting JSON lines on its stdout (the protocol is in `CLIENTS.md`). For client
//! libraries a small script can wrap (paho-mqtt for Python, MQTT.js): unlike command lines, one
//! process keeps one session, so every operation and reconnection is possible.

use super::{AppMessage, DrivenClient, Event, Op, Session, Unsupported};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Starts `argv` for `session`, checking `unsupported` (what the adapter file says its client
/// cannot do: a version `"5.0"`/`"3.1.1"`, an option `reconnect`, `no_clean_start`,
/// `session_expiry`, `retain`, or an operation name) first.
pub(crate) fn start(
    name: &str,
    argv: &[String],
    unsupported: &BTreeMap<String, String>,
    session: Session,
) -> Result<Box<dyn DrivenClient>, Unsupported> {
    let c = &session.connect;
    let refuse = |key: &str| -> Result<(), Unsupported> {
        match unsupported.get(key) {
            Some(why) => Err(Unsupported(format!("{name}: {key}: {why}"))),
            None => Ok(()),
        }
    };
    refuse(c.version.as_str())?;
    if c.reconnect {
        refuse("reconnect")?;
    }
    if !c.clean_start {
        refuse("no_clean_start")?;
    }
    if c.session_expiry.is_some() {
        refuse("session_expiry")?;
    }
    if let Some(op) = &session.first {
        check_op(name, unsupported, op)?;
    }
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Unsupported(format!("{name}: empty `process` command")))?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Unsupported(format!("{name}: cannot run `{program}`: {e}")))?;
    let (events_tx, events) = mpsc::unbounded_channel();
    let (lines_tx, mut lines_rx) = mpsc::unbounded_channel::<String>();
    let mut stdin = child.stdin.take();
    let connect = json!({
        "op": "connect",
        "host": c.host,
        "port": c.port,
        "version": c.version.as_str(),
        "client_id": c.client_id,
        "keep_alive": c.keep_alive,
        "clean_start": c.clean_start,
        "session_expiry": c.session_expiry,
        "reconnect": c.reconnect,
    });
    let _ = lines_tx.send(connect.to_string());
    if let Some(op) = &session.first {
        let _ = lines_tx.send(op_line(op));
    }
    if let Some(out) = child.stdout.take() {
        let tx = events_tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(parse_event(&line));
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
    let tx = events_tx;
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                line = lines_rx.recv() => {
                    let Some(line) = line else { break };
                    if let Some(stdin) = stdin.as_mut() {
                        let _ = stdin.write_all(format!("{line}\n").as_bytes()).await;
                        let _ = stdin.flush().await;
                    }
                }
                status = child.wait() => {
                    let text = match status {
                        Ok(s) => s.to_string(),
                        Err(e) => e.to_string(),
                    };
                    let _ = tx.send(Event::Stopped(format!("the adapter process ended: {text}")));
                    return;
                }
            }
        }
        // The session was dropped: close stdin (the adapter should stop) and kill it.
        drop(stdin);
        let _ = child.kill().await;
    });
    Ok(Box::new(Process {
        name: name.to_string(),
        unsupported: unsupported.clone(),
        lines: lines_tx,
        events,
        task,
    }))
}

fn check_op(
    name: &str,
    unsupported: &BTreeMap<String, String>,
    op: &Op,
) -> Result<(), Unsupported> {
    let mut keys = vec![op.name()];
    if let Op::Publish { retain: true, .. } = op {
        keys.push("retain");
    }
    for key in keys {
        if let Some(why) = unsupported.get(key) {
            return Err(Unsupported(format!("{name}: {key}: {why}")));
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The JSON line for `op`.
pub fn op_line(op: &Op) -> String {
    match op {
        Op::Publish {
            topic,
            payload,
            qos,
            retain,
        } => json!({"op": "publish", "topic": topic, "payload_hex": hex(payload), "qos": qos, "retain": retain}),
        Op::Subscribe { filter, qos } => json!({"op": "subscribe", "filter": filter, "qos": qos}),
        Op::Unsubscribe { filter } => json!({"op": "unsubscribe", "filter": filter}),
        Op::Disconnect => json!({"op": "disconnect"}),
    }
    .to_string()
}

/// An event from one line the adapter printed; a line that is not one is kept as a log line.
pub fn parse_event(line: &str) -> Event {
    let log = || Event::Log(format!("stdout: {line}"));
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return log();
    };
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    match v.get("event").and_then(Value::as_str) {
        Some("connected") => Event::Connected,
        Some("done") => {
            let op = match v.get("op").and_then(Value::as_str) {
                Some("publish") => "publish",
                Some("subscribe") => "subscribe",
                Some("unsubscribe") => "unsubscribe",
                Some("disconnect") => "disconnect",
                _ => return log(),
            };
            let ok = v.get("ok").and_then(Value::as_bool).unwrap_or(false);
            Event::Done {
                op,
                result: if ok {
                    Ok(())
                } else {
                    Err(s("error").unwrap_or_else(|| "failed".into()))
                },
            }
        }
        Some("message") => {
            let (Some(topic), Some(payload)) =
                (s("topic"), s("payload_hex").as_deref().and_then(unhex))
            else {
                return log();
            };
            Event::Message(AppMessage {
                topic,
                payload,
                qos: v.get("qos").and_then(Value::as_u64).unwrap_or(0) as u8,
                retain: v.get("retain").and_then(Value::as_bool).unwrap_or(false),
            })
        }
        Some("stopped") => Event::Stopped(s("reason").unwrap_or_default()),
        _ => log(),
    }
}

/// The adapter's side of the protocol, for adapters written in Rust (and as its reference):
/// the connect line read back.
pub fn parse_connect(line: &str) -> Option<super::ConnectOptions> {
    let v: Value = serde_json::from_str(line).ok()?;
    if v.get("op")?.as_str()? != "connect" {
        return None;
    }
    let version = match v.get("version")?.as_str()? {
        "5.0" => spec_manifest::Version::V5_0,
        "3.1.1" => spec_manifest::Version::V3_1_1,
        _ => return None,
    };
    Some(super::ConnectOptions {
        version,
        host: v.get("host")?.as_str()?.to_string(),
        port: u16::try_from(v.get("port")?.as_u64()?).ok()?,
        client_id: v.get("client_id")?.as_str()?.to_string(),
        keep_alive: u16::try_from(v.get("keep_alive")?.as_u64()?).ok()?,
        clean_start: v.get("clean_start")?.as_bool()?,
        session_expiry: v
            .get("session_expiry")
            .and_then(Value::as_u64)
            .and_then(|e| u32::try_from(e).ok()),
        reconnect: v.get("reconnect").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// The adapter's side: an operation line read back.
pub fn parse_op(line: &str) -> Option<Op> {
    let v: Value = serde_json::from_str(line).ok()?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let qos = || v.get("qos").and_then(Value::as_u64).map(|q| q as u8);
    Some(match v.get("op")?.as_str()? {
        "publish" => Op::Publish {
            topic: s("topic")?,
            payload: unhex(&s("payload_hex")?)?,
            qos: qos()?,
            retain: v.get("retain").and_then(Value::as_bool).unwrap_or(false),
        },
        "subscribe" => Op::Subscribe {
            filter: s("filter")?,
            qos: qos()?,
        },
        "unsubscribe" => Op::Unsubscribe {
            filter: s("filter")?,
        },
        "disconnect" => Op::Disconnect,
        _ => return None,
    })
}

/// The adapter's side: the line reporting `event`.
pub fn event_line(event: &Event) -> String {
    match event {
        Event::Connected => json!({"event": "connected"}),
        Event::Done { op, result } => match result {
            Ok(()) => json!({"event": "done", "op": op, "ok": true}),
            Err(e) => json!({"event": "done", "op": op, "ok": false, "error": e}),
        },
        Event::Message(m) => json!({
            "event": "message",
            "topic": m.topic,
            "payload_hex": hex(&m.payload),
            "qos": m.qos,
            "retain": m.retain,
        }),
        Event::Stopped(reason) => json!({"event": "stopped", "reason": reason}),
        Event::Log(text) => json!({"event": "log", "text": text}),
    }
    .to_string()
}

struct Process {
    name: String,
    unsupported: BTreeMap<String, String>,
    lines: mpsc::UnboundedSender<String>,
    events: mpsc::UnboundedReceiver<Event>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Process {
    fn drop(&mut self) {
        // The task owns the child, spawned with kill_on_drop: aborting it kills the process.
        self.task.abort();
    }
}

impl DrivenClient for Process {
    fn perform(&mut self, op: Op) -> Result<(), Unsupported> {
        check_op(&self.name, &self.unsupported, &op)?;
        let _ = self.lines.send(op_line(&op));
        Ok(())
    }

    fn events(&mut self) -> &mut mpsc::UnboundedReceiver<Event> {
        &mut self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let op = Op::Publish {
            topic: "a/b".into(),
            payload: b"hi".to_vec(),
            qos: 1,
            retain: false,
        };
        let line = op_line(&op);
        assert!(line.contains("\"payload_hex\":\"6869\""), "{line}");
        assert_eq!(
            parse_event(
                r#"{"event":"message","topic":"a/b","payload_hex":"6869","qos":1,"retain":true}"#
            ),
            Event::Message(AppMessage {
                topic: "a/b".into(),
                payload: b"hi".to_vec(),
                qos: 1,
                retain: true
            })
        );
        assert_eq!(
            parse_event(r#"{"event":"done","op":"publish","ok":false,"error":"x"}"#),
            Event::Done {
                op: "publish",
                result: Err("x".into())
            }
        );
        assert_eq!(parse_event("hello"), Event::Log("stdout: hello".into()));
        assert_eq!(parse_op(&line), Some(op));
        let e = Event::Done {
            op: "subscribe",
            result: Ok(()),
        };
        assert_eq!(parse_event(&event_line(&e)), e);
    }
}
