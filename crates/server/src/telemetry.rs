//! Structured logging with `tracing`: human-readable text by default, JSON lines
//! for log pipelines. The level comes from `RUST_LOG` (default `info`).
//!
//! Lines go to standard error through a buffer that a thread of its own writes
//! out a batch at a time, at most [`FLUSH_EVERY`] after a line was logged: a
//! request's access line then costs a copy, not a system call on the thread
//! that serves requests. [`flush`] writes out what waits (the server calls it
//! before it exits); a killed process loses at most the last few milliseconds
//! of lines. When standard error falls behind by [`MAX_BUFFERED`] bytes, the
//! logging thread writes itself and waits for it, as an unbuffered write would.

use std::io::Write as _;
use std::sync::{Condvar, Mutex, MutexGuard, Once, PoisonError};
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The longest a logged line waits in memory.
const FLUSH_EVERY: Duration = Duration::from_millis(5);
/// Buffered bytes past which a logging thread writes out itself.
const MAX_BUFFERED: usize = 1 << 20;

/// Lines logged and not yet written, and the signal that there are some.
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static LOGGED: Condvar = Condvar::new();
static FLUSHER: Once = Once::new();

/// Installs the global subscriber. Safe to call more than once (later calls are
/// no-ops), which tests rely on.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    use std::io::IsTerminal as _;
    FLUSHER.call_once(|| {
        if let Err(e) = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(flush_loop)
        {
            eprintln!("flowhook: cannot start the log writer thread: {e}");
        }
        // A panic's message comes after the lines logged before it.
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            flush();
            report(info);
        }));
    });
    // Colours only for a person at a terminal, never into files or pipes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(|| BufferedStderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Writes out every line logged so far.
pub fn flush() {
    let mut pending = pending();
    let mut out = std::io::stderr().lock();
    let batch = std::mem::take(&mut *pending);
    drop(pending);
    let _ = out.write_all(&batch);
}

fn pending() -> MutexGuard<'static, Vec<u8>> {
    PENDING.lock().unwrap_or_else(PoisonError::into_inner)
}

fn flush_loop() {
    loop {
        let mut lines = pending();
        while lines.is_empty() {
            lines = LOGGED.wait(lines).unwrap_or_else(PoisonError::into_inner);
        }
        drop(lines);
        // Lines logged meanwhile go out in the same write.
        std::thread::sleep(FLUSH_EVERY);
        flush();
    }
}

/// What each log line is written to: the buffer (see the module doc).
struct BufferedStderr;

impl std::io::Write for BufferedStderr {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut pending = pending();
        if pending.len() + line.len() > MAX_BUFFERED {
            // The same lock order as `flush`: the buffer, then standard error.
            let mut out = std::io::stderr().lock();
            let batch = std::mem::take(&mut *pending);
            out.write_all(&batch)?;
            out.write_all(line)?;
            return Ok(line.len());
        }
        if pending.is_empty() {
            LOGGED.notify_one();
        }
        pending.extend_from_slice(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
