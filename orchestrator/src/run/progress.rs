//! Progress bars per job on stderr (indicatif): samples done of total, rate and ETA. Created
//! only when stderr is a terminal and neither `--json` nor `--quiet` is set.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// All bars of a run.
#[derive(Debug, Clone)]
pub struct Progress {
    multi: MultiProgress,
}

/// One job's bar.
#[derive(Debug, Clone)]
pub struct JobBar(ProgressBar);

impl Progress {
    /// Bars when stderr is a terminal and output is for people; `None` otherwise.
    pub fn for_terminal(json: bool, quiet: bool) -> Option<Progress> {
        if json || quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        Some(Progress {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        })
    }

    pub fn job_bar(&self, model: &str, total: u64) -> JobBar {
        let bar = self.multi.add(ProgressBar::new(total));
        let style = ProgressStyle::with_template(
            "{prefix:>24} [{bar:30}] {pos}/{len} samples  {per_sec}  ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(model.to_string());
        JobBar(bar)
    }
}

impl JobBar {
    pub fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    pub fn finish(&self) {
        self.0.finish();
    }
}
