//! The CPU time each process under test spent in a measured interval, per request.
//!
//! The bench runs the clients, the receiver and the proxy on the same cores, so every rate it
//! reports is bounded by what all of them together spend on a request, and a ratio between two
//! scenarios (a read through the proxy against a direct one, bookings against the storage
//! ceiling) is bounded by the ratio of those sums. The figures per request say where the time
//! went without a profiler, and they carry from one machine to another better than rates do:
//! a faster machine shrinks them all alike.
//!
//! Read from `/proc/<pid>/stat` (user plus system time of every thread of the process, in
//! clock ticks): no crate of the field reads another process's CPU time without pulling in a
//! whole system-information library, and these are two numbers of one line.

use std::time::Duration;

use serde::Serialize;

/// A process whose CPU time the bench reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The server under test: our receiver, or in a peer's runs the peer's server (when its
    /// process is named with `--against-pid`).
    Receiver,
    Proxy,
    /// The bench's own process: the load's clients and, for the storage ceiling, the store it
    /// commits through in-process.
    Bench,
}

/// The processes to watch, by role.
#[derive(Debug, Clone, Default)]
pub struct Watch(Vec<(Role, u32)>);

impl Watch {
    /// Nothing watched: the interval's CPU goes unreported.
    pub fn none() -> Watch {
        Watch::default()
    }

    /// The servers under test, each by role and process id, and always the bench's own
    /// process, whose clients send every request.
    pub fn servers(servers: impl IntoIterator<Item = (Role, u32)>) -> Watch {
        Watch::new(
            servers
                .into_iter()
                .chain([(Role::Bench, std::process::id())]),
        )
    }

    fn new(processes: impl IntoIterator<Item = (Role, u32)>) -> Watch {
        Watch(processes.into_iter().collect())
    }

    /// Each watched process's CPU time so far; a process that cannot be read is left out.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(
            self.0
                .iter()
                .filter_map(|&(role, pid)| Some((role, cpu_time(pid)?)))
                .collect(),
        )
    }
}

/// CPU time used so far, by role.
#[derive(Debug, Clone, Default)]
pub struct Snapshot(Vec<(Role, Duration)>);

impl Snapshot {
    /// What each role spent between this snapshot and `later`.
    pub fn until(&self, later: &Snapshot) -> Vec<CpuUse> {
        self.0
            .iter()
            .filter_map(|&(role, before)| {
                let (_, after) = later.0.iter().find(|(r, _)| *r == role)?;
                Some(CpuUse {
                    role,
                    seconds: after.saturating_sub(before).as_secs_f64(),
                })
            })
            .collect()
    }
}

/// CPU seconds one role spent in an interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuUse {
    pub role: Role,
    pub seconds: f64,
}

/// User plus system time of every thread of `pid` so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = cpu_ticks(&stat)?;
    // SAFETY: sysconf reads a constant of the system and has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

/// `utime + stime` from a `/proc/<pid>/stat` line, in clock ticks. The command name (field 2)
/// is in parentheses and may itself hold spaces and parentheses, so fields are counted from
/// the last `)`: after it come the state (field 3), ..., utime (14) and stime (15).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line's shape, with a command name that holds a space and a parenthesis; utime
    /// 1234 and stime 56 are fields 14 and 15, the children's times (16, 17) are not counted.
    #[test]
    fn utime_and_stime_are_counted_after_the_command_name() {
        let line = "4321 (tokio rt) worker) S 1 4321 4321 0 -1 4194560 2000 0 0 0 1234 56 7 8 20 0 6 0 100 1000000 500 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(cpu_ticks(line), Some(1290));
        assert_eq!(cpu_ticks("no parenthesis 1 2 3"), None);
        assert_eq!(cpu_ticks("1 (short) S 1 2"), None);
    }

    fn rusage_cpu() -> Duration {
        // SAFETY: getrusage writes the struct it is given and nothing else.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage
        };
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        tv(usage.ru_utime) + tv(usage.ru_stime)
    }

    /// The CPU time read from `/proc` agrees with the kernel's own account of this process
    /// (`getrusage`) over work that uses a known amount of CPU, within the clock tick's
    /// resolution: the right fields, converted with the right tick rate.
    #[test]
    fn a_process_cpu_time_agrees_with_getrusage() {
        let watch = Watch::servers([]);
        let before = watch.snapshot();
        let spent_from = rusage_cpu();
        let mut x = 0u64;
        while rusage_cpu() - spent_from < Duration::from_millis(300) {
            for i in 0..10_000u64 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
            }
        }
        let spent = rusage_cpu() - spent_from;
        let used = before.until(&watch.snapshot());
        assert_eq!(used.len(), 1);
        assert_eq!(used[0].role, Role::Bench);
        let diff = (used[0].seconds - spent.as_secs_f64()).abs();
        assert!(
            diff < 0.05,
            "/proc says {:.3} s, getrusage {:.3} s",
            used[0].seconds,
            spent.as_secs_f64()
        );
    }

    #[test]
    fn a_role_missing_from_either_snapshot_is_left_out() {
        let before = Snapshot(vec![
            (Role::Receiver, Duration::from_millis(100)),
            (Role::Proxy, Duration::from_millis(50)),
        ]);
        let after = Snapshot(vec![(Role::Receiver, Duration::from_millis(350))]);
        assert_eq!(
            before.until(&after),
            vec![CpuUse {
                role: Role::Receiver,
                seconds: 0.25
            }]
        );
        assert!(
            Watch::new([(Role::Proxy, u32::MAX)])
                .snapshot()
                .0
                .is_empty()
        );
    }
}
