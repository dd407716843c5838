//! Failed samples, summarised: grouped by kind with a count and the first example, the rule
//! that turns a dataset's failures into its status, and the one wording every command prints.
//!
//! A dataset is `failed` when none of its samples succeeded (it is then not scored: there is
//! nothing to score) or when more than half failed (its scores then cover a minority of the
//! items). A job with a failed dataset is failed, and so is its run.
//!
//! Giving up: a dataset's first batch is a probe of at most [`GIVE_UP_AFTER`] samples
//! ([`batches`]), and a [`Tally`] over its committed batches stops it once that many failed the
//! same way that retrying cannot change, with none succeeding.

use crate::store::{FailureGroup, SampleRow};
use assay_engines::FailureKind;
use std::collections::{BTreeMap, VecDeque};

/// Samples of one kind that must all fail, with none succeeding, before the rest of a dataset
/// is not attempted: the same request failing the same way (an HTTP 400, a prompt past the
/// window) will not start working on the ninth try.
pub const GIVE_UP_AFTER: u64 = 8;

/// What a dataset's stored rows say about how it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every sample succeeded, or only a minority failed.
    Scored,
    /// More than half the samples failed; the scores cover the rest.
    MostlyFailed,
    /// No sample succeeded: nothing is scored.
    AllFailed,
}

impl Verdict {
    pub fn of(samples: u64, failed: u64) -> Verdict {
        if samples > 0 && failed >= samples {
            Verdict::AllFailed
        } else if failed * 2 > samples {
            Verdict::MostlyFailed
        } else {
            Verdict::Scored
        }
    }

    /// Whether the dataset counts as failed.
    pub fn failed(self) -> bool {
        self != Verdict::Scored
    }
}

/// Group failed rows by kind, largest group first; each group keeps the first failure's
/// message (rows are in item order).
pub fn group<'a>(rows: impl IntoIterator<Item = &'a SampleRow>) -> Vec<FailureGroup> {
    let mut by_kind: BTreeMap<FailureKind, FailureGroup> = BTreeMap::new();
    for f in rows.into_iter().filter_map(SampleRow::failure) {
        by_kind
            .entry(f.kind)
            .and_modify(|g| g.count += 1)
            .or_insert(FailureGroup {
                kind: f.kind,
                count: 1,
                example: f.message,
            });
    }
    let mut groups: Vec<FailureGroup> = by_kind.into_values().collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.kind.cmp(&b.kind)));
    groups
}

/// One line: `5 of 5 samples failed: http_400 ×5; first: http://h/v1/completions: HTTP 400: …`.
/// `samples` is the dataset's size (`None` when unknown).
pub fn describe(groups: &[FailureGroup], samples: Option<i64>) -> String {
    let failed: i64 = groups.iter().map(|g| g.count).sum();
    let counts = groups
        .iter()
        .map(|g| format!("{} ×{}", g.kind, g.count))
        .collect::<Vec<_>>()
        .join(", ");
    let of = match samples {
        Some(n) => format!("{failed} of {n} samples failed"),
        None => format!("{failed} samples failed"),
    };
    match groups.first() {
        Some(g) => format!("{of} ({counts}); first {}: {}", g.kind, g.example),
        None => of,
    }
}

/// The batches of a dataset's pending samples: the first no larger than
/// [`GIVE_UP_AFTER`], so a server that refuses everything is found after that many
/// requests (not after a whole batch of its concurrency); the rest `per` at a time.
pub fn batches(pending: &[usize], per: usize) -> VecDeque<Vec<usize>> {
    let first = pending.len().min(per.min(GIVE_UP_AFTER as usize).max(1));
    let (head, rest) = pending.split_at(first);
    let mut out: VecDeque<Vec<usize>> = VecDeque::new();
    if !head.is_empty() {
        out.push_back(head.to_vec());
    }
    out.extend(rest.chunks(per.max(1)).map(<[usize]>::to_vec));
    out
}

/// How a dataset's samples are going, across its replicas.
#[derive(Debug, Default)]
pub struct Tally {
    succeeded: u64,
    /// Failures that sending the same request again would repeat (see
    /// `FailureKind::is_deterministic`).
    repeatable: u64,
    /// The first of those.
    first: Option<assay_engines::Failure>,
    /// Set once the dataset is given up on.
    pub gave_up: Option<String>,
}

