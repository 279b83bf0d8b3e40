//! Per-run limits, their sane bounds, and the limiter that enforces memory.

use serde::{Deserialize, Serialize};

/// Which limit ended a run. This is the error a trap carries when a limit is hit, so the run's
/// outcome can say exactly which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum LimitExceeded {
    /// The run used up its fuel.
    #[error("fuel limit exceeded")]
    Fuel,
    /// The run tried to grow its memory past the limit.
    #[error("memory limit exceeded")]
    Memory,
    /// The run took longer than its wall-clock deadline (or was cancelled).
    #[error("time limit exceeded")]
    Timeout,
    /// The run wrote or returned more output than allowed.
    #[error("output limit exceeded")]
    Output,
    /// The run made more host calls than allowed.
    #[error("host-call limit exceeded")]
    HostCalls,
}

/// The limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunLimits {
    /// Fuel (roughly, wasm instructions) the run may use.
    pub fuel: u64,
    /// Bytes of linear memory and tables the run may hold at once.
    pub memory_bytes: u64,
    /// Wall-clock milliseconds before the run is stopped.
    pub timeout_ms: u64,
    /// Bytes of output: the returned value, and stdout plus stderr together.
    pub max_output_bytes: u64,
    /// Host calls (fs, http, records) the run may make.
    pub max_host_calls: u64,
    /// Bytes the run may write to files, `fs.write` and `fs.append` together. A write that
    /// would pass it is refused whole with `limit-exceeded`, before it is decided; nothing of
    /// it is written.
    #[serde(default = "default_max_write_bytes")]
    pub max_write_bytes: u64,
}

fn default_max_write_bytes() -> u64 {
    64 << 20
}

impl Default for RunLimits {
    /// Safe defaults for a short agent task.
    fn default() -> Self {
        RunLimits {
            fuel: 2_000_000_000,
            memory_bytes: 256 << 20,
            timeout_ms: 10_000,
            max_output_bytes: 1 << 20,
            max_host_calls: 10_000,
            max_write_bytes: default_max_write_bytes(),
        }
    }
}

/// A limit outside its sane bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is {value}, outside {min}..={max}")]
pub struct LimitsError {
    /// The limit's name.
    pub name: &'static str,
    /// The value given.
    pub value: u64,
    /// The smallest value accepted.
    pub min: u64,
    /// The largest value accepted.
    pub max: u64,
}

impl RunLimits {
    /// Bounds each limit must fall within: `(name, min, max)`.
    pub const BOUNDS: [(&'static str, u64, u64); 6] = [
        ("fuel", 1_000, 1_000_000_000_000),
        ("memory_bytes", 64 << 10, 16 << 30),
        ("timeout_ms", 1, 3_600_000),
        ("max_output_bytes", 1, 256 << 20),
        ("max_host_calls", 1, 100_000_000),
        ("max_write_bytes", 1, 64 << 30),
    ];

    /// Check every limit against [`RunLimits::BOUNDS`].
    ///
    /// ```
    /// use cordon_runtime::RunLimits;
    /// assert!(RunLimits::default().validate().is_ok());
    /// let err = RunLimits { timeout_ms: 0, ..RunLimits::default() }.validate().unwrap_err();
    /// assert_eq!(err.name, "timeout_ms");
    /// ```
    pub fn validate(&self) -> Result<(), LimitsError> {
        let values = [
            self.fuel,
            self.memory_bytes,
            self.timeout_ms,
            self.max_output_bytes,
            self.max_host_calls,
            self.max_write_bytes,
        ];
        for ((name, min, max), value) in Self::BOUNDS.into_iter().zip(values) {
            if !(min..=max).contains(&value) {
                return Err(LimitsError {
                    name,
                    value,
                    min,
                    max,
                });
            }
        }
        Ok(())
    }
}

/// Enforces the memory limit and records the peak.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: usize,
    total: usize,
    pub(crate) peak: usize,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        MemoryLimiter {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            total: 0,
            peak: 0,
        }
    }

    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let total = self.total.saturating_sub(current).saturating_add(desired);
        if total > self.limit {
            return Err(wasmtime::Error::new(LimitExceeded::Memory));
        }
        self.total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current, desired)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A table element is a pointer-sized slot; count tables against the same budget.
        let slot = std::mem::size_of::<usize>();
        self.grow(current.saturating_mul(slot), desired.saturating_mul(slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bound_is_enforced_at_both_ends() {
        for (i, (name, min, max)) in RunLimits::BOUNDS.into_iter().enumerate() {
            for bad in [min - 1, max + 1] {
                let mut l = RunLimits::default();
                let field = [
                    &mut l.fuel,
                    &mut l.memory_bytes,
                    &mut l.timeout_ms,
                    &mut l.max_output_bytes,
                    &mut l.max_host_calls,
                    &mut l.max_write_bytes,
                ];
                *field.into_iter().nth(i).unwrap() = bad;
                assert_eq!(l.validate().unwrap_err().name, name);
            }
        }
    }

    #[test]
    fn the_limiter_refuses_growth_past_the_limit_and_tracks_the_peak() {
        let mut m = MemoryLimiter::new(100);
        assert!(m.grow(0, 60).unwrap());
        assert!(m.grow(60, 100).unwrap());
        let err = m.grow(100, 101).unwrap_err();
        assert_eq!(
            err.downcast_ref::<LimitExceeded>(),
            Some(&LimitExceeded::Memory)
        );
        assert_eq!(m.peak, 100);
    }
}
