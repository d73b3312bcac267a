//! `mqttref pub`: publish one message (or one per stdin line) and exit, like `mosquitto_pub`.

use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args};
use mqttref_client::{OutgoingMessage, QoS, ReasonCode};

use super::{client_options, connect, parse_qos, run_and_exit, ConnectArgs, Failure};

/// Publish a message to an MQTT broker (flags as mosquitto_pub).
#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true, after_help = super::EXIT_CODES_HELP)]
#[command(group(ArgGroup::new("source").args(["message", "file", "stdin_file", "stdin_line", "null_message"])))]
pub struct PubArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Topic to publish to (or the topic of -L).
    #[arg(short = 't', long = "topic")]
    pub topic: Option<String>,
    /// Message payload.
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
    /// Send the contents of a file as the message.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Send all of stdin as one message.
    #[arg(short = 's', long = "stdin-file")]
    pub stdin_file: bool,
    /// Send each line of stdin as a separate message.
    #[arg(short = 'l', long = "stdin-line")]
    pub stdin_line: bool,
    /// Send a zero-length (null) message.
    #[arg(short = 'n', long = "null-message")]
    pub null_message: bool,
    /// Quality of service.
    #[arg(short = 'q', long = "qos", default_value = "0", value_parser = parse_qos)]
    pub qos: QoS,
    /// Retain the message.
    #[arg(short = 'r', long = "retain")]
    pub retain: bool,
    /// Publish the message this many times.
    #[arg(long = "repeat", default_value_t = 1)]
    pub repeat: u32,
    /// Seconds between repeats (fractions allowed).
    #[arg(long = "repeat-delay", default_value_t = 0.0)]
    pub repeat_delay: f64,
    /// Print help.
    #[arg(long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// Runs `mqttref pub` and exits with its code.
pub fn run(args: PubArgs) -> ! {
    let quiet = args.connect.quiet;
    run_and_exit(quiet, publish(args))
}

async fn publish(args: PubArgs) -> Result<(), Failure> {
    let (options, props, url_topic) = client_options(&args.connect, "mqttref_pub")?;
    let topic = args
        .topic
        .clone()
        .or(url_topic)
        .ok_or_else(|| Failure::usage("no topic given: use -t TOPIC (or -L URL/TOPIC)"))?;
    // Read the payload before connecting, so a bad file is a usage error with no connection.
    let single: Option<Vec<u8>> = if let Some(m) = &args.message {
        Some(m.clone().into_bytes())
    } else if let Some(f) = &args.file {
        Some(
            std::fs::read(f)
                .map_err(|e| Failure::usage(format!("cannot read {}: {e}", f.display())))?,
        )
    } else if args.stdin_file {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Failure::error(format!("reading stdin: {e}")))?;
        Some(buf)
    } else if args.null_message {
        Some(Vec::new())
    } else if args.stdin_line {
        None
    } else {
        return Err(Failure::usage(
            "no message given: use one of -m MSG, -f FILE, -s, -l or -n",
        ));
    };
    if !args.repeat_delay.is_finite() || args.repeat_delay < 0.0 {
        return Err(Failure::usage(
            "--repeat-delay must be a non-negative number of seconds",
        ));
    }
    let (client, _incoming) = connect(options).await?;
    let send = |payload: Vec<u8>| {
        let mut msg = OutgoingMessage::new(topic.clone(), payload)
            .with_qos(args.qos)
            .with_retain(args.retain);
        msg.properties = props.publish.clone();
        let client = client.clone();
        async move {
            let out = client.publish_message(msg).await.map_err(Failure::from)?;
            if out.reason_code.is_error() {
                let why = out
                    .properties
                    .reason_string
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                return Err(Failure::error(format!(
                    "publish refused: {}{why}",
                    out.reason_code
                )));
            }
            Ok(())
        }
    };
    match single {
        Some(payload) => {
            for i in 0..args.repeat.max(1) {
                if i > 0 && args.repeat_delay > 0.0 {
                    tokio::time::sleep(Duration::from_secs_f64(args.repeat_delay)).await;
                }
                send(payload.clone()).await?;
            }
        }
        None => {
            // -l: one message per line, as lines arrive (read on a blocking thread).
            let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(64);
            std::thread::spawn(move || {
                for line in std::io::stdin().lock().split(b'\n') {
                    let line = line.map(|mut l| {
                        if l.last() == Some(&b'\r') {
                            l.pop();
                        }
                        l
                    });
                    if tx.blocking_send(line).is_err() {
                        return;
                    }
                }
            });
            while let Some(line) = rx.recv().await {
                let line = line.map_err(|e| Failure::error(format!("reading stdin: {e}")))?;
                send(line).await?;
            }
        }
    }
    let _ = client
        .disconnect_with(ReasonCode::Success, props.disconnect_session_expiry)
        .await;
    Ok(())
}
