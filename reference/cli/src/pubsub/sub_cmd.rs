//! `mqttref sub`: subscribe and print what arrives, like `mosquitto_sub`.

use std::io::Write;
use std::time::{Duration, SystemTime};

use clap::Args;
use mqttref_client::{
    Message, QoS, ReasonCode, ReconnectPolicy, SubscribeFilter, SubscribeProperties,
};
use mqttref_core::topic::matches;

use super::{
    client_options, connect, format, parse_qos, run_and_exit, ConnectArgs, Failure, EXIT_TIMEOUT,
};

/// Subscribe to topics on an MQTT broker and print the messages (flags as mosquitto_sub).
#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true, after_help = super::EXIT_CODES_HELP)]
pub struct SubArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Topic filter to subscribe to; repeatable.
    #[arg(short = 't', long = "topic")]
    pub topics: Vec<String>,
    /// Topic filter whose messages are not printed; repeatable.
    #[arg(short = 'T', long = "filter-out")]
    pub filter_out: Vec<String>,
    /// Unsubscribe from this filter after subscribing; repeatable.
    #[arg(short = 'U', long = "unsubscribe")]
    pub unsubscribe: Vec<String>,
    /// Subscription QoS.
    #[arg(short = 'q', long = "qos", default_value = "0", value_parser = parse_qos)]
    pub qos: QoS,
    /// Exit after this many messages.
    #[arg(short = 'C', long = "count")]
    pub count: Option<u64>,
    /// Exit (code 27) after this many seconds if -C messages have not arrived.
    #[arg(short = 'W', long = "timeout")]
    pub timeout: Option<u64>,
    /// Exit once all subscriptions are acknowledged.
    #[arg(short = 'E', long = "exit-after-sub")]
    pub exit_after_sub: bool,
    /// Print the topic before the payload.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Output format (see `%t %p %q %r %l %m %x %C %P %I %U %%` in the crate README).
    #[arg(short = 'F', long = "format")]
    pub format: Option<String>,
    /// Do not add a newline after each message.
    #[arg(short = 'N', long = "no-newline")]
    pub no_newline: bool,
    /// Do not print stale (retained) messages.
    #[arg(short = 'R', long = "no-retained")]
    pub no_retained: bool,
    /// Only print retained messages; exit on the first non-retained one.
    #[arg(long = "retained-only")]
    pub retained_only: bool,
    /// Subscription option No Local (5.0).
    #[arg(long = "nl")]
    pub no_local: bool,
    /// Subscription option Retain As Published (5.0).
    #[arg(long = "rap")]
    pub retain_as_published: bool,
    /// Subscription option Retain Handling (5.0): 0 send at subscribe, 1 only if new, 2 never.
    #[arg(long = "rh", value_parser = clap::value_parser!(u8).range(0..=2))]
    pub retain_handling: Option<u8>,
    /// Print help.
    #[arg(long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// Runs `mqttref sub` and exits with its code.
pub fn run(args: SubArgs) -> ! {
    let quiet = args.connect.quiet;
    run_and_exit(quiet, subscribe(args))
}

async fn subscribe(args: SubArgs) -> Result<(), Failure> {
    let (mut options, props, url_topic) = client_options(&args.connect, "mqttref_sub")?;
    let mut topics = args.topics.clone();
    if let Some(t) = url_topic {
        topics.insert(0, t);
    }
    if topics.is_empty() {
        return Err(Failure::usage(
            "no topic given: use -t TOPIC (repeatable) or -L URL/TOPIC",
        ));
    }
    // Like mosquitto_sub, keep going across connection losses once connected.
    options.reconnect = ReconnectPolicy::default();
    let mut filters = Vec::new();
    for t in &topics {
        let mut f = SubscribeFilter::new(t.clone(), args.qos);
        f.options.no_local = args.no_local;
        f.options.retain_as_published = args.retain_as_published;
        f.options.retain_handling = match args.retain_handling {
            Some(1) => mqttref_client::RetainHandling::SendAtSubscribeIfNew,
            Some(2) => mqttref_client::RetainHandling::DoNotSend,
            _ => mqttref_client::RetainHandling::SendAtSubscribe,
        };
        filters.push(f);
    }
    let (client, mut incoming) = connect(options).await?;
    // As mosquitto_sub: the -W timeout starts once connected.
    let deadline = args
        .timeout
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let sub_props = SubscribeProperties {
        subscription_identifier: props.subscription_identifier,
        user_properties: props.subscribe_user.clone(),
    };
    let outcome = client
        .subscribe(filters, sub_props)
        .await
        .map_err(Failure::from)?;
    let mut refused = 0;
    for (t, code) in topics.iter().zip(&outcome.reason_codes) {
        if code.is_error() {
            refused += 1;
            if !args.connect.quiet {
                eprintln!("mqttref: subscription to `{t}` refused: {code}");
            }
        }
    }
    if refused == topics.len() {
        let _ = client.disconnect().await;
        return Err(Failure::error("all subscription requests were denied"));
    }
    if !args.unsubscribe.is_empty() {
        client
            .unsubscribe(args.unsubscribe.clone(), props.unsubscribe_user.clone())
            .await
            .map_err(Failure::from)?;
    }
    if args.exit_after_sub {
        let _ = client.disconnect().await;
        return Ok(());
    }
    let mut printed: u64 = 0;
    let mut stdout = std::io::stdout().lock();
    let result = loop {
        if args.count.is_some_and(|c| printed >= c) {
            break Ok(());
        }
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, incoming.recv()).await {
                Ok(m) => m,
                Err(_) => {
                    break Err(Failure {
                        code: EXIT_TIMEOUT,
                        message: "timed out waiting for messages".into(),
                    })
                }
            },
            None => incoming.recv().await,
        };
        let Some(m) = next else {
            break Err(Failure::error(format!(
                "disconnected: {:?}",
                client.state()
            )));
        };
        if args.retained_only && !m.retain {
            break Ok(());
        }
        if (args.no_retained && m.retain) || args.filter_out.iter().any(|f| matches(f, &m.topic)) {
            continue;
        }
        let line = render(&args, &m);
        if stdout
            .write_all(&line)
            .and_then(|()| stdout.flush())
            .is_err()
        {
            // stdout closed (e.g. `| head`): stop quietly.
            break Ok(());
        }
        printed += 1;
    };
    drop(stdout);
    let _ = client
        .disconnect_with(ReasonCode::Success, props.disconnect_session_expiry)
        .await;
    result
}

fn render(args: &SubArgs, m: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.payload.len() + m.topic.len() + 2);
    match &args.format {
        Some(f) => format::render(f, m, SystemTime::now(), &mut out),
        None => {
            if args.verbose {
                out.extend_from_slice(m.topic.as_bytes());
                out.push(b' ');
            }
            out.extend_from_slice(&m.payload);
        }
    }
    if !args.no_newline {
        out.push(b'\n');
    }
    out
}
