//! The run's time budget (`time-budget-ms` of the run request), measured on the guest's
//! monotonic clock from the start of the run. Long per-user refreshes ask it before each
//! batch whether another batch still fits; when it does not they stop, keep their
//! progress in state and let the run end successfully, so the host commits it.

use std::time::Instant;

/// The share of the budget kept free for what follows the per-user fetches (the other
/// collections, computing and emitting the KRIs, saving state), in percent.
const RESERVE_PERCENT: u64 = 15;

/// How much of the run's time is spent, and whether one more batch fits.
pub struct TimeBudget {
    budget_ms: u64,
    elapsed_ms: Box<dyn Fn() -> u64>,
}

impl TimeBudget {
    /// A budget of `budget_ms` counted from now on the monotonic clock.
    pub fn starting_now(budget_ms: u64) -> TimeBudget {
        let start = Instant::now();
        TimeBudget::with_clock(budget_ms, move || {
            u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
        })
    }

    /// A budget over any clock giving the milliseconds spent since the run started.
    pub fn with_clock(budget_ms: u64, elapsed_ms: impl Fn() -> u64 + 'static) -> TimeBudget {
        TimeBudget {
            budget_ms,
            elapsed_ms: Box::new(elapsed_ms),
        }
    }

    pub fn elapsed_ms(&self) -> u64 {
        (self.elapsed_ms)()
    }

    /// Whether a step expected to take `step_ms` can still start: it must end before
    /// the budget less its reserve. Twice the estimate is asked for, since a step can
    /// take longer than the last one did (a rate-limit window rolling over).
    pub fn fits(&self, step_ms: u64) -> bool {
        let usable = self.budget_ms - self.budget_ms / 100 * RESERVE_PERCENT;
        self.elapsed_ms().saturating_add(step_ms.saturating_mul(2)) <= usable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn a_step_fits_only_with_the_reserve_left() {
        let now = Rc::new(Cell::new(0u64));
        let clock = now.clone();
        let b = TimeBudget::with_clock(10_000, move || clock.get());
        assert!(b.fits(1_000));
        now.set(6_000);
        // 6 s spent, 2 x 1 s ahead, 8.5 s usable.
        assert!(b.fits(1_000));
        now.set(6_600);
        assert!(!b.fits(1_000));
        assert!(b.fits(900));
        assert_eq!(b.elapsed_ms(), 6_600);
        assert!(!TimeBudget::with_clock(0, || 0).fits(1));
    }
}
