//! Per-run quotas: the limits on what one connector run may consume, and the
//! counters that charge against them.
//!
//! [`QuotaUsage`] charges two kinds of accounting (see [`Accounting`]): running
//! totals that only grow (requests, bytes, outputs, ...) and per-item caps (the
//! size of one response). [`QuotaUsage::charge`] refuses a charge that would
//! exceed its quota and leaves the counters unchanged when it does. The quotas on
//! levels that go up and down are enforced where the level lives, not here: memory
//! by the store's limiter, concurrent requests by the gateway's semaphore, state
//! keys and bytes by the sandbox's state overlay, and CPU and wall time by the
//! runtime's epoch callback and timeout.

use std::fmt;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// The limits for one run. Names match [`QuotaKind::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Linear memory of the component (256 MiB).
    pub memory_bytes: u64,
    /// CPU time, enforced through epoch interruption (60 s).
    pub cpu_ms: u64,
    /// Wall-clock time of the run (10 min).
    pub wall_ms: u64,
    /// HTTP requests sent, retries included (100 000).
    pub http_requests: u64,
    /// Size of one response body (32 MiB).
    pub response_bytes: u64,
    /// Request and response bytes over the whole run (2 GiB).
    pub total_bytes: u64,
    /// Requests in flight at once (32).
    pub concurrent_requests: u64,
    /// Outputs emitted, per kind (500 000: the identity graph of a 10,000-user org
    /// with 1,000 groups and 300 apps is about 220,000 edges).
    pub outputs: u64,
    /// Keys held in durable state (100 000).
    pub state_keys: u64,
    /// Bytes held in durable state, keys plus values (256 MiB).
    pub state_bytes: u64,
    /// Bytes of log messages (1 MiB).
    pub log_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            memory_bytes: 256 * MIB,
            cpu_ms: 60_000,
            wall_ms: 600_000,
            http_requests: 100_000,
            response_bytes: 32 * MIB,
            total_bytes: 2 * GIB,
            concurrent_requests: 32,
            outputs: 500_000,
            state_keys: 100_000,
            state_bytes: 256 * MIB,
            log_bytes: MIB,
        }
    }
}

/// Errors from configuring quotas.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("unknown quota '{name}' (known: {known})", known = Quotas::names().join(", "))]
    UnknownQuota { name: String },
}

impl Quotas {
    /// The quota names accepted by [`Quotas::apply_overrides`], in field order.
    pub fn names() -> &'static [&'static str] {
        const NAMES: [&str; QuotaKind::ALL.len()] = {
            let mut names = [""; QuotaKind::ALL.len()];
            let mut i = 0;
            while i < QuotaKind::ALL.len() {
                names[i] = QuotaKind::ALL[i].name();
                i += 1;
            }
            names
        };
        &NAMES
    }

    /// The limit for `kind`.
    pub fn limit(&self, kind: QuotaKind) -> u64 {
        *self.field(kind)
    }

    /// Sets the limit for `kind`.
    pub fn set(&mut self, kind: QuotaKind, limit: u64) {
        *self.field_mut(kind) = limit;
    }

    /// Applies `name = value` overrides. All names are checked first: on error
    /// nothing is changed.
    pub fn apply_overrides(&mut self, overrides: &[(String, u64)]) -> Result<(), QuotaError> {
        let mut parsed = Vec::with_capacity(overrides.len());
        for (name, value) in overrides {
            let kind = QuotaKind::from_name(name)
                .ok_or_else(|| QuotaError::UnknownQuota { name: name.clone() })?;
            parsed.push((kind, *value));
        }
        for (kind, value) in parsed {
            self.set(kind, value);
        }
        Ok(())
    }

    fn field(&self, kind: QuotaKind) -> &u64 {
        match kind {
            QuotaKind::MemoryBytes => &self.memory_bytes,
            QuotaKind::CpuMs => &self.cpu_ms,
            QuotaKind::WallMs => &self.wall_ms,
            QuotaKind::HttpRequests => &self.http_requests,
            QuotaKind::ResponseBytes => &self.response_bytes,
            QuotaKind::TotalBytes => &self.total_bytes,
            QuotaKind::ConcurrentRequests => &self.concurrent_requests,
            QuotaKind::Outputs => &self.outputs,
            QuotaKind::StateKeys => &self.state_keys,
            QuotaKind::StateBytes => &self.state_bytes,
            QuotaKind::LogBytes => &self.log_bytes,
        }
    }

    fn field_mut(&mut self, kind: QuotaKind) -> &mut u64 {
        match kind {
            QuotaKind::MemoryBytes => &mut self.memory_bytes,
            QuotaKind::CpuMs => &mut self.cpu_ms,
            QuotaKind::WallMs => &mut self.wall_ms,
            QuotaKind::HttpRequests => &mut self.http_requests,
            QuotaKind::ResponseBytes => &mut self.response_bytes,
            QuotaKind::TotalBytes => &mut self.total_bytes,
            QuotaKind::ConcurrentRequests => &mut self.concurrent_requests,
            QuotaKind::Outputs => &mut self.outputs,
            QuotaKind::StateKeys => &mut self.state_keys,
            QuotaKind::StateBytes => &mut self.state_bytes,
            QuotaKind::LogBytes => &mut self.log_bytes,
        }
    }
}

