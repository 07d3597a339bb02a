//! Small in-memory implementations of the host traits (state, output, log), used by the
//! crate's unit tests and its native integration tests. Nothing here touches the outside.

use crate::types::{KriValue, Level, Logger, Output, StateStore};
use std::collections::BTreeMap;

/// State in a map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemState {
    pub map: BTreeMap<String, Vec<u8>>,
}

impl StateStore for MemState {
    fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        self.map.get(key).cloned()
    }
    fn set(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        self.map.insert(key.to_string(), value.to_vec());
        Ok(())
    }
    fn delete(&mut self, key: &str) {
        self.map.remove(key);
    }
    fn list_keys(&mut self, prefix: &str) -> Vec<String> {
        self.map
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }
}

/// Collects emitted KRIs.
#[derive(Debug, Clone, Default)]
pub struct MemOutput {
    pub values: Vec<KriValue>,
}

impl Output for MemOutput {
    fn emit_kri(&mut self, value: KriValue) -> Result<(), String> {
        self.values.push(value);
        Ok(())
    }
}

impl MemOutput {
    pub fn get(&self, slug: &str) -> Option<&KriValue> {
        self.values.iter().find(|v| v.slug == slug)
    }
}

/// Collects log lines and progress reports.
#[derive(Debug, Clone, Default)]
pub struct MemLog {
    pub lines: Vec<(Level, String)>,
    pub progress: Vec<(String, u64, Option<u64>)>,
}

impl Logger for MemLog {
    fn log(&mut self, level: Level, message: &str) {
        self.lines.push((level, message.to_string()));
    }
    fn progress(&mut self, stage: &str, done: u64, total: Option<u64>) {
        self.progress.push((stage.to_string(), done, total));
    }
}

/// Discards everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullLog;

impl Logger for NullLog {
    fn log(&mut self, _level: Level, _message: &str) {}
    fn progress(&mut self, _stage: &str, _done: u64, _total: Option<u64>) {}
}
