//! The only place that writes to stdout: aligned human tables, or JSON with `--json`.
//! Notices and progress go to stderr and are silenced by `--quiet` (and by `--json` for progress).

use std::io::Write;

#[derive(Debug, Clone, Copy, Default)]
pub struct Printer {
    pub json: bool,
    pub quiet: bool,
}

impl Printer {
    pub fn new(json: bool, quiet: bool) -> Self {
        Printer { json, quiet }
    }

    /// Print a value as pretty JSON (used when `--json` is set).
    pub fn json<T: serde::Serialize>(&self, value: &T) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")?;
        Ok(())
    }

    /// Print one line of human output.
    pub fn line(&self, text: impl std::fmt::Display) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")?;
        Ok(())
    }

    /// A one-line notice on stderr (e.g. "no NVIDIA driver: planning for CPU").
    pub fn notice(&self, text: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("note: {text}");
        }
    }

    /// Print an aligned table: a header row then the rows, columns padded to their widest cell.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
        self.line(render_table(headers, rows))
    }
}

/// A count with three significant digits and a unit: `8.03B`, `494M`, `12.5K`, `950`.
pub fn human_count(n: u64) -> String {
    scaled(n, 1000.0, &["", "K", "M", "B", "T"])
}

/// A duration for people: `42s`, `12m05s`, `3h02m`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The one byte formatter: binary units with two decimals (`512 B`, `0.61 MiB`, `17.99 GiB`),
/// the largest unit that keeps the number at least 1 (MiB below that, so sizes stay
/// comparable at a glance); negative counts (never meant) print as 0.
pub fn human_bytes(n: impl TryInto<u64>) -> String {
    const KIB: f64 = 1024.0;
    let n: u64 = n.try_into().unwrap_or(0);
    if n < 1024 {
        return format!("{n} B");
    }
    let units = ["MiB", "GiB", "TiB", "PiB"];
    // Below 1 MiB the value stays in MiB (`0.61 MiB`).
    let mut value = n as f64 / (KIB * KIB);
    let mut unit = 0;
    while value >= KIB && unit + 1 < units.len() {
        value /= KIB;
        unit += 1;
    }
    format!("{value:.2} {}", units[unit])
}

fn scaled(n: u64, base: f64, units: &[&str]) -> String {
    let mut value = n as f64;
    let mut unit = 0;
    while value >= base * 0.9995 && unit + 1 < units.len() {
        value /= base;
        unit += 1;
    }
    if unit == 0 {
        return n.to_string();
    }
    let digits = if value >= 99.95 {
        0
    } else if value >= 9.995 {
        1
    } else {
        2
    };
    format!("{value:.digits$}{}", units[unit])
}

/// Render an aligned table as text (no trailing newline). Columns whose cells all look numeric
/// (`42`, `8.03B`, `16.0 GiB`, `32/8`) are right-aligned, header included.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let cols = headers.len();
    let mut width: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, w) in width.iter_mut().enumerate() {
            *w = (*w).max(cell(row, i).chars().count());
        }
    }
    let right: Vec<bool> = (0..cols)
        .map(|i| {
            let mut cells = rows
                .iter()
                .map(|r| cell(r, i))
                .filter(|c| !c.is_empty())
                .peekable();
            cells.peek().is_some() && cells.all(looks_numeric)
        })
        .collect();
    let fmt_row = |cells: Vec<&str>| -> String {
        let mut line = String::new();
        for (i, text) in cells.iter().enumerate() {
            let pad = width[i].saturating_sub(text.chars().count());
            if i > 0 {
                line.push_str("  ");
            }
            if right[i] {
                line.push_str(&" ".repeat(pad));
                line.push_str(text);
            } else {
                line.push_str(text);
                if i + 1 < cells.len() {
                    line.push_str(&" ".repeat(pad));
                }
            }
        }
        line.trim_end().to_string()
    };
    let mut out = vec![fmt_row(headers.to_vec())];
    for row in rows {
        out.push(fmt_row((0..cols).map(|i| cell(row, i)).collect()));
    }
    out.join("\n")
}

fn cell(row: &[String], i: usize) -> &str {
    row.get(i).map(String::as_str).unwrap_or("")
}

/// A number, optionally with a unit suffix: digits and `.,-+%x×/`, then letters or spaces.
fn looks_numeric(s: &str) -> bool {
    let body = s.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == ' ');
    body.starts_with(|c: char| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || ".,-+%x×/".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_bytes() {
        assert_eq!(human_count(8_030_261_248), "8.03B");
        assert_eq!(human_count(494_032_768), "494M");
        assert_eq!(human_count(12_500), "12.5K");
        assert_eq!(human_count(999_999), "1.00M");
        assert_eq!(human_count(950), "950");
        assert_eq!(human_count(1_500_000_000_000), "1.50T");
        assert_eq!(human_bytes(512u64), "512 B");
        assert_eq!(human_bytes(16u64 * 1024 * 1024 * 1024), "16.00 GiB");
        assert_eq!(human_bytes(640_000u64), "0.61 MiB");
        assert_eq!(human_bytes(512u64 * 1024 * 1024), "512.00 MiB");
        assert_eq!(human_bytes(-5i64), "0 B");
    }

    #[test]
    fn table_alignment() {
        let t = render_table(
            &["NAME", "N"],
            &[
                vec!["a".into(), "10".into()],
                vec!["long".into(), "2".into()],
            ],
        );
        assert_eq!(t, "NAME   N\na     10\nlong   2");
    }
}
