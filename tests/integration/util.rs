//! The test harness: run the real binary, start brokers, and snapshot output with the
//! parts that vary between runs (ports, ids, times) filtered out.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use mailtest::broker::{Broker, BrokerSettings};

/// A run of the `mailtest` binary, built up fluently.
pub struct Run {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

/// What a run produced.
#[derive(Debug)]
pub struct Done {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn mailtest() -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailtest"));
    for (key, _) in std::env::vars() {
        if key.starts_with("MAILTEST_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1").env("COLUMNS", "100");
    // Tests run where no mailtest.yaml is, unless a test gives one.
    cmd.current_dir(std::env::temp_dir());
    Run { cmd, stdin: None }
}

impl Run {
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    pub fn dir(mut self, dir: &std::path::Path) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    pub fn run(mut self) -> Done {
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("mailtest binary starts");
        if let Some(input) = self.stdin.take() {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().expect("mailtest runs");
        Done {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Runs and asserts success, returning stdout.
    pub fn ok(self) -> String {
        let done = self.run();
        assert_eq!(done.code, 0, "mailtest failed:\n{}", done.stderr);
        done.stdout
    }
}

impl Done {
    /// Asserts the run failed with `code` and said `needle` on stderr.
    pub fn fails_with(&self, code: i32, needle: &str) {
        assert_eq!(self.code, code, "{}", self.stderr);
        assert!(
            self.stderr.contains(needle),
            "expected `{needle}` in:\n{}",
            self.stderr
        );
    }
}

/// An embedded broker with the catalog's topics (3 partitions each).
pub fn broker() -> Broker {
    let catalog = mailtest::catalog::Catalog::builtin().expect("built-in catalog loads");
    Broker::start(&BrokerSettings {
        brokers: 1,
        partitions: 3,
        topics: catalog.topics(),
        ..BrokerSettings::default()
    })
    .expect("mock cluster starts")
}

/// Consumer group settings for the mock cluster, which takes seconds to settle otherwise.
pub const GROUP_TIMING: &[&str] = &[
    "-X",
    "session.timeout.ms=6000",
    "-X",
    "heartbeat.interval.ms=500",
];

/// The project root, for fixtures.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `target/tools/bin` (installed by `scripts/setup.sh`), or on `PATH`.
pub fn tool(name: &str) -> PathBuf {
    let local = root().join("target/tools/bin").join(name);
    if local.exists() {
        return local;
    }
    which(name).unwrap_or_else(|| panic!("`{name}` is not installed: run scripts/setup.sh"))
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// Insta settings that hide what changes between runs.
pub fn snapshot_filters() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"127\.0\.0\.1:\d+", "[ADDR]");
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[UUID]",
    );
    settings.add_filter(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
        "[TIME]",
    );
    settings.add_filter(r"/tmp/[^\s`:]+", "[TMP]");
    settings.add_filter(r"\(\d+ ms\)", "([N] ms)");
    settings
}

/// Parses JSON Lines output.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Runs headless Chromium (Debian's package, installed by `scripts/setup.sh`) on `url`
/// with `args` (such as `--dump-dom` or `--screenshot=FILE`); returns its stdout.
/// What headless Chromium needs on these machines: no sandbox (root), and none of the
/// background connections a closed network refuses.
pub const CHROMIUM_FLAGS: [&str; 8] = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

pub fn chromium(args: &[&str], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(tool("chromium"))
        .arg("--headless")
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One HTTP/1.1 GET over a fresh connection; the status and body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    http_request(addr, "GET", path, "")
}

/// One HTTP/1.1 request with a body (empty: none); the status and the body.
pub fn http_request(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let length = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{length}Connection: close\r\n\r\n{body}"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// One HTTP/1.1 GET; the status and the response headers, lower-cased.
pub fn http_head(addr: &str, path: &str) -> (u16, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response);
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    (response[9..12].parse().unwrap(), head.to_lowercase())
}

/// Sends `signal` (a name: `TERM`, `INT`, `KILL`) to process `pid`, or to process group
/// `-pid` when `group`; whether `kill` succeeded. Always `kill -s NAME -- TARGET`: procps-ng
/// 4.0's kill reads `kill -KILL -PGID` as `kill(-1, SIGKILL)`, which ends every process on
/// the machine, the test run and CI included.
pub fn signal(pid: u32, signal: &str, group: bool) -> bool {
    let target = if group {
        format!("-{pid}")
    } else {
        pid.to_string()
    };
    Command::new("kill")
        .args(["-s", signal, "--", &target])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_group_signal_reaches_that_group_alone() {
    use std::os::unix::process::CommandExt;
    let mut grouped = Command::new("sleep")
        .arg("600")
        .process_group(0)
        .spawn()
        .unwrap();
    let mut other = Command::new("sleep").arg("600").spawn().unwrap();
    assert!(signal(grouped.id(), "KILL", true));
    assert!(
        !grouped.wait().unwrap().success(),
        "the group was signalled"
    );
    assert!(
        other.try_wait().unwrap().is_none(),
        "a process outside it was not"
    );
    assert!(signal(other.id(), "TERM", false));
    assert!(!other.wait().unwrap().success());
}

/// The file's contents once it exists (ready files are written whole).
pub fn wait_for_file(path: &std::path::Path) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Copies a folder tree (a catalog or templates to change in a test).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}
