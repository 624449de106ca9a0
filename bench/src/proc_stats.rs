//! CPU time and memory of a process, from Linux `/proc`.

use anyhow::{Context, Result, bail};
use std::time::Instant;

/// Clock ticks per second (`getconf CLK_TCK`), 100 when it cannot be queried.
pub fn clock_ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of a process in clock ticks. `pid` may be `self`.
pub fn cpu_ticks(pid: &str) -> Result<u64> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_stat_ticks(&stat)
}

fn parse_stat_ticks(stat: &str) -> Result<u64> {
    let f = parse_stat(stat)?;
    Ok(f.utime + f.stime)
}

/// The fields of `/proc/PID/stat` that the sampler needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatFields {
    ppid: u32,
    utime: u64,
    stime: u64,
    /// CPU of the children this process has waited for (`cutime + cstime`).
    reaped_children: u64,
}

fn parse_stat(stat: &str) -> Result<StatFields> {
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let after = stat.rfind(')').and_then(|i| stat.get(i + 2..)).context("malformed /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state(3) ppid(4) ... utime is field 14, stime 15, cutime 16, cstime 17
    // → index 11, 12, 13, 14.
    let num = |i: usize| -> Result<u64> {
        let Some(v) = fields.get(i) else {
            bail!("short /proc stat");
        };
        Ok(v.parse::<u64>()?)
    };
    Ok(StatFields {
        ppid: u32::try_from(num(1)?)?,
        utime: num(11)?,
        stime: num(12)?,
        reaped_children: num(13)? + num(14)?,
    })
}

/// CPU ticks of a process tree one level deep: the process, its live children, and the
/// children it has already reaped. For a PostgreSQL postmaster this is the whole database
/// server (backends, WAL writer, checkpointer, autovacuum), whichever CPU they ran on.
///
/// With `db_name`, client backends of other databases are left out (their command line, as
/// PostgreSQL sets it, names the database and the client address), and so are the reaped
/// children, which cannot be told apart: the pooled connections of the server under test live
/// as long as the cell. Without it, backends that exit between two samples are counted
/// through the postmaster's `cutime`.
pub fn tree_cpu_ticks(pid: u32, db_name: Option<&str>) -> Result<u64> {
    let parent = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))
        .and_then(|s| parse_stat(&s))?;
    let mut total = parent.utime + parent.stime;
    if db_name.is_none() {
        total += parent.reaped_children;
    }
    for entry in std::fs::read_dir("/proc").context("reading /proc")?.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        // A process may exit between the listing and the read: skip it.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{name}/stat")) else {
            continue;
        };
        let Ok(f) = parse_stat(&stat) else { continue };
        if f.ppid != pid {
            continue;
        }
        if let Some(db) = db_name {
            let cmdline = std::fs::read(format!("/proc/{name}/cmdline")).unwrap_or_default();
            if !counts_for_database(&String::from_utf8_lossy(&cmdline), db) {
                continue;
            }
        }
        total += f.utime + f.stime;
    }
    Ok(total)
}

/// Whether a PostgreSQL child process belongs to database `db`: a client backend
/// (`postgres: [cluster: ]USER DB HOST(PORT) STATE`, or `[local]`) only when it names `db`;
/// every other process (checkpointer, WAL writer, autovacuum, ...) serves all databases.
fn counts_for_database(cmdline: &str, db: &str) -> bool {
    let words: Vec<&str> = cmdline.split(|c: char| c == '\0' || c.is_whitespace()).filter(|w| !w.is_empty()).collect();
    let client = words.iter().any(|w| *w == "[local]" || (w.contains('(') && w.ends_with(')')));
    !client || words.contains(&db)
}

/// VmRSS and VmHWM of a process in kB.
pub fn memory_kb(pid: &str) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_status_kb(&status)
}

