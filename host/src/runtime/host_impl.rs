//! The `vigil:probe/host` interface: what a guest calls to log, time steps, record
//! metrics, read its config and secrets, and flag a degraded run.

use super::RunState;
use super::bindings::vigil::probe::host::{Host, Level};
use crate::record::{LogLevel, LogSource};

/// Step names longer than this are cut: they become label values.
const MAX_STEP_NAME: usize = 128;

impl Host for RunState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        if self.rec.lock().log(level, LogSource::Log, message) {
            Ok(())
        } else {
            wasmtime::bail!("log cap exceeded")
        }
    }

    fn step_start(&mut self, mut name: String) -> wasmtime::Result<()> {
        if name.len() > MAX_STEP_NAME {
            let cut = name.floor_char_boundary(MAX_STEP_NAME);
            name.truncate(cut);
        }
        self.rec.lock().step_start(name);
        Ok(())
    }

    fn step_end(&mut self, ok: bool, detail: String) -> wasmtime::Result<()> {
        self.rec.lock().step_end(ok, detail);
        Ok(())
    }

    fn metric(
        &mut self,
        name: String,
        value: f64,
        labels: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        self.rec.lock().metric(name, value, labels);
        Ok(())
    }

    fn config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.spec.config.get(&key).cloned())
    }

    fn secret(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.spec.secrets.get(&name).map(|s| s.expose().to_string()))
    }

    fn degraded(&mut self, reason: String) -> wasmtime::Result<()> {
        self.rec.lock().degraded(reason);
        Ok(())
    }
}
