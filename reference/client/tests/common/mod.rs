//! Test support: a real Mosquitto on a free loopback port (stoppable and restartable on the same
//! port, killed on drop), and a TCP relay the test can sever.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// A Mosquitto broker owned by one test.
pub struct Mosquitto {
    bin: PathBuf,
    child: Option<Child>,
    dir: PathBuf,
    pub port: u16,
}

fn binary() -> Option<PathBuf> {
    let fixed = Path::new("/usr/sbin/mosquitto");
    if fixed.exists() {
        return Some(fixed.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("mosquitto"))
            .find(|p| p.exists())
    })
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Mosquitto {
    /// Starts Mosquitto, or returns `None` (saying so on stderr) if it is not installed.
    pub fn start(test: &str) -> Option<Mosquitto> {
        let Some(bin) = binary() else {
            eprintln!("SKIP {test}: mosquitto binary not found (install the `mosquitto` package)");
            return None;
        };
        for attempt in 0..5 {
            let port = free_port();
            let dir = std::env::temp_dir().join(format!(
                "mqttref-client-{test}-{}-{attempt}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("mosquitto.conf"),
                format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
            )
            .unwrap();
            let mut m = Mosquitto {
                bin: bin.clone(),
                child: None,
                dir,
                port,
            };
            if m.spawn() {
                return Some(m);
            }
        }
        panic!("could not start mosquitto");
    }

    fn spawn(&mut self) -> bool {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("mosquitto.log"))
            .unwrap();
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn mosquitto");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "mosquitto did not start: {}",
            std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
        );
        self.stop();
        false
    }

    /// Kills the broker (its in-memory state is lost).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        for _ in 0..20 {
            if self.spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("could not restart mosquitto on port {}", self.port);
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// When the relay cuts a connection on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutRule {
    /// MQTT packet type (high nibble of the first byte) seen going server → client.
    pub server_packet_type: u8,
    /// Forward that packet to the client before cutting (else drop it).
    pub forward: bool,
}

/// A TCP relay from a local port to `target`; cuts connections on command or by rule.
pub struct Relay {
    pub port: u16,
    sever: watch::Sender<u64>,
    rule: Arc<Mutex<Option<CutRule>>>,
    /// How many times a rule fired.
    pub fired: Arc<Mutex<u32>>,
}

impl Relay {
    pub async fn start(target_port: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sever, sever_rx) = watch::channel(0u64);
        let rule: Arc<Mutex<Option<CutRule>>> = Arc::new(Mutex::new(None));
        let fired = Arc::new(Mutex::new(0));
        let (rule2, fired2) = (rule.clone(), fired.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await
                else {
                    continue;
                };
                tokio::spawn(pipe(
                    client,
                    server,
                    sever_rx.clone(),
                    rule2.clone(),
                    fired2.clone(),
                ));
            }
        });
        Relay {
            port,
            sever,
            rule,
            fired,
        }
    }

    /// Cuts every open connection now.
    pub fn sever(&self) {
        self.sever.send_modify(|n| *n += 1);
    }

    /// Cuts the next connection that carries `rule.server_packet_type` from the server (once).
    pub fn cut_on(&self, rule: CutRule) {
        *self.rule.lock().unwrap() = Some(rule);
    }

    pub fn fired(&self) -> u32 {
        *self.fired.lock().unwrap()
    }
}

async fn pipe(
    client: tokio::net::TcpStream,
    server: tokio::net::TcpStream,
    mut sever: watch::Receiver<u64>,
    rule: Arc<Mutex<Option<CutRule>>>,
    fired: Arc<Mutex<u32>>,
) {
    sever.borrow_and_update();
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 8192];
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if sw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let down = async {
        // Frames server → client packets so a rule can act on a packet boundary.
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
            while let Some(len) = frame_len(&pending) {
                let packet: Vec<u8> = pending.drain(..len).collect();
                let ptype = packet[0] >> 4;
                let hit = {
                    let mut r = rule.lock().unwrap();
                    match *r {
                        Some(rr) if rr.server_packet_type == ptype => {
                            *r = None;
                            Some(rr)
                        }
                        _ => None,
                    }
                };
                if let Some(rr) = hit {
                    if rr.forward {
                        let _ = cw.write_all(&packet).await;
                    }
                    *fired.lock().unwrap() += 1;
                    return;
                }
                if cw.write_all(&packet).await.is_err() {
                    return;
                }
            }
        }
    };
    tokio::select! {
        () = up => {}
        () = down => {}
        _ = sever.changed() => {}
    }
    // Dropping both halves of both streams closes the connections.
}

/// Length of the first whole packet in `buf`, if complete.
fn frame_len(buf: &[u8]) -> Option<usize> {
    let mut len: usize = 0;
    let mut mult = 1usize;
    for i in 1..5 {
        let b = *buf.get(i)?;
        len += usize::from(b & 0x7F) * mult;
        mult *= 128;
        if b & 0x80 == 0 {
            let total = 1 + i + len;
            return (buf.len() >= total).then_some(total);
        }
    }
    None
}
