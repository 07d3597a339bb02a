//! KRI status: mapping a computed value and its thresholds to ok / warn / breach.
//!
//! A KRI either improves as it rises ([`Direction::HigherIsBetter`], e.g. MFA
//! coverage) or as it falls ([`Direction::LowerIsBetter`], e.g. stale admin
//! accounts). Breach is checked before warn; a missing threshold is skipped; a
//! missing or NaN value is [`KriStatus::NotEvaluated`].

/// Which way a KRI improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

impl Direction {
    /// `higher_is_better` or `lower_is_better`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::HigherIsBetter => "higher_is_better",
            Direction::LowerIsBetter => "lower_is_better",
        }
    }
}

/// The status of one KRI value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KriStatus {
    Ok,
    Warn,
    Breach,
    NotEvaluated,
}

impl KriStatus {
    /// `ok`, `warn`, `breach` or `not_evaluated`.
    pub fn as_str(self) -> &'static str {
        match self {
            KriStatus::Ok => "ok",
            KriStatus::Warn => "warn",
            KriStatus::Breach => "breach",
            KriStatus::NotEvaluated => "not_evaluated",
        }
    }
}

impl std::fmt::Display for KriStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with a stored word, so `status == "ok"` reads as it is printed.
impl PartialEq<&str> for KriStatus {
    fn eq(&self, word: &&str) -> bool {
        self.as_str() == *word
    }
}

/// Evaluates `value` against the `warn` and `breach` thresholds.
///
/// HigherIsBetter: `value < breach` → Breach, else `value < warn` → Warn, else Ok.
/// LowerIsBetter: `value >= breach` → Breach, else `value >= warn` → Warn, else Ok.
/// A missing (or NaN) threshold never fires.
pub fn status(
    value: Option<f64>,
    direction: Direction,
    warn: Option<f64>,
    breach: Option<f64>,
) -> KriStatus {
    let Some(v) = value.filter(|v| !v.is_nan()) else {
        return KriStatus::NotEvaluated;
    };
    // Comparisons with NaN are false, so a NaN threshold never fires.
    let fires = |t: Option<f64>| {
        t.is_some_and(|t| match direction {
            Direction::HigherIsBetter => v < t,
            Direction::LowerIsBetter => v >= t,
        })
    };
    if fires(breach) {
        KriStatus::Breach
    } else if fires(warn) {
        KriStatus::Warn
    } else {
        KriStatus::Ok
    }
}

/// Why a pair of thresholds is refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    #[error("a threshold must be a finite number, not {0}")]
    NotFinite(f64),
    #[error("warn {warn} lies past breach {breach}: this KRI is better {better}, so warn must be {must} breach")]
    WarnPastBreach {
        warn: f64,
        breach: f64,
        better: &'static str,
        must: &'static str,
    },
}

