//! `mqttref-line-adapter`: the reference client behind the JSON line protocol of `CLIENTS.md`
//! (stdin: a `connect` line, then operation lines; stdout: event lines). It is the protocol's
//! worked example and its end-to-end test (`scenarios/adapters/mqttref-line.toml`); an adapter
//! for paho-mqtt or MQTT.js does the same in a few dozen lines of Python or JavaScript.

use scenarios::adapter::process::{event_line, parse_connect, parse_op};
use scenarios::adapter::{mqttref::Mqttref, ClientAdapter, Session};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let Ok(Some(first)) = lines.next_line().await else {
        return;
    };
    let Some(connect) = parse_connect(&first) else {
        eprintln!("the first line is not a connect line: {first}");
        std::process::exit(2);
    };
    let mut client = match Mqttref.start(Session {
        connect,
        first: None,
    }) {
        Ok(c) => c,
        Err(u) => {
            eprintln!("{u}");
            std::process::exit(2);
        }
    };
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => match parse_op(&line) {
                    Some(op) => {
                        let _ = client.perform(op);
                    }
                    None => eprintln!("not an operation line: {line}"),
                },
                // stdin closed: the runner is done with this session.
                _ => return,
            },
            event = client.events().recv() => match event {
                Some(e) => println!("{}", event_line(&e)),
                None => return,
            },
        }
    }
}
