//! Result rows, the printed table and the JSON file.

use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

use crate::proc_stats::Usage;
use crate::stats::Tally;

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub workload: String,
    pub issuer: String,
    pub client_id: String,
    pub concurrency: usize,
    pub seconds: f64,
    pub ok: u64,
    pub errors: u64,
    pub ok_per_sec: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub server_cpu_pct: Option<f64>,
    /// Completed operations of this row per CPU-second the server used during the cell
    /// (for W7, the server CPU is shared by both rows).
    pub ok_per_server_cpu_s: Option<f64>,
    pub server_rss_mb: Option<f64>,
    pub server_hwm_mb: Option<f64>,
    pub driver_cpu_pct: Option<f64>,
    /// CPU of the database server's processes (`--db-pid`) over the cell's wall time.
    pub db_cpu_pct: Option<f64>,
    /// Completed operations per CPU-second of the server and the database together.
    pub ok_per_server_db_cpu_s: Option<f64>,
    pub other_cpu_pct: Option<f64>,
    pub error_kinds: BTreeMap<String, u64>,
    pub notes: BTreeMap<String, u64>,
}

impl Row {
    pub fn new(
        workload: &str,
        issuer: &str,
        client_id: &str,
        concurrency: usize,
        tally: &Tally,
        usage: &Usage,
    ) -> Self {
        let secs = usage.seconds.max(1e-9);
        let ok = tally.ok();
        let pct = tally.percentiles_ms();
        let server_cpu = usage.server_cpu_seconds;
        Row {
            workload: workload.to_owned(),
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            concurrency,
            seconds: usage.seconds,
            ok,
            errors: tally.errors,
            ok_per_sec: ok as f64 / secs,
            p50_ms: pct.map(|p| p.0),
            p99_ms: pct.map(|p| p.1),
            server_cpu_pct: server_cpu.map(|c| c / secs * 100.0),
            ok_per_server_cpu_s: server_cpu.filter(|c| *c > 0.0).map(|c| ok as f64 / c),
            server_rss_mb: usage.server_rss_kb.map(|k| k as f64 / 1024.0),
            server_hwm_mb: usage.server_hwm_kb.map(|k| k as f64 / 1024.0),
            driver_cpu_pct: usage.driver_cpu_seconds.map(|c| c / secs * 100.0),
            db_cpu_pct: usage.db_cpu_seconds.map(|c| c / secs * 100.0),
            ok_per_server_db_cpu_s: server_cpu
                .zip(usage.db_cpu_seconds)
                .map(|(s, d)| s + d)
                .filter(|c| *c > 0.0)
                .map(|c| ok as f64 / c),
            other_cpu_pct: usage.other_cpu_seconds.map(|c| c / secs * 100.0),
            error_kinds: tally.error_kinds.clone(),
            notes: tally.notes.clone(),
        }
    }
}

const HEADER: [&str; 12] = [
    "workload",
    "conc",
    "ok/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "server CPU %",
    "ok/server CPU-s",
    "server RSS MB",
    "peak RSS MB",
    "driver CPU %",
    "other CPU %",
];

/// Shown after "ok/server CPU-s" when some row measured the database (`--db-pid`).
const DB_HEADER: [&str; 2] = ["db CPU %", "ok/(server+db) CPU-s"];

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.decimals$}"))
}

fn cells(r: &Row, with_db: bool) -> Vec<String> {
    let mut v = vec![
        r.workload.clone(),
        r.concurrency.to_string(),
        format!("{:.1}", r.ok_per_sec),
        opt(r.p50_ms, 2),
        opt(r.p99_ms, 2),
        r.errors.to_string(),
        opt(r.server_cpu_pct, 0),
        opt(r.ok_per_server_cpu_s, 0),
    ];
    if with_db {
        v.push(opt(r.db_cpu_pct, 0));
        v.push(opt(r.ok_per_server_db_cpu_s, 0));
    }
    v.extend([opt(r.server_rss_mb, 1), opt(r.server_hwm_mb, 1), opt(r.driver_cpu_pct, 0), opt(r.other_cpu_pct, 0)]);
    v
}

fn header(with_db: bool) -> Vec<String> {
    let mut h: Vec<String> = HEADER.iter().map(|h| (*h).to_owned()).collect();
    if with_db {
        let at = 8; // after "ok/server CPU-s"
        for (i, d) in DB_HEADER.iter().enumerate() {
            h.insert(at + i, (*d).to_owned());
        }
    }
    h
}

