//! Whether the holder of a run's lease is still alive. On this machine a process is
//! told by its pid and its start time (`/proc/PID/stat`), so a pid reused by a later
//! process does not count; on another machine (hosts sharing PostgreSQL) by the
//! lease its heartbeat renews.

/// A process's start time in clock ticks since boot (`/proc/PID/stat`, field 22), or
/// `None` where /proc cannot tell.
pub fn process_start(pid: i64) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields after it
    // start behind the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This process's id and start time, as recorded with the runs it owns.
pub fn this_process() -> (i64, Option<i64>) {
    let pid = std::process::id() as i64;
    (pid, process_start(pid))
}

/// Whether the process recorded as `pid` (started at `pid_start`) still runs: same
/// pid, same start time. Rows recorded before start times were kept trust the pid.
pub fn owner_alive(pid: i64, pid_start: Option<i64>) -> bool {
    if pid <= 0 {
        return false;
    }
    match (process_start(pid), pid_start) {
        (None, _) => false,
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
    }
}

/// This machine's id (`/etc/machine-id`, else the boot id, else the host name), as
/// recorded with the runs its processes hold: a pid means something only on the
/// machine that recorded it.
pub fn this_machine() -> String {
    [
        "/etc/machine-id",
        "/proc/sys/kernel/random/boot_id",
        "/etc/hostname",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .map(|s| s.trim().to_string())
    .find(|s| !s.is_empty())
    .unwrap_or_else(|| "unknown-machine".to_string())
}

/// Who holds a `running` row, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunHolder {
    /// `None` for rows from before machines were recorded (this machine's, then).
    pub machine: Option<String>,
    pub pid: i64,
    pub pid_start: Option<i64>,
    /// Epoch ms; `None` for rows from before leases.
    pub lease_until: Option<i64>,
}

impl RunHolder {
    /// Whether the holder still holds the run at `now_ms`, seen from machine `here`:
    /// an expired lease is lost; on this machine the process must also still run
    /// (a killed process loses its runs at once); on another machine an unexpired
    /// lease is all there is to tell.
    pub fn alive(&self, here: &str, now_ms: i64) -> bool {
        if self.lease_until.is_some_and(|until| until < now_ms) {
            return false;
        }
        match &self.machine {
            Some(m) if m != here => true,
            _ => owner_alive(self.pid, self.pid_start),
        }
    }

    /// Whether the holder is process `pid` on machine `here` (a row from before
    /// machines were recorded counts as this machine's).
    pub fn is_process(&self, pid: i64, here: &str) -> bool {
        self.pid == pid && self.machine.as_deref().is_none_or(|m| m == here)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_alive_only_with_the_same_pid_and_start_time() {
        let (me, start) = this_process();
        assert!(start.is_some(), "/proc tells this process's start time");
        let cases: &[(&str, i64, Option<i64>, bool)] = &[
            ("this process", me, start, true),
            (
                "this pid, recorded before start times were kept",
                me,
                None,
                true,
            ),
            (
                "this pid reused by a later process",
                me,
                start.map(|s| s - 1),
                false,
            ),
            ("a pid that does not exist", 999_999_999, start, false),
            ("no pid", 0, None, false),
        ];
        for (name, pid, recorded, want) in cases {
            assert_eq!(owner_alive(*pid, *recorded), *want, "{name}");
        }
    }

    #[test]
    fn a_holder_is_alive_while_its_lease_lasts_and_here_while_its_process_runs() {
        let (me, start) = this_process();
        let here = this_machine();
        let holder = |machine: Option<&str>, pid: i64, lease_until: Option<i64>| RunHolder {
            machine: machine.map(str::to_string),
            pid,
            pid_start: start,
            lease_until,
        };
        let now = 1_000_000;
        let cases: &[(&str, RunHolder, bool)] = &[
            (
                "this process, lease ahead",
                holder(Some(here.as_str()), me, Some(now + 1)),
                true,
            ),
            (
                "this process, lease expired",
                holder(Some(here.as_str()), me, Some(now - 1)),
                false,
            ),
            (
                "a dead process here, lease ahead",
                holder(Some(here.as_str()), 999_999_999, Some(now + 1)),
                false,
            ),
            (
                "another machine, lease ahead",
                holder(Some("elsewhere"), 999_999_999, Some(now + 1)),
                true,
            ),
            (
                "another machine, lease expired",
                holder(Some("elsewhere"), me, Some(now - 1)),
                false,
            ),
            (
                "a row from before machines, live pid",
                holder(None, me, None),
                true,
            ),
            (
                "a row from before machines, dead pid",
                holder(None, 999_999_999, None),
                false,
            ),
        ];
        for (name, h, want) in cases {
            assert_eq!(h.alive(&here, now), *want, "{name}");
        }
    }
}
