//! "Did you mean": the known names closest to an unknown one, by edit distance.

/// Up to three known names close to `name` (Levenshtein distance within a third of its length,
/// at least 2, or containing it / contained in it), closest first.
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let lower = name.to_lowercase();
    let limit = (name.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = known
        .into_iter()
        .filter_map(|k| {
            let kl = k.to_lowercase();
            let d = levenshtein(&lower, &kl);
            let contains = lower.len() >= 3 && (kl.contains(&lower) || lower.contains(&kl));
            (d <= limit || contains).then_some((d, k))
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(3)
        .map(|(_, k)| k.to_string())
        .collect()
}

/// Edit distance (insertions, deletions, substitutions) between two strings, by characters.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }

    #[test]
    fn suggests_close_names_first() {
        let known = ["llama-3.1-8b", "llama-3.2-1b", "qwen2.5-7b", "phi-2"];
        assert_eq!(
            closest("llama-3.1-8", known),
            vec!["llama-3.1-8b", "llama-3.2-1b"]
        );
        assert_eq!(closest("qwen", known), vec!["qwen2.5-7b"]);
        assert!(closest("completely-different", known).is_empty());
    }
}
