//! "Did you mean": the one suggester for every unknown name (catalog ids, categories,
//! metrics, GPU kinds), so the same typo gets the same answer in every command.
//!
//! Names are compared on keys folded to lowercase letters and digits (`H100-80GB` and
//! `h100 80gb` are one key; a parenthesised note is ignored), by Levenshtein distance (the
//! `strsim` crate, already built for clap). A name is close within a third of the longer key
//! (at least 2), or when one key contains the other (keys of 3 or more characters).

/// Up to `max` known names close to `name`, closest first (ties by name).
pub fn closest<'a>(
    name: &str,
    known: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> Vec<String> {
    let q = key(name);
    let mut scored: Vec<(usize, &str)> = known
        .into_iter()
        .filter_map(|k| {
            let kk = key(k);
            let d = strsim::levenshtein(&q, &kk);
            let limit = (q.len().max(kk.len()) / 3).max(2);
            let contains = q.len() >= 3 && kk.len() >= 3 && (kk.contains(&q) || q.contains(&kk));
            (d <= limit || contains).then_some((d, k))
        })
        .collect();
    scored.sort();
    scored.dedup();
    scored
        .into_iter()
        .take(max)
        .map(|(_, k)| k.to_string())
        .collect()
}

/// The one wording: `did you mean `a`?` or `did you mean one of `a`, `b`?`; empty for none.
pub fn did_you_mean(close: &[String]) -> String {
    match close {
        [] => String::new(),
        [one] => format!("did you mean `{one}`?"),
        many => {
            let names: Vec<String> = many.iter().map(|s| format!("`{s}`")).collect();
            format!("did you mean one of {}?", names.join(", "))
        }
    }
}

fn key(name: &str) -> String {
    let base = name.split('(').next().unwrap_or(name);
    base.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_first() {
        let known = ["llama-3.1-8b", "llama-3.2-1b", "qwen2.5-7b", "phi-2"];
        assert_eq!(
            closest("llama-3.1-8", known, 3),
            vec!["llama-3.1-8b", "llama-3.2-1b"]
        );
        assert_eq!(closest("qwen", known, 3), vec!["qwen2.5-7b"]);
        assert!(closest("completely-different", known, 3).is_empty());
        assert_eq!(
            closest("h100 80gb", ["H100-80GB", "A100-40GB"], 3)[0],
            "H100-80GB"
        );
        assert_eq!(
            closest("acc_nrom", ["acc", "acc_norm"], 1),
            vec!["acc_norm"]
        );
    }

    #[test]
    fn one_wording() {
        assert_eq!(did_you_mean(&[]), "");
        assert_eq!(did_you_mean(&["a".into()]), "did you mean `a`?");
        assert_eq!(
            did_you_mean(&["a".into(), "b".into()]),
            "did you mean one of `a`, `b`?"
        );
    }
}