fn parse_status_kb(status: &str) -> Result<(u64, u64)> {
    let field = |name: &str| -> Result<u64> {
        let line =
            status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name} in /proc status"))?;
        let kb = line.trim_start_matches(name).split_whitespace().next().context("empty value")?;
        Ok(kb.parse::<u64>()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Busy ticks of the whole machine (all CPUs), from `/proc/stat`.
pub fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    Some([0usize, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum())
}

/// A snapshot taken before a cell; `finish` turns it into the cell's measurements.
pub struct Sampler {
    server_pid: Option<String>,
    db_pid: Option<u32>,
    db_name: Option<String>,
    ticks_per_sec: f64,
    started: Instant,
    server_ticks: Option<u64>,
    db_ticks: Option<u64>,
    self_ticks: Option<u64>,
    busy_ticks: Option<u64>,
}

/// CPU and memory figures of one cell.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Usage {
    pub seconds: f64,
    pub server_cpu_seconds: Option<f64>,
    pub server_rss_kb: Option<u64>,
    pub server_hwm_kb: Option<u64>,
    pub driver_cpu_seconds: Option<f64>,
    /// CPU seconds of the database server's process tree (`--db-pid`).
    pub db_cpu_seconds: Option<f64>,
    /// CPU seconds used by everything else on the machine meanwhile.
    pub other_cpu_seconds: Option<f64>,
}

impl Sampler {
    pub fn start(server_pid: Option<u32>, db_pid: Option<u32>, db_name: Option<String>, ticks_per_sec: f64) -> Self {
        let server_pid = server_pid.map(|p| p.to_string());
        let server_ticks = server_pid.as_deref().and_then(|p| cpu_ticks(p).ok());
        let db_ticks = db_pid.and_then(|p| tree_cpu_ticks(p, db_name.as_deref()).ok());
        Sampler {
            server_pid,
            db_pid,
            db_name,
            ticks_per_sec,
            started: Instant::now(),
            server_ticks,
            db_ticks,
            self_ticks: cpu_ticks("self").ok(),
            busy_ticks: machine_busy_ticks(),
        }
    }

    pub fn finish(&self) -> Usage {
        let seconds = self.started.elapsed().as_secs_f64();
        let tps = self.ticks_per_sec;
        let delta = |before: Option<u64>, after: Option<u64>| -> Option<f64> {
            Some(after?.saturating_sub(before?) as f64 / tps)
        };
        let server_after = self.server_pid.as_deref().and_then(|p| cpu_ticks(p).ok());
        let server_cpu_seconds = delta(self.server_ticks, server_after);
        let driver_cpu_seconds = delta(self.self_ticks, cpu_ticks("self").ok());
        let db_after = self.db_pid.and_then(|p| tree_cpu_ticks(p, self.db_name.as_deref()).ok());
        let db_cpu_seconds = delta(self.db_ticks, db_after);
        let busy = delta(self.busy_ticks, machine_busy_ticks());
        let other_cpu_seconds = busy.map(|b| {
            (b - server_cpu_seconds.unwrap_or(0.0) - driver_cpu_seconds.unwrap_or(0.0) - db_cpu_seconds.unwrap_or(0.0))
                .max(0.0)
        });
        let mem = self.server_pid.as_deref().and_then(|p| memory_kb(p).ok());
        Usage {
            seconds,
            server_cpu_seconds,
            server_rss_kb: mem.map(|m| m.0),
            server_hwm_kb: mem.map(|m| m.1),
            driver_cpu_seconds,
            db_cpu_seconds,
            other_cpu_seconds,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_in_name() {
        let stat = "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0 100 1000 200";
        assert_eq!(parse_stat_ticks(stat).unwrap(), 325);
    }

    #[test]
    fn stat_fields_for_process_trees() {
        let stat = "1234 (postgres) S 77 1234 1234 0 -1 4194560 100 0 0 0 250 75 30 12 20 0 4 0 100 1000 200";
        let f = parse_stat(stat).unwrap();
        assert_eq!(f, StatFields { ppid: 77, utime: 250, stime: 75, reaped_children: 42 });
        assert!(parse_stat("1 (x) S 1 2").is_err());
    }

    #[test]
    fn own_tree_includes_a_child() {
        // This test process has at least itself; a sleeping child adds nothing but must not fail.
        let me = std::process::id();
        let mut child = std::process::Command::new("sleep").arg("1").spawn().unwrap();
        let own = cpu_ticks("self").unwrap();
        assert!(tree_cpu_ticks(me, None).unwrap() >= own);
        assert!(tree_cpu_ticks(me, Some("kenpo")).unwrap() >= own);
        let _ = child.kill();
        let _ = child.wait();
        assert!(tree_cpu_ticks(u32::MAX, None).is_err());
    }

    #[test]
    fn backends_of_other_databases_do_not_count() {
        let db = "kenpo_scale_x";
        assert!(counts_for_database("postgres: 15/main: postgres kenpo_scale_x 127.0.0.1(41234) idle", db));
        assert!(counts_for_database("postgres: app kenpo_scale_x [local] SELECT", db));
        assert!(!counts_for_database("postgres: 15/main: postgres other_db 127.0.0.1(41236) idle", db));
        assert!(!counts_for_database("postgres: app other_db [local] idle", db));
        assert!(counts_for_database("postgres: 15/main: checkpointer", db));
        assert!(counts_for_database("postgres: 15/main: walwriter", db));
        assert!(counts_for_database("postgres: autovacuum worker", db));
    }

    #[test]
    fn status_memory_fields() {
        let status = "Name:\tx\nVmHWM:\t  20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(parse_status_kb(status).unwrap(), (10240, 20480));
    }

    #[test]
    fn own_process_is_readable() {
        assert!(cpu_ticks("self").is_ok());
        assert!(memory_kb("self").is_ok());
        assert!(clock_ticks_per_sec() > 0.0);
    }
}
