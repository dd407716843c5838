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

/// Render an aligned table as text (no trailing newline). Numeric-looking cells are right-aligned.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let cols = headers.len();
    let mut width: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let numeric = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || ".,-+%x×".contains(c));
    let fmt_row = |cells: Vec<&str>| -> String {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = width[i].saturating_sub(cell.chars().count());
            if i > 0 {
                line.push_str("  ");
            }
            if numeric(cell) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if i + 1 < cells.len() {
                    line.push_str(&" ".repeat(pad));
                }
            }
        }
        line
    };
    let mut out = vec![fmt_row(headers.to_vec())];
    for row in rows {
        let cells: Vec<&str> = (0..cols).map(|i| row.get(i).map(String::as_str).unwrap_or("")).collect();
        out.push(fmt_row(cells));
    }
    out.join("\n")
}
