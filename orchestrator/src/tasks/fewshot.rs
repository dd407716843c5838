//! Few-shot context, laid out as lm-evaluation-harness lays it out.
//!
//! Examples come from the fewshot split, drawn per test item with Python's
//! `random.Random(seed).sample` (Mersenne Twister and `sample` reproduced exactly, one generator
//! shared by the items in order, default seed 1234) or taken as the first n (`first_n`).
//! When the fewshot split is the test split one extra example is drawn and the item itself is
//! dropped. A plain prompt is
//! `description + (text + target_delimiter + target + fewshot_delimiter) per example + text`;
//! a chat prompt is the description as a system message, each example as a user/assistant
//! pair and the item's text as the last user message.

use super::render::Renderer;
use super::{ChatMessage, Prompt, Rows, TaskError};
use crate::catalog::Dataset;
use serde_json::{Map, Value};

/// lm-evaluation-harness's default few-shot seed.
pub const DEFAULT_FEWSHOT_SEED: u64 = 1234;

/// How few-shot examples are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sampler {
    /// Python's `random.Random(seed).sample`, one generator for the whole run.
    Random { seed: u64 },
    /// The first n examples of the fewshot split.
    FirstN,
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::Random {
            seed: DEFAULT_FEWSHOT_SEED,
        }
    }
}

/// One rendered few-shot example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub fields: Map<String, Value>,
    pub text: String,
    /// The gold answer as text (the gold choice for multiple_choice).
    pub target: String,
}

/// Render every row of the fewshot split (so a bad example fails up front, not mid-run).
pub fn examples(renderer: &Renderer<'_>, pool: &Rows) -> Result<Vec<Example>, TaskError> {
    pool.rows
        .iter()
        .map(|row| {
            let doc = renderer.render(row, &pool.source)?;
            Ok(Example {
                fields: row.fields.clone(),
                target: doc.gold_text(),
                text: doc.text,
            })
        })
        .collect()
}

/// Draws the examples for each test item in turn.
#[derive(Debug, Clone)]
pub struct Drawer {
    examples: Vec<Example>,
    same_split: bool,
    sampler: Sampler,
    rng: PyRandom,
}

impl Drawer {
    pub fn new(examples: Vec<Example>, same_split: bool, sampler: Sampler) -> Self {
        let seed = match sampler {
            Sampler::Random { seed } => seed,
            Sampler::FirstN => 0,
        };
        Drawer {
            examples,
            same_split,
            sampler,
            rng: PyRandom::new(seed),
        }
    }

    /// The `k` examples for the test item `doc` (never `doc` itself). The pool holds at least
    /// `k + 1` examples when it is the test split, `k` otherwise (checked by the caller).
    pub fn draw(&mut self, doc: &Map<String, Value>, k: usize) -> Vec<&Example> {
        let n = (k + usize::from(self.same_split)).min(self.examples.len());
        let picked: Vec<usize> = match self.sampler {
            Sampler::Random { .. } => self.rng.sample(self.examples.len(), n),
            Sampler::FirstN => (0..n).collect(),
        };
        picked
            .into_iter()
            .map(|i| &self.examples[i])
            .filter(|ex| ex.fields != *doc)
            .take(k)
            .collect()
    }
}

/// The prompt for one test item: description, examples, then the item's text.
pub fn assemble(
    dataset: &Dataset,
    description: &str,
    shots: &[&Example],
    text: &str,
    chat: bool,
) -> Prompt {
    if chat {
        let mut messages = Vec::with_capacity(2 * shots.len() + 2);
        if !description.is_empty() {
            messages.push(ChatMessage::new("system", description));
        }
        for ex in shots {
            messages.push(ChatMessage::new("user", ex.text.clone()));
            messages.push(ChatMessage::new("assistant", ex.target.clone()));
        }
        messages.push(ChatMessage::new("user", text));
        return Prompt::Chat(messages);
    }
    let mut out = String::from(description);
    for ex in shots {
        out.push_str(&ex.text);
        out.push_str(&dataset.target_delimiter);
        out.push_str(&ex.target);
        out.push_str(&dataset.fewshot_delimiter);
    }
    out.push_str(text);
    Prompt::Plain(out)
}

const N: usize = 624;
const M: usize = 397;

/// CPython's `random.Random`: MT19937 seeded by `init_by_array`, with `getrandbits`,
/// `_randbelow` and `sample` as CPython 3 defines them, so draws match lm-evaluation-harness.
#[derive(Clone)]
pub struct PyRandom {
    mt: Box<[u32; N]>,
    index: usize,
}

impl std::fmt::Debug for PyRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyRandom")
            .field("index", &self.index)
            .finish()
    }
}

impl PyRandom {
    /// `random.Random(seed)` for a non-negative integer seed.
    pub fn new(seed: u64) -> Self {
        let (lo, hi) = (seed as u32, (seed >> 32) as u32);
        let key: &[u32] = if hi == 0 { &[lo] } else { &[lo, hi] };
        let mut rng = PyRandom {
            mt: Box::new([0; N]),
            index: N,
        };
        rng.init_by_array(key);
        rng
    }

