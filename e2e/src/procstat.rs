//! Per-process figures from /proc for benchmarks: resident memory (now and
//! peak) and CPU time used, so a run can say which process was busy.

/// Resident memory now (`VmRSS`) and at its peak (`VmHWM`), in MiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_mib: f64,
    pub peak_mib: f64,
}

/// The memory of `pid`, or `None` once it is gone.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(Memory {
        rss_mib: status_kib(&status, "VmRSS:")? / 1024.0,
        peak_mib: status_kib(&status, "VmHWM:")? / 1024.0,
    })
}

fn status_kib(status: &str, field: &str) -> Option<f64> {
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Memory of `pid` as `/proc/PID/smaps_rollup` sums it, in KiB: `pss`
/// shares each shared page among its users, `private` is what the process
/// alone holds (what its exit would free).
#[derive(Debug, Clone, Copy)]
pub struct Rollup {
    pub rss_kib: u64,
    pub pss_kib: u64,
    pub private_kib: u64,
}

/// The smaps rollup of `pid`, or `None` once it is gone.
pub fn rollup(pid: u32) -> Option<Rollup> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    parse_rollup(&text)
}

fn parse_rollup(text: &str) -> Option<Rollup> {
    let kib = |field: &str| status_kib(text, field).map(|k| k as u64);
    Some(Rollup {
        rss_kib: kib("Rss:")?,
        pss_kib: kib("Pss:")?,
        private_kib: kib("Private_Clean:")? + kib("Private_Dirty:")?,
    })
}

/// CPU seconds (user + system) `pid` has used so far, or `None` once it is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / clock_ticks_per_second())
}

/// utime + stime from a `/proc/PID/stat` line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state(3) ... utime(14) stime(15), so utime is the 12th.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// CPU seconds the whole machine has spent busy and in all, all cores
/// together, from the first line of /proc/stat.
pub fn machine_cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine_ticks(stat.lines().next()?).map(|(busy, total)| {
        (
            busy as f64 / clock_ticks_per_second(),
            total as f64 / clock_ticks_per_second(),
        )
    })
}

/// (busy, total) ticks of a `cpu  user nice system idle iowait irq softirq steal ...` line.
fn parse_machine_ticks(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let ticks: Vec<u64> = fields
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = ticks.iter().sum();
    // idle and iowait are the idle ones.
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total - idle, total))
}

/// The machine's 1, 5 and 15 minute load averages, as `uptime` prints them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// CPU use of a set of processes between two samples, in percent of one core.
pub struct CpuSampler {
    pids: Vec<u32>,
    last: Vec<Option<f64>>,
    at: std::time::Instant,
}

impl CpuSampler {
    pub fn new(pids: Vec<u32>) -> CpuSampler {
        let last = pids.iter().map(|p| cpu_seconds(*p)).collect();
        CpuSampler {
            pids,
            last,
            at: std::time::Instant::now(),
        }
    }

    /// Percent of one core each process used since the previous call.
    pub fn sample(&mut self) -> Vec<Option<f64>> {
        let now = std::time::Instant::now();
        let dt = now.duration_since(self.at).as_secs_f64().max(1e-6);
        self.at = now;
        self.pids
            .iter()
            .zip(self.last.iter_mut())
            .map(|(pid, last)| {
                let cur = cpu_seconds(*pid);
                let pct = match (cur, *last) {
                    (Some(c), Some(l)) => Some((c - l) / dt * 100.0),
                    _ => None,
                };
                *last = cur;
                pct
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_skip_a_name_with_spaces_and_parentheses() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5 1000 50";
        assert_eq!(parse_cpu_ticks(stat), Some(10));
    }

    #[test]
    fn this_process_has_memory_and_cpu_time() {
        let me = std::process::id();
        let m = memory(me).expect("own /proc status");
        assert!(m.rss_mib > 0.0 && m.peak_mib >= m.rss_mib);
        // Burn CPU until a clock tick shows; the figure must then be positive.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut x = 0u64;
        while cpu_seconds(me).expect("own /proc stat") <= 0.0 {
            assert!(std::time::Instant::now() < deadline, "no CPU time counted");
            for i in 0..1_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
        }
    }

    #[test]
    fn machine_ticks_count_idle_and_iowait_as_idle() {
        let line = "cpu  100 5 20 800 10 1 2 3 0 0";
        assert_eq!(parse_machine_ticks(line), Some((131, 941)));
        assert_eq!(parse_machine_ticks("cpu0 1 2 3 4 5 6 7 8"), None);
        let (busy, total) = machine_cpu_seconds().expect("/proc/stat");
        assert!(total > 0.0 && busy <= total);
    }

    #[test]
    fn a_rollup_sums_private_clean_and_dirty() {
        let text = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss: 900 kB\nPss: 400 kB\n\
            Pss_Anon: 100 kB\nShared_Clean: 500 kB\nPrivate_Clean: 150 kB\nPrivate_Dirty: 250 kB\n";
        let r = parse_rollup(text).expect("a rollup");
        assert_eq!((r.rss_kib, r.pss_kib, r.private_kib), (900, 400, 400));
        let own = rollup(std::process::id()).expect("own smaps_rollup");
        assert!(own.rss_kib > 0 && own.pss_kib <= own.rss_kib);
    }

    #[test]
    fn a_missing_process_has_no_figures() {
        assert!(memory(u32::MAX).is_none());
        assert!(cpu_seconds(u32::MAX).is_none());
    }
}