/// One quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    MemoryBytes,
    CpuMs,
    WallMs,
    HttpRequests,
    ResponseBytes,
    TotalBytes,
    ConcurrentRequests,
    Outputs,
    StateKeys,
    StateBytes,
    LogBytes,
}

/// How [`QuotaUsage::charge`] counts a quota's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accounting {
    /// A running total: charges add up.
    Total,
    /// Each charge is one item's size, checked on its own; usage records the largest.
    PerItem,
}

impl QuotaKind {
    /// Every quota, in field order.
    pub const ALL: [QuotaKind; 11] = [
        QuotaKind::MemoryBytes,
        QuotaKind::CpuMs,
        QuotaKind::WallMs,
        QuotaKind::HttpRequests,
        QuotaKind::ResponseBytes,
        QuotaKind::TotalBytes,
        QuotaKind::ConcurrentRequests,
        QuotaKind::Outputs,
        QuotaKind::StateKeys,
        QuotaKind::StateBytes,
        QuotaKind::LogBytes,
    ];

    /// The quota's name, as in [`Quotas`]' fields and overrides.
    pub const fn name(self) -> &'static str {
        match self {
            QuotaKind::MemoryBytes => "memory_bytes",
            QuotaKind::CpuMs => "cpu_ms",
            QuotaKind::WallMs => "wall_ms",
            QuotaKind::HttpRequests => "http_requests",
            QuotaKind::ResponseBytes => "response_bytes",
            QuotaKind::TotalBytes => "total_bytes",
            QuotaKind::ConcurrentRequests => "concurrent_requests",
            QuotaKind::Outputs => "outputs",
            QuotaKind::StateKeys => "state_keys",
            QuotaKind::StateBytes => "state_bytes",
            QuotaKind::LogBytes => "log_bytes",
        }
    }

    /// The quota called `name`, if any.
    pub fn from_name(name: &str) -> Option<QuotaKind> {
        QuotaKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// How [`QuotaUsage::charge`] counts this quota: the size of one response per
    /// item, everything else as a running total.
    pub fn accounting(self) -> Accounting {
        match self {
            QuotaKind::ResponseBytes => Accounting::PerItem,
            _ => Accounting::Total,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for QuotaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A charge that would take usage over its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("quota exceeded: {kind} (limit {limit})")]
pub struct QuotaExceeded {
    pub kind: QuotaKind,
    pub limit: u64,
    /// The usage the charge would have produced (the item's size for per-item quotas).
    pub attempted: u64,
}

impl QuotaExceeded {
    pub fn new(kind: QuotaKind, limit: u64, attempted: u64) -> QuotaExceeded {
        QuotaExceeded {
            kind,
            limit,
            attempted,
        }
    }
}

/// What a run has used so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaUsage {
    used: [u64; QuotaKind::ALL.len()],
}

impl QuotaUsage {
    /// Current usage of `kind` (the largest item so far for per-item quotas).
    pub fn used(&self, kind: QuotaKind) -> u64 {
        self.used[kind.index()]
    }

    /// Charges `amount` against `kind`, or refuses without changing anything.
    pub fn charge(
        &mut self,
        kind: QuotaKind,
        amount: u64,
        q: &Quotas,
    ) -> Result<(), QuotaExceeded> {
        let limit = q.limit(kind);
        let slot = &mut self.used[kind.index()];
        let attempted = match kind.accounting() {
            Accounting::PerItem => amount,
            Accounting::Total => slot.saturating_add(amount),
        };
        if attempted > limit {
            return Err(QuotaExceeded {
                kind,
                limit,
                attempted,
            });
        }
        *slot = match kind.accounting() {
            Accounting::PerItem => (*slot).max(amount),
            Accounting::Total => attempted,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use QuotaKind::*;

    #[test]
    fn defaults_and_names() {
        let q = Quotas::default();
        const CASES: &[(QuotaKind, u64)] = &[
            (MemoryBytes, 256 * MIB),
            (CpuMs, 60_000),
            (WallMs, 600_000),
            (HttpRequests, 100_000),
            (ResponseBytes, 32 * MIB),
            (TotalBytes, 2 * GIB),
            (ConcurrentRequests, 32),
            (Outputs, 500_000),
            (StateKeys, 100_000),
            (StateBytes, 256 * MIB),
            (LogBytes, MIB),
        ];
        assert_eq!(CASES.len(), QuotaKind::ALL.len());
        for (i, (kind, want)) in CASES.iter().enumerate() {
            assert_eq!(q.limit(*kind), *want, "case {kind}");
            assert_eq!(Quotas::names()[i], kind.name(), "case {kind}");
            assert_eq!(
                QuotaKind::from_name(kind.name()),
                Some(*kind),
                "case {kind}"
            );
        }
        assert_eq!(QuotaKind::from_name("HTTP_REQUESTS"), None);
    }

    #[test]
    fn overrides() {
        type Case = (
            &'static str,
            &'static [(&'static str, u64)],
            Result<(), &'static str>,
        );
        const CASES: &[Case] = &[
            ("none", &[], Ok(())),
            ("one", &[("http_requests", 10)], Ok(())),
            (
                "several",
                &[("wall_ms", 1), ("outputs", 0), ("log_bytes", 7)],
                Ok(()),
            ),
            ("last wins", &[("cpu_ms", 1), ("cpu_ms", 2)], Ok(())),
            (
                "unknown",
                &[("http_requests", 10), ("bogus", 1)],
                Err("bogus"),
            ),
            ("wrong case", &[("Wall_ms", 1)], Err("Wall_ms")),
            ("empty name", &[("", 1)], Err("")),
        ];
        for (label, overrides, want) in CASES {
            let owned: Vec<(String, u64)> =
                overrides.iter().map(|(n, v)| (n.to_string(), *v)).collect();
            let mut q = Quotas::default();
            let got = q.apply_overrides(&owned);
            match want {
                Ok(()) => {
                    assert_eq!(got, Ok(()), "case {label}");
                    let mut expected = Quotas::default();
                    for (n, v) in *overrides {
                        expected.set(QuotaKind::from_name(n).unwrap(), *v);
                    }
                    assert_eq!(q, expected, "case {label}");
                }
                Err(name) => {
                    assert_eq!(
                        got,
                        Err(QuotaError::UnknownQuota {
                            name: name.to_string()
                        }),
                        "case {label}"
                    );
                    assert_eq!(q, Quotas::default(), "case {label}: unchanged on error");
                }
            }
        }
    }

    #[test]
    fn charging() {
        let q = Quotas {
            http_requests: 3,
            response_bytes: 100,
            concurrent_requests: 2,
            log_bytes: 10,
            ..Quotas::default()
        };
        // (kind, amount, expected result, used after)
        type Step = (QuotaKind, u64, Result<(), u64>, u64);
        const STEPS: &[Step] = &[
            (HttpRequests, 1, Ok(()), 1),
            (HttpRequests, 2, Ok(()), 3),
            (HttpRequests, 1, Err(4), 3),
            (HttpRequests, 0, Ok(()), 3),
            (ResponseBytes, 100, Ok(()), 100),
            (ResponseBytes, 60, Ok(()), 100), // per item: no accumulation
            (ResponseBytes, 101, Err(101), 100),
            (ConcurrentRequests, 1, Ok(()), 1),
            (ConcurrentRequests, 1, Ok(()), 2),
            (ConcurrentRequests, 1, Err(3), 2),
            (LogBytes, 11, Err(11), 0),
            (LogBytes, u64::MAX, Err(u64::MAX), 0),
            (LogBytes, 10, Ok(()), 10),
            (LogBytes, u64::MAX, Err(u64::MAX), 10), // saturating add
        ];
        let mut usage = QuotaUsage::default();
        for (i, (kind, amount, want, used_after)) in STEPS.iter().enumerate() {
            let got = usage.charge(*kind, *amount, &q).map_err(|e| {
                assert_eq!((e.kind, e.limit), (*kind, q.limit(*kind)), "step #{i}");
                e.attempted
            });
            assert_eq!(got, *want, "step #{i}: {kind} {amount}");
            assert_eq!(usage.used(*kind), *used_after, "step #{i}: {kind} usage");
        }
    }

    #[test]
    fn messages() {
        let cases = [
            (
                QuotaExceeded {
                    kind: HttpRequests,
                    limit: 100_000,
                    attempted: 100_001,
                }
                .to_string(),
                "quota exceeded: http_requests (limit 100000)",
            ),
            (
                QuotaExceeded {
                    kind: ResponseBytes,
                    limit: 10,
                    attempted: 11,
                }
                .to_string(),
                "quota exceeded: response_bytes (limit 10)",
            ),
            (
                QuotaError::UnknownQuota { name: "x".into() }.to_string(),
                "unknown quota 'x' (known: memory_bytes, cpu_ms, wall_ms, http_requests, \
                 response_bytes, total_bytes, concurrent_requests, outputs, state_keys, \
                 state_bytes, log_bytes)",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want, "case {want}");
        }
    }
}