    fn init_genrand(&mut self, s: u32) {
        self.mt[0] = s;
        for i in 1..N {
            let prev = self.mt[i - 1];
            self.mt[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        self.index = N;
    }

    fn init_by_array(&mut self, key: &[u32]) {
        self.init_genrand(19_650_218);
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let prev = self.mt[i - 1];
            self.mt[i] = (self.mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                self.mt[0] = self.mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = self.mt[i - 1];
            self.mt[i] = (self.mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                self.mt[0] = self.mt[N - 1];
                i = 1;
            }
        }
        self.mt[0] = 0x8000_0000;
    }

    fn generate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        let mag = |y: u32| if y & 1 == 1 { 0x9908_b0df } else { 0 };
        for kk in 0..N {
            let y = (self.mt[kk] & UPPER) | (self.mt[(kk + 1) % N] & LOWER);
            self.mt[kk] = self.mt[(kk + M) % N] ^ (y >> 1) ^ mag(y);
        }
        self.index = 0;
    }

    /// The next 32-bit output (`genrand_uint32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.generate();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `getrandbits(k)` for `k <= 32`.
    fn getrandbits(&mut self, k: u32) -> u32 {
        if k == 0 {
            0
        } else {
            self.next_u32() >> (32 - k)
        }
    }

    /// `_randbelow(n)`: uniform in `0..n` by rejection on `n.bit_length()` bits.
    pub fn randbelow(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let n32 = u32::try_from(n).unwrap_or(u32::MAX);
        let k = u32::BITS - n32.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n32 {
                return r as usize;
            }
        }
    }

    /// `sample(range(population), k)`: `k` distinct indices (k is clamped to the population).
    pub fn sample(&mut self, population: usize, k: usize) -> Vec<usize> {
        let k = k.min(population);
        let mut setsize = 21usize;
        if k > 5 {
            let exp = ((k as f64 * 3.0).ln() / 4f64.ln()).ceil() as u32;
            setsize += 4usize.saturating_pow(exp);
        }
        let mut result = Vec::with_capacity(k);
        if population <= setsize {
            let mut pool: Vec<usize> = (0..population).collect();
            for i in 0..k {
                let j = self.randbelow(population - i);
                result.push(pool[j]);
                pool[j] = pool[population - i - 1];
            }
        } else {
            let mut selected = std::collections::HashSet::with_capacity(k);
            for _ in 0..k {
                let mut j = self.randbelow(population);
                while selected.contains(&j) {
                    j = self.randbelow(population);
                }
                selected.insert(j);
                result.push(j);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Expected values printed by CPython 3.11:
    //   r = random.Random(1234); r.sample(range(10), 4); r.sample(range(10), 4);
    //   r.sample(range(100), 7); r.getrandbits(32)
    #[test]
    fn matches_cpython_random() {
        let mut r = PyRandom::new(1234);
        assert_eq!(r.sample(10, 4), vec![7, 1, 0, 9]);
        assert_eq!(r.sample(10, 4), vec![9, 0, 1, 8]);
        assert_eq!(r.sample(100, 7), vec![98, 45, 30, 2, 3, 44, 82]);
        assert_eq!(r.next_u32(), 2_676_973_563);
        // Other seeds (one above 2^32), the pool and the set paths of `sample`:
        //   r = random.Random(seed); r.sample(range(30), 6); r.sample(range(5), 5);
        //   r.sample(range(1000), 3); r.getrandbits(32)
        type Case = (u64, [usize; 6], [usize; 5], [usize; 3], u32);
        let cases: [Case; 3] = [
            (
                0,
                [27, 12, 24, 13, 1, 8],
                [4, 3, 1, 2, 0],
                [366, 597, 913],
                3_900_315_155,
            ),
            (
                42,
                [20, 3, 0, 23, 8, 7],
                [1, 4, 2, 0, 3],
                [604, 432, 32],
                127_978_094,
            ),
            (
                (1 << 40) + 5,
                [16, 29, 8, 21, 0, 28],
                [0, 1, 4, 2, 3],
                [951, 669, 703],
                587_241_853,
            ),
        ];
        for (seed, a, b, c, d) in cases {
            let mut r = PyRandom::new(seed);
            assert_eq!(r.sample(30, 6), a, "seed {seed}");
            assert_eq!(r.sample(5, 5), b, "seed {seed}");
            assert_eq!(r.sample(1000, 3), c, "seed {seed}");
            assert_eq!(r.next_u32(), d, "seed {seed}");
        }
    }

    #[test]
    fn seeded_sampling_is_deterministic_and_seed_dependent() {
        let draw = |seed| {
            let mut r = PyRandom::new(seed);
            (0..50).map(|_| r.sample(40, 3)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1234), draw(1234));
        assert_ne!(draw(1234), draw(42));
        for s in draw(7) {
            assert_eq!(s.len(), 3);
            assert!(s[0] != s[1] && s[1] != s[2] && s[0] != s[2] && s.iter().all(|i| *i < 40));
        }
    }
}
