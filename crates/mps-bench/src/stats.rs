//! Latency samples and error counts of one scenario, and their summary.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// What one virtual user observed: latencies in microseconds and errors by kind.
#[derive(Debug, Default)]
pub struct Recorder {
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
}

impl Recorder {
    /// Records one successful operation.
    pub fn ok(&mut self, latency: Duration) {
        self.latencies_us.push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
    }

    /// Records one failed operation under `kind` (an HTTP status or a transport error).
    pub fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
    }

    /// Adds another recorder's observations to this one.
    pub fn merge(&mut self, other: Recorder) {
        self.latencies_us.extend(other.latencies_us);
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
    }

    /// Successful operations so far.
    pub fn count(&self) -> usize {
        self.latencies_us.len()
    }

    /// Summarises the operations of a window of `elapsed`.
    pub fn summary(mut self, elapsed: Duration) -> OpSummary {
        self.latencies_us.sort_unstable();
        let samples = &self.latencies_us;
        let at = |q: f64| -> f64 {
            if samples.is_empty() {
                return 0.0;
            }
            // Nearest rank: the smallest sample with at least q of all samples at or below it.
            let rank = (q * samples.len() as f64).ceil().max(1.0) as usize;
            f64::from(samples[rank.min(samples.len()) - 1]) / 1000.0
        };
        let total: u64 = samples.iter().map(|&s| u64::from(s)).sum();
        let errors = self.errors.values().sum();
        OpSummary {
            count: samples.len() as u64,
            errors,
            error_kinds: self.errors,
            seconds: round3(elapsed.as_secs_f64()),
            per_second: round1(samples.len() as f64 / elapsed.as_secs_f64().max(1e-9)),
            mean_ms: round3(if samples.is_empty() { 0.0 } else { total as f64 / samples.len() as f64 / 1000.0 }),
            p50_ms: round3(at(0.50)),
            p95_ms: round3(at(0.95)),
            p99_ms: round3(at(0.99)),
            max_ms: round3(at(1.0)),
        }
    }
}

/// Throughput and latency of one kind of operation.
#[derive(Debug, Clone, Serialize)]
pub struct OpSummary {
    /// Successful operations in the window.
    pub count: u64,
    pub errors: u64,
    /// Errors by HTTP status or transport failure.
    pub error_kinds: BTreeMap<String, u64>,
    /// Length of the measured window.
    pub seconds: f64,
    pub per_second: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut recorder = Recorder::default();
        for ms in 1..=100 {
            recorder.ok(Duration::from_millis(ms));
        }
        recorder.error("500");
        let summary = recorder.summary(Duration::from_secs(2));
        assert_eq!((summary.count, summary.errors), (100, 1));
        assert_eq!((summary.p50_ms, summary.p95_ms, summary.p99_ms, summary.max_ms), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(summary.per_second, 50.0);
    }
}
