//! Captures everything the process logs (and every response body the tests receive) so tests can prove that a
//! secret never appears in either.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static BODIES: Mutex<String> = Mutex::new(String::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut l) = LOGS.lock() {
            l.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs a process-wide subscriber at TRACE level writing into the capture buffer (once).
pub fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(|| Capture)
            .with_ansi(false)
            .try_init();
    });
}

pub fn record_body(raw: &str) {
    if let Ok(mut b) = BODIES.lock() {
        b.push_str(raw);
        b.push('\n');
    }
}

/// Everything logged so far by the whole test process.
pub fn captured_logs() -> String {
    LOGS.lock().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default()
}

/// Every response body received so far by the whole test process.
pub fn captured_bodies() -> String {
    BODIES.lock().map(|b| b.clone()).unwrap_or_default()
}
