//! Broker processes for the commands that measure real brokers (`soak`, `bench`): the `mqttref`
//! binary built in release mode, Mosquitto found on the system, a broker process started on a
//! free loopback port and waited for, its resident memory and CPU time read from `/proc`, and
//! many idle MQTT connections held open at once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `target/` in the workspace.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Mosquitto on PATH, or in /usr/sbin or /usr/local/sbin (where Debian and source installs put
/// it, often outside a user's PATH).
pub fn find_mosquitto() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("mosquitto"))
        .find(|p| p.is_file())
}

/// Mosquitto's version, from the first line of `mosquitto -h`.
pub fn mosquitto_version(bin: &Path) -> Option<String> {
    let out = Command::new(bin).arg("-h").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("mosquitto version "))
        .map(str::to_string)
}

/// `cargo build --release -p mqttref-cli`; returns the binary.
pub fn build_mqttref(root: &Path, target: &Path) -> Result<PathBuf> {
    println!("building mqttref (cargo build --release -p mqttref-cli)");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["build", "--release", "-p", "mqttref-cli"])
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("building mqttref failed ({status})");
    }
    let bin = target.join("release").join("mqttref");
    if !bin.is_file() {
        bail!("{} is missing after the build", bin.display());
    }
    Ok(bin)
}

/// `git describe --always --dirty` of the workspace, or `?`.
pub fn git_describe(root: &Path) -> String {
    Command::new("git")
        .current_dir(root)
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

/// A loopback address whose port was free a moment ago (the OS picked it).
pub fn free_loopback_addr() -> Result<SocketAddr> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Creates `dir`, readable by all: Mosquitto started as root drops to its own user, and must
/// still read its configuration there.
pub fn readable_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Writes a configuration file readable by all (see [`readable_dir`]).
pub fn write_readable(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    Ok(())
}

/// A broker process, killed by [`BrokerProcess::stop`].
pub struct BrokerProcess {
    child: Child,
    /// Where it listens for MQTT.
    pub addr: SocketAddr,
    /// Its stdout and stderr.
    log: PathBuf,
}

impl BrokerProcess {
    /// Starts `cmd` with its output in `log` and waits (up to 10 s) until `addr` accepts TCP
    /// connections. `name` is for the error messages.
    pub async fn start(
        name: &str,
        mut cmd: Command,
        addr: SocketAddr,
        log: PathBuf,
    ) -> Result<BrokerProcess> {
        let log_file = std::fs::File::create(&log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", cmd.get_program().to_string_lossy()))?;
        let mut broker = BrokerProcess { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = broker.child.try_wait()? {
                bail!("{name} exited at start ({status}): {}", broker.log_tail());
            }
            if TcpStream::connect(addr).await.is_ok() {
                return Ok(broker);
            }
            if Instant::now() > deadline {
                broker.stop();
                bail!("{name} did not listen on {addr} within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in KiB (`VmRSS`), or 0 if the process is gone.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }

    /// Why the process ended, if it did.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("broker exited ({status})")),
            _ => None,
        }
    }

    /// Whether its log has a line containing `needle`.
    pub fn log_contains(&self, needle: &str) -> bool {
        std::fs::read_to_string(&self.log).is_ok_and(|t| t.contains(needle))
    }

    /// The last 5 lines of its log, joined with " / ".
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" / ")
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident set size of process `pid` in KiB (`VmRSS` in `/proc/PID/status`), or 0 if it is
/// gone.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system) of process `pid`, from `/proc/PID/stat`, at the usual 100 clock
/// ticks per second (as `mqttref bench --broker-pid` reads it).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields restart after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Idle connections held open, and how opening them went.
pub struct Idle {
    pub conns: Vec<TcpStream>,
    pub errors: usize,
    pub first_error: Option<String>,
    /// From the first connect to the last CONNACK.
    pub took: Duration,
}

/// Opens `n` connections to `addr`, each sending `connect(i)` (a CONNECT) and reading a
/// successful CONNACK, at most 100 handshakes at once (Mosquitto's listen backlog is 100).
pub async fn open_idle(addr: SocketAddr, n: usize, connect: impl Fn(usize) -> Vec<u8>) -> Idle {
    let mut tasks = JoinSet::new();
    let mut idle = Idle {
        conns: Vec::with_capacity(n),
        errors: 0,
        first_error: None,
        took: Duration::ZERO,
    };
    let start = Instant::now();
    for i in 0..n {
        while tasks.len() >= 100 {
            idle.collect(tasks.join_next().await);
        }
        let bytes = connect(i);
        tasks.spawn(async move { idle_connect(addr, bytes).await });
    }
    while let Some(r) = tasks.join_next().await {
        idle.collect(Some(r));
    }
    idle.took = start.elapsed();
    idle
}

impl Idle {
    fn collect(&mut self, r: Option<Result<Result<TcpStream>, tokio::task::JoinError>>) {
        match r {
            Some(Ok(Ok(c))) => self.conns.push(c),
            Some(Ok(Err(e))) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
            Some(Err(e)) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| e.to_string());
            }
            None => {}
        }
    }
}

/// One idle connection: the CONNECT, a CONNACK accepting it with no session present (3.1.1's
/// four bytes, or 5.0's with properties), and nothing else. (No read buffer kept: thousands of
/// these are held at once.)
async fn idle_connect(addr: SocketAddr, connect: Vec<u8>) -> Result<TcpStream> {
    let mut s = TcpStream::connect(addr).await.context("TCP connect")?;
    s.write_all(&connect).await?;
    let mut ack = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(30), async {
        s.read_exact(&mut ack).await?;
        // 5.0: the properties after the flags and the reason code (under 128 bytes).
        if ack[0] == 0x20 && ack[1] > 2 && ack[1] < 0x80 {
            let mut props = vec![0u8; ack[1] as usize - 2];
            s.read_exact(&mut props).await?;
        }
        std::io::Result::Ok(())
    })
    .await
    .context("no CONNACK in 30 s")?
    .context("reading CONNACK")?;
    if ack[0] != 0x20 || ack[1] < 2 || ack[1] >= 0x80 || ack[2] != 0 || ack[3] != 0 {
        bail!("CONNACK {ack:02x?}");
    }
    Ok(s)
}

/// `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// KiB as `12.3 MiB`.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