/// Checks thresholds an operator sets: each finite, and warn not past breach given the
/// direction (higher is better: warn >= breach; lower is better: warn <= breach), so
/// that a worsening value reaches warn first. Equal thresholds are allowed.
pub fn check_thresholds(
    direction: Direction,
    warn: Option<f64>,
    breach: Option<f64>,
) -> Result<(), ThresholdError> {
    for t in [warn, breach].into_iter().flatten() {
        if !t.is_finite() {
            return Err(ThresholdError::NotFinite(t));
        }
    }
    let (Some(warn), Some(breach)) = (warn, breach) else {
        return Ok(());
    };
    let (past, better, must) = match direction {
        Direction::HigherIsBetter => (warn < breach, "higher", "at least"),
        Direction::LowerIsBetter => (warn > breach, "lower", "at most"),
    };
    if past {
        return Err(ThresholdError::WarnPastBreach {
            warn,
            breach,
            better,
            must,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::*;
    use KriStatus::*;

    type Case = (Option<f64>, Direction, Option<f64>, Option<f64>, KriStatus);

    const CASES: &[Case] = &[
        // Higher is better (e.g. MFA coverage %): warn 95, breach 90.
        (Some(99.0), HigherIsBetter, Some(95.0), Some(90.0), Ok),
        (Some(95.0), HigherIsBetter, Some(95.0), Some(90.0), Ok),
        (Some(94.9), HigherIsBetter, Some(95.0), Some(90.0), Warn),
        (Some(90.0), HigherIsBetter, Some(95.0), Some(90.0), Warn),
        (Some(89.9), HigherIsBetter, Some(95.0), Some(90.0), Breach),
        (Some(0.0), HigherIsBetter, Some(95.0), Some(90.0), Breach),
        (
            Some(f64::NEG_INFINITY),
            HigherIsBetter,
            Some(95.0),
            Some(90.0),
            Breach,
        ),
        (
            Some(f64::INFINITY),
            HigherIsBetter,
            Some(95.0),
            Some(90.0),
            Ok,
        ),
        // Lower is better (e.g. stale admins): warn 1, breach 5.
        (Some(0.0), LowerIsBetter, Some(1.0), Some(5.0), Ok),
        (Some(0.99), LowerIsBetter, Some(1.0), Some(5.0), Ok),
        (Some(1.0), LowerIsBetter, Some(1.0), Some(5.0), Warn),
        (Some(4.99), LowerIsBetter, Some(1.0), Some(5.0), Warn),
        (Some(5.0), LowerIsBetter, Some(1.0), Some(5.0), Breach),
        (Some(500.0), LowerIsBetter, Some(1.0), Some(5.0), Breach),
        (Some(-1.0), LowerIsBetter, Some(1.0), Some(5.0), Ok),
        // Missing thresholds.
        (Some(50.0), HigherIsBetter, None, None, Ok),
        (Some(50.0), HigherIsBetter, Some(60.0), None, Warn),
        (Some(50.0), HigherIsBetter, None, Some(60.0), Breach),
        (Some(50.0), LowerIsBetter, None, None, Ok),
        (Some(50.0), LowerIsBetter, Some(10.0), None, Warn),
        (Some(50.0), LowerIsBetter, None, Some(10.0), Breach),
        (Some(5.0), LowerIsBetter, Some(10.0), None, Ok),
        // Inverted thresholds: breach still wins when it fires.
        (Some(50.0), HigherIsBetter, Some(40.0), Some(60.0), Breach),
        (Some(50.0), LowerIsBetter, Some(60.0), Some(40.0), Breach),
        // NaN thresholds never fire.
        (
            Some(50.0),
            HigherIsBetter,
            Some(f64::NAN),
            Some(f64::NAN),
            Ok,
        ),
        (
            Some(50.0),
            LowerIsBetter,
            Some(f64::NAN),
            Some(10.0),
            Breach,
        ),
        // No value.
        (None, HigherIsBetter, Some(95.0), Some(90.0), NotEvaluated),
        (None, LowerIsBetter, None, None, NotEvaluated),
        (
            Some(f64::NAN),
            HigherIsBetter,
            Some(95.0),
            Some(90.0),
            NotEvaluated,
        ),
        (
            Some(f64::NAN),
            LowerIsBetter,
            Some(1.0),
            Some(5.0),
            NotEvaluated,
        ),
    ];

    #[test]
    fn table() {
        for (i, (value, dir, warn, breach, want)) in CASES.iter().enumerate() {
            let got = status(*value, *dir, *warn, *breach);
            assert_eq!(
                got, *want,
                "case #{i}: value {value:?} {dir:?} warn {warn:?} breach {breach:?}"
            );
        }
    }

    #[test]
    fn thresholds_past_each_other_are_refused() {
        type Check = (Direction, Option<f64>, Option<f64>, bool);
        const CHECKS: &[Check] = &[
            (HigherIsBetter, Some(95.0), Some(90.0), true),
            (HigherIsBetter, Some(90.0), Some(90.0), true),
            (HigherIsBetter, Some(80.0), Some(90.0), false),
            (LowerIsBetter, Some(1.0), Some(5.0), true),
            (LowerIsBetter, Some(5.0), Some(5.0), true),
            (LowerIsBetter, Some(6.0), Some(5.0), false),
            (LowerIsBetter, None, Some(5.0), true),
            (HigherIsBetter, Some(80.0), None, true),
            (HigherIsBetter, None, None, true),
            (HigherIsBetter, Some(f64::NAN), Some(90.0), false),
            (LowerIsBetter, Some(1.0), Some(f64::INFINITY), false),
        ];
        for (i, (dir, warn, breach, ok)) in CHECKS.iter().enumerate() {
            let got = check_thresholds(*dir, *warn, *breach);
            assert_eq!(
                got.is_ok(),
                *ok,
                "case #{i}: {dir:?} {warn:?} {breach:?}: {got:?}"
            );
        }
    }

    #[test]
    fn names() {
        const NAMES: &[(KriStatus, &str)] = &[
            (Ok, "ok"),
            (Warn, "warn"),
            (Breach, "breach"),
            (NotEvaluated, "not_evaluated"),
        ];
        for (s, want) in NAMES {
            assert_eq!(s.as_str(), *want, "case {s:?}");
        }
        const DIRS: &[(Direction, &str)] = &[
            (HigherIsBetter, "higher_is_better"),
            (LowerIsBetter, "lower_is_better"),
        ];
        for (d, want) in DIRS {
            assert_eq!(d.as_str(), *want, "case {d:?}");
        }
    }
}
