//! Whether the process that owns a run is still alive, told by its pid and its start
//! time (`/proc/PID/stat`), so a pid reused by a later process does not count.

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
}
