//! Progress per job on stderr: samples done of total, the dataset at hand, rate and ETA.
//!
//! On a terminal, bars (indicatif). Elsewhere (Slurm, nohup, CI logs: stderr is a file or a
//! pipe) a log line per job at most every 10 seconds and one when it ends, so a long run shows
//! its progress in the log instead of nothing until the end. `ASSAY_PROGRESS_EVERY=SECONDS`
//! changes the interval. Neither with `--json` or `--quiet`.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The environment variable that sets the interval of progress lines, in seconds.
pub const EVERY_ENV: &str = "ASSAY_PROGRESS_EVERY";
const DEFAULT_EVERY: Duration = Duration::from_secs(10);

/// How a run shows progress.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Bars on a terminal.
    Bars(MultiProgress),
    /// Log lines at most every `every`.
    Lines { every: Duration },
}

/// One job's progress.
#[derive(Debug, Clone)]
pub enum JobBar {
    Bar(ProgressBar),
    Lines(Arc<Mutex<LineState>>),
}

/// What a job's log lines need to know.
#[derive(Debug)]
pub struct LineState {
    model: String,
    dataset: String,
    total: u64,
    done: u64,
    start: Instant,
    /// Samples done when the job started computing (reused ones), not counted in the rate.
    base: u64,
    last: Instant,
    every: Duration,
    /// Samples done at the last line printed (no second identical line at the end).
    printed: Option<u64>,
}

impl Progress {
    /// Bars on a terminal, log lines elsewhere; `None` for `--json` or `--quiet`.
    pub fn for_terminal(json: bool, quiet: bool) -> Option<Progress> {
        if json || quiet {
            return None;
        }
        if std::io::stderr().is_terminal() {
            return Some(Progress::Bars(MultiProgress::with_draw_target(
                ProgressDrawTarget::stderr(),
            )));
        }
        let every = std::env::var(EVERY_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map_or(DEFAULT_EVERY, Duration::from_secs_f64);
        Some(Progress::Lines { every })
    }

    pub fn job_bar(&self, model: &str, total: u64) -> JobBar {
        match self {
            Progress::Bars(multi) => {
                let bar = multi.add(ProgressBar::new(total));
                let style = ProgressStyle::with_template(
                    "{prefix:>24} [{bar:30}] {pos}/{len} samples  {per_sec}  ETA {eta}  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix(model.to_string());
                JobBar::Bar(bar)
            }
            Progress::Lines { every } => {
                let now = Instant::now();
                JobBar::Lines(Arc::new(Mutex::new(LineState {
                    model: model.to_string(),
                    dataset: String::new(),
                    total,
                    done: 0,
                    start: now,
                    base: 0,
                    last: now,
                    every: *every,
                    printed: None,
                })))
            }
        }
    }
}

impl LineState {
    fn line(&self) -> String {
        let secs = self.start.elapsed().as_secs_f64();
        let computed = self.done.saturating_sub(self.base);
        let rate = if secs > 0.0 {
            computed as f64 / secs
        } else {
            0.0
        };
        let left = self.total.saturating_sub(self.done);
        let eta = if left == 0 {
            "done".to_string()
        } else if rate > 0.0 {
            format!("ETA {}", crate::printer::duration(left as f64 / rate))
        } else {
            "ETA -".to_string()
        };
        let dataset = if self.dataset.is_empty() {
            String::new()
        } else {
            format!(" · {}", self.dataset)
        };
        format!(
            "{}{dataset}: {}/{} samples, {rate:.1}/s, {eta}",
            self.model, self.done, self.total
        )
    }
}

impl JobBar {
    /// Samples already done before computing started (taken from earlier runs).
    pub fn start_at(&self, n: u64) {
        match self {
            JobBar::Bar(b) => b.inc(n),
            JobBar::Lines(l) => {
                if let Ok(mut s) = l.lock() {
                    s.done += n;
                    s.base += n;
                }
            }
        }
    }

    /// The dataset now being computed.
    pub fn dataset(&self, name: &str) {
        match self {
            JobBar::Bar(b) => b.set_message(name.to_string()),
            JobBar::Lines(l) => {
                if let Ok(mut s) = l.lock() {
                    s.dataset = name.to_string();
                }
            }
        }
    }

    pub fn inc(&self, n: u64) {
        match self {
            JobBar::Bar(b) => b.inc(n),
            JobBar::Lines(l) => {
                let Ok(mut s) = l.lock() else { return };
                s.done += n;
                if s.last.elapsed() >= s.every {
                    s.last = Instant::now();
                    s.printed = Some(s.done);
                    eprintln!("{}", s.line());
                }
            }
        }
    }

    pub fn finish(&self) {
        match self {
            JobBar::Bar(b) => b.finish(),
            JobBar::Lines(l) => {
                if let Ok(s) = l.lock()
                    && s.printed != Some(s.done)
                {
                    eprintln!("{}", s.line());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_dataset_counts_rate_and_eta() {
        let s = LineState {
            model: "m".into(),
            dataset: "quick_facts".into(),
            total: 100,
            done: 40,
            start: Instant::now() - Duration::from_secs(10),
            base: 20,
            last: Instant::now(),
            every: DEFAULT_EVERY,
            printed: None,
        };
        let line = s.line();
        assert!(
            line.starts_with("m · quick_facts: 40/100 samples, 2.0/s, ETA 30s"),
            "{line}"
        );
    }
}
