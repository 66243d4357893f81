//! The team's service or Celery worker in a smoke run: a shell command started once the
//! broker and sink are up, told where they are through `MAILTEST_*` variables (so its own
//! settings can name them: `CELERY_BROKER_URL=$MAILTEST_CELERY_BROKER`), with its output in
//! a log file, in a process group of its own so that stopping it stops what it started.
//! With Celery's result backend, the worker is ready once it has run a canary task.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::celery::results::Watch;

/// How long a stopped worker has to finish before it is killed.
const GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot start the worker `{command}`: {source}")]
    Start {
        command: String,
        source: std::io::Error,
    },
    #[error(
        "the worker exited ({status}) before it ran a task; the end of its log, {log}:\n{tail}"
    )]
    Exited {
        status: String,
        log: String,
        tail: String,
    },
    #[error("the worker ran no task within {}s; its log: {log}", .waited.as_secs())]
    NotReady { waited: Duration, log: String },
}

/// A running worker.
pub struct Worker {
    child: tokio::process::Child,
    pub log: PathBuf,
}

impl Worker {
    /// Runs `command` with `sh -c` and the variables `env`, its output to a log file.
    pub fn start(command: &str, env: &[(&str, String)]) -> Result<Self, WorkerError> {
        let failed = |source| WorkerError::Start {
            command: command.to_owned(),
            source,
        };
        let log = std::env::temp_dir().join(format!(
            "mailtest-smoke-worker-{}-{}.log",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let out = std::fs::File::create(&log).map_err(failed)?;
        let err = out.try_clone().map_err(failed)?;
        let child = tokio::process::Command::new("sh")
            .args(["-c", command])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(failed)?;
        Ok(Self { child, log })
    }

    /// Waits until the worker has run the canary task `id` (its result seen at `watch`),
    /// or fails when the worker exits or `timeout` passes first.
    pub async fn ready(
        &mut self,
        watch: &Watch,
        id: &str,
        timeout: Duration,
    ) -> Result<(), WorkerError> {
        let deadline = Instant::now() + timeout;
        let ids = [id];
        tokio::select! {
            answered = watch.until_final(&ids, deadline) => {
                if answered {
                    Ok(())
                } else {
                    Err(WorkerError::NotReady { waited: timeout, log: self.log_name() })
                }
            }
            status = self.child.wait() => Err(WorkerError::Exited {
                status: status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                log: self.log_name(),
                tail: self.tail(),
            }),
        }
    }

    /// Stops the worker's process group: TERM, then KILL after a grace period.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            signal_group(pid, "TERM");
            if tokio::time::timeout(GRACE, self.child.wait())
                .await
                .is_err()
            {
                signal_group(pid, "KILL");
                let _ = self.child.wait().await;
            }
        }
    }

    fn log_name(&self) -> String {
        self.log.display().to_string()
    }

    /// The last lines of the log.
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

/// Sends `signal` to the process group `pgid` (the worker and what it started).
fn signal_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .status();
}
