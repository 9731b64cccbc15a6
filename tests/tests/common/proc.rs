//! A child process of the product's binary (`app work`), for tests that need real worker processes beside the
//! test's own: included by the test files that use it.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;
use worker::crypto::Secret;

/// A child process of the product's binary; killed (and its log shown, when the test is failing) on drop.
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// `app work`.
    pub fn start(name: &str, db_url: &str, key: &Secret, env: &[(&str, &str)]) -> Self {
        Self::start_as("work", name, db_url, key, env)
    }

    /// `app <command>` (`work`, `api`, `serve`).
    pub fn start_as(command: &str, name: &str, db_url: &str, key: &Secret, env: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("wa-proc-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_app"));
        cmd.arg(command)
            .env_clear()
            .env("APP_DATABASE_URL", db_url)
            .env("APP_ENCRYPTION_KEY", key.expose())
            .env("APP_LISTEN_ADDR", "127.0.0.1:0")
            .env("APP_DATA_DIR", &dir)
            .env("APP_LOG_FORMAT", "json")
            .env("APP_REVERIFY_SCHEDULE", "off")
            // The simulators listen on 127.0.0.1.
            .env("APP_ALLOW_PRIVATE_URLS", "true")
            .env("APP_WORKER_HEARTBEAT_SECS", "1")
            .env("RUST_LOG", "info,sqlx=warn,sea_orm=warn")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name: name.to_owned(), child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, as a service manager stops a process.
    pub fn terminate(&self) {
        let ok = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status().unwrap();
        assert!(ok.success(), "kill -TERM {} failed", self.pid());
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for the process to exit without blocking the runtime (the simulator answers from it).
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines.
    pub fn log_lines(&self) -> Vec<Value> {
        self.log_text().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let text = self.log_text();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            eprintln!("---- last log lines of {} ----", self.name);
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}