/// The table as aligned plain text (Markdown-compatible pipes).
pub fn table(rows: &[Row]) -> String {
    let with_db = rows.iter().any(|r| r.db_cpu_pct.is_some());
    let body: Vec<Vec<String>> = rows.iter().map(|r| cells(r, with_db)).collect();
    let head = header(with_db);
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &body {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: &[String]| -> String {
        let parts: Vec<String> = cols
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| if i == 0 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        format!("| {} |", parts.join(" | "))
    };
    let mut out = line(&head);
    out.push('\n');
    let sep: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| if i == 0 { "-".repeat(w + 2) } else { format!("{}:", "-".repeat(w + 1)) })
        .collect();
    out.push_str(&format!("|{}|\n", sep.join("|")));
    for r in &body {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

/// One row for the progress output, with the most frequent error messages.
pub fn progress(r: &Row) -> String {
    let c = cells(r, false);
    let mut s = format!(
        "{} c={}: {} ok/s, p50 {} ms, p99 {} ms, {} ok, {} errors, server CPU {}%, {} ok/server CPU-s, RSS {} MB, driver CPU {}%",
        c[0], c[1], c[2], c[3], c[4], r.ok, c[5], c[6], c[7], c[8], c[10]
    );
    if let Some(db) = r.db_cpu_pct {
        s.push_str(&format!(", db CPU {db:.0}%, {} ok/(server+db) CPU-s", opt(r.ok_per_server_db_cpu_s, 0)));
    }
    let mut kinds: Vec<(&String, &u64)> = r.error_kinds.iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(a.1));
    for (k, n) in kinds.into_iter().take(3) {
        s.push_str(&format!("\n    error ×{n}: {k}"));
    }
    for (k, n) in &r.notes {
        s.push_str(&format!("\n    {k}: {n}"));
    }
    s
}

#[derive(Serialize)]
struct JsonReport<'a, C: Serialize> {
    generated_unix: u64,
    config: &'a C,
    warnings: &'a [String],
    rows: &'a [Row],
}

/// Write every row (with the run's configuration and warnings) as pretty JSON.
pub fn write_json<C: Serialize>(path: &Path, config: &C, warnings: &[String], rows: &[Row]) -> Result<()> {
    let generated_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let report = JsonReport { generated_unix, config, warnings, rows };
    let text = serde_json::to_string_pretty(&report)?;
    std::fs::write(path, format!("{text}\n")).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn row_without_server_pid_shows_dashes() {
        let mut t = Tally::default();
        t.record_ok(Duration::from_millis(2));
        t.record_error("x");
        let usage = Usage { seconds: 2.0, ..Usage::default() };
        let r = Row::new("W1 discovery", "http://i", "c", 16, &t, &usage);
        assert_eq!(r.ok_per_sec, 0.5);
        let text = table(&[r]);
        assert!(text.contains("W1 discovery"));
        assert!(text.lines().nth(2).unwrap().contains(" - "));
        assert_eq!(text.lines().count(), 3);
        let widths: Vec<usize> = text.lines().map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "{text}");
        assert!(text.lines().nth(1).unwrap().starts_with("|-"));
        assert!(text.lines().nth(1).unwrap().ends_with(":|"));
    }

    #[test]
    fn row_with_server_usage() {
        let mut t = Tally::default();
        for _ in 0..100 {
            t.record_ok(Duration::from_millis(1));
        }
        let usage = Usage {
            seconds: 1.0,
            server_cpu_seconds: Some(0.5),
            server_rss_kb: Some(2048),
            server_hwm_kb: Some(4096),
            driver_cpu_seconds: Some(0.25),
            db_cpu_seconds: None,
            other_cpu_seconds: Some(0.0),
        };
        let r = Row::new("W3 cc", "http://i", "c", 16, &t, &usage);
        assert_eq!(r.server_cpu_pct, Some(50.0));
        assert_eq!(r.ok_per_server_cpu_s, Some(200.0));
        assert_eq!(r.server_rss_mb, Some(2.0));
        assert_eq!(r.driver_cpu_pct, Some(25.0));
        assert_eq!(r.ok_per_server_db_cpu_s, None);
        assert!(!table(&[r]).contains("db CPU"));
    }

    #[test]
    fn database_columns_when_measured() {
        let mut t = Tally::default();
        for _ in 0..100 {
            t.record_ok(Duration::from_millis(1));
        }
        let usage =
            Usage { seconds: 1.0, server_cpu_seconds: Some(0.5), db_cpu_seconds: Some(0.5), ..Usage::default() };
        let r = Row::new("W4 refresh", "http://i", "c", 16, &t, &usage);
        assert_eq!(r.db_cpu_pct, Some(50.0));
        assert_eq!(r.ok_per_server_db_cpu_s, Some(100.0));
        let text = table(std::slice::from_ref(&r));
        let head: Vec<&str> = text.lines().next().unwrap().split('|').map(str::trim).collect();
        assert_eq!(head[8..11], ["ok/server CPU-s", "db CPU %", "ok/(server+db) CPU-s"]);
        let row: Vec<&str> = text.lines().nth(2).unwrap().split('|').map(str::trim).collect();
        assert_eq!(row[9..11], ["50", "100"]);
        assert_eq!(row.len(), head.len());
        assert!(progress(&r).contains("db CPU 50%"));
    }
}
