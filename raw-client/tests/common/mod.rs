//! Test support: a real Mosquitto on a free loopback port, killed on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Mosquitto broker owned by one test.
pub struct Mosquitto {
    child: Child,
    dir: PathBuf,
    /// `127.0.0.1:PORT`.
    pub addr: String,
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

impl Mosquitto {
    /// Starts Mosquitto, or returns `None` (after saying so on stderr) if it is not installed.
    pub fn start(test: &str) -> Option<Mosquitto> {
        let Some(bin) = binary() else {
            eprintln!("SKIP {test}: mosquitto binary not found (install the `mosquitto` package)");
            return None;
        };
        // A few attempts: the free port can be taken between probing and binding.
        for attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let dir = std::env::temp_dir().join(format!(
                "raw-client-{test}-{}-{attempt}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let conf = dir.join("mosquitto.conf");
            std::fs::write(
                &conf,
                format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
            )
            .unwrap();
            let log = std::fs::File::create(dir.join("mosquitto.log")).unwrap();
            let child = Command::new(&bin)
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log))
                .spawn()
                .expect("spawn mosquitto");
            let mut m = Mosquitto {
                child,
                dir,
                addr: format!("127.0.0.1:{port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(&m.addr).is_ok() {
                    return Some(m);
                }
                if let Ok(Some(_)) = m.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!(
                "mosquitto did not start on port {port}: {}",
                std::fs::read_to_string(m.dir.join("mosquitto.log")).unwrap_or_default()
            );
        }
        panic!("could not start mosquitto");
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