impl Tally {
    /// Count a committed batch; true when the dataset should be given up: no sample has
    /// succeeded and at least `GIVE_UP_AFTER` failed in a way that will not change.
    pub fn count(&mut self, rows: &[SampleRow]) -> bool {
        for r in rows {
            match &r.error_kind {
                None if r.error.is_none() => self.succeeded += 1,
                Some(k) if k.is_deterministic() => {
                    self.repeatable += 1;
                    if self.first.is_none() {
                        self.first = r.failure();
                    }
                }
                _ => {}
            }
        }
        if self.gave_up.is_some() || self.succeeded > 0 || self.repeatable < GIVE_UP_AFTER {
            return false;
        }
        let kind = self
            .first
            .as_ref()
            .map(|f| format!(" ({})", f.kind))
            .unwrap_or_default();
        self.gave_up = Some(format!(
            "gave up after the first {} samples all failed the same way{kind}; the rest were not attempted",
            self.repeatable
        ));
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use assay_engines::Failure;

    fn row(i: i64, failure: Option<Failure>) -> SampleRow {
        let mut r = SampleRow::blank(1, "d", i);
        if let Some(f) = failure {
            r.fail(f);
        }
        r
    }

    #[test]
    fn groups_by_kind_with_the_first_example() {
        let http = |i| {
            Some(Failure::new(
                FailureKind::Http(400),
                format!("http://h/v1/completions: HTTP 400: bad {i}"),
            ))
        };
        let rows = vec![
            row(0, None),
            row(1, Some(Failure::new(FailureKind::Timeout, "timed out"))),
            row(2, http(2)),
            row(3, http(3)),
        ];
        let groups = group(&rows);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].kind, FailureKind::Http(400));
        assert_eq!(groups[0].count, 2);
        assert!(groups[0].example.ends_with("bad 2"), "{:?}", groups[0]);
        let text = describe(&groups, Some(4));
        assert!(
            text.starts_with("3 of 4 samples failed (http_400 ×2, timeout ×1)"),
            "{text}"
        );
        assert!(
            text.contains("first http_400: http://h/v1/completions: HTTP 400: bad 2"),
            "{text}"
        );
    }

    #[test]
    fn verdicts() {
        assert_eq!(Verdict::of(5, 5), Verdict::AllFailed);
        assert_eq!(Verdict::of(5, 3), Verdict::MostlyFailed);
        assert_eq!(Verdict::of(4, 2), Verdict::Scored);
        assert_eq!(Verdict::of(0, 0), Verdict::Scored);
        assert!(Verdict::AllFailed.failed() && !Verdict::Scored.failed());
    }

    #[test]
    fn the_first_batch_is_a_probe() {
        let pending: Vec<usize> = (0..40).collect();
        let b = batches(&pending, 32);
        let sizes: Vec<usize> = b.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![8, 32]);
        assert_eq!(b.iter().flatten().copied().collect::<Vec<_>>(), pending);
        let sizes: Vec<usize> = batches(&pending[..5], 4).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![4, 1]);
        assert!(batches(&[], 8).is_empty());
    }

    fn failed_row(failure: Option<FailureKind>) -> SampleRow {
        let mut r = SampleRow::blank(1, "d", 0);
        if let Some(k) = failure {
            r.fail(Failure::new(k, format!("{k} happened")));
        }
        r
    }

    #[test]
    fn a_dataset_is_given_up_only_after_repeatable_failures_and_no_success() {
        let mut t = Tally::default();
        let http = || failed_row(Some(FailureKind::Http(400)));
        assert!(!t.count(&[http(), http(), http(), http()]));
        // Timeouts may pass: they do not count towards giving up.
        assert!(!t.count(&vec![failed_row(Some(FailureKind::Timeout)); 8]));
        assert!(t.count(&[http(), http(), http(), http()]));
        let why = t.gave_up.clone().unwrap();
        assert!(why.contains("first 8 samples"), "{why}");
        assert!(why.contains("failed the same way (http_400)"), "{why}");
        // Once is enough.
        assert!(!t.count(&[http()]));

        // One success anywhere and the dataset runs to its end.
        let mut t = Tally::default();
        assert!(!t.count(&[failed_row(None)]));
        assert!(!t.count(&[
            http(),
            http(),
            http(),
            http(),
            http(),
            http(),
            http(),
            http(),
            http()
        ]));
    }
}
