//! Engine-agnostic requests built from rendered items, identified by content.
//!
//! - `multiple_choice`: one loglikelihood request per choice,
//!   `(context, target_delimiter + choice)`.
//! - `loglikelihood`: one request, `(context, target_delimiter + target)`.
//! - `generate_until`: one generation request per repeat (`repeats` in the manifest), carrying
//!   `until`, `max_gen_toks` and the sampling settings.
//!
//! `prompt_hash` is the sha256 (hex) of the prompt text, or of the JSON of the chat messages;
//! `settings_hash` is the sha256 of the JSON of everything else the answer depends on (the
//! continuation, or the generation settings). Together with the repeat index they identify a
//! result by content, so a run can be resumed or compared across runs.

use super::{Item, Prompt};
use crate::catalog::{Dataset, GenerationKwargs, OutputType};
use sha2::{Digest, Sha256};

/// What the engine computes for a request.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RequestBody {
    /// Log-probability of `continuation` after the context (and whether it is the greedy one).
    Loglikelihood {
        continuation: String,
        /// The choice index (multiple_choice only).
        choice: Option<usize>,
    },
    /// Generate from the context until a stop string or `max_gen_toks`.
    GenerateUntil { settings: GenerationKwargs },
}

/// One unit of engine work.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Request {
    pub dataset: String,
    /// Index of the item in the test split.
    pub item: usize,
    /// 0-based; above 0 only for generation with `repeats > 1`.
    pub repeat: u32,
    pub context: Prompt,
    pub body: RequestBody,
    pub prompt_hash: String,
    pub settings_hash: String,
}

/// The requests `items` need, in item order (then choice, then repeat).
pub fn build_requests(dataset: &Dataset, items: &[Item]) -> Vec<Request> {
    let mut out = Vec::new();
    for item in items {
        let prompt_hash = prompt_hash(&item.prompt);
        let mut push = |repeat: u32, body: RequestBody| {
            out.push(Request {
                dataset: dataset.name.clone(),
                item: item.index,
                repeat,
                context: item.prompt.clone(),
                settings_hash: json_hash(&body),
                prompt_hash: prompt_hash.clone(),
                body,
            });
        };
        match dataset.output_type {
            OutputType::MultipleChoice => {
                for (i, choice) in item.choices.iter().flatten().enumerate() {
                    let continuation = format!("{}{}", dataset.target_delimiter, choice);
                    push(
                        0,
                        RequestBody::Loglikelihood {
                            continuation,
                            choice: Some(i),
                        },
                    );
                }
            }
            OutputType::Loglikelihood => {
                let continuation = format!("{}{}", dataset.target_delimiter, item.gold_text);
                push(
                    0,
                    RequestBody::Loglikelihood {
                        continuation,
                        choice: None,
                    },
                );
            }
            OutputType::GenerateUntil => {
                let settings = dataset.generation.clone();
                for repeat in 0..dataset.repeats.max(1) {
                    push(
                        repeat,
                        RequestBody::GenerateUntil {
                            settings: settings.clone(),
                        },
                    );
                }
            }
        }
    }
    out
}

/// sha256 hex of the prompt text, or of the JSON of the chat messages.
pub fn prompt_hash(prompt: &Prompt) -> String {
    match prompt {
        Prompt::Plain(text) => sha256_hex(text.as_bytes()),
        Prompt::Chat(messages) => json_hash(messages),
    }
}

fn json_hash<T: serde::Serialize>(value: &T) -> String {
    // Serializing these plain structs (strings, numbers, bools) cannot fail.
    sha256_hex(serde_json::to_string(value).unwrap_or_default().as_bytes())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tasks::{ChatMessage, Target};

    fn item(index: usize, prompt: Prompt, choices: Option<Vec<&str>>, gold: &str) -> Item {
        Item {
            index,
            line: index + 1,
            prompt,
            choices: choices.map(|c| c.into_iter().map(String::from).collect()),
            target: Target::Text(gold.into()),
            gold_text: gold.into(),
            fields: Default::default(),
        }
    }

    #[test]
    fn hashes_are_sha256_of_the_exact_content() {
        // sha256("abc")
        assert_eq!(
            prompt_hash(&Prompt::Plain("abc".into())),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let chat = Prompt::Chat(vec![ChatMessage::new("user", "abc")]);
        assert_eq!(
            prompt_hash(&chat),
            sha256_hex(br#"[{"role":"user","content":"abc"}]"#)
        );
        assert_ne!(
            prompt_hash(&chat),
            prompt_hash(&Prompt::Plain("abc".into()))
        );
    }

    #[test]
    fn request_counts_per_output_type() {
        let mut ds = crate::tasks::testing::dataset_from_yaml(
            "r",
            "task: r\ndata_files: {test: t.jsonl}\noutput_type: multiple_choice\ndoc_to_text: 'Q'\n\
             doc_to_target: '{{ g }}'\ndoc_to_choice: '{{ c }}'\nmetric_list: [{metric: acc}]\n",
        );
        let items = vec![
            item(
                0,
                Prompt::Plain("Q1".into()),
                Some(vec!["a", "b", "c"]),
                "b",
            ),
            item(1, Prompt::Plain("Q2".into()), Some(vec!["x", "y"]), "x"),
        ];
        let reqs = build_requests(&ds, &items);
        assert_eq!(reqs.len(), 5);
        assert_eq!(
            reqs[1].body,
            RequestBody::Loglikelihood {
                continuation: " b".into(),
                choice: Some(1)
            }
        );
        assert_eq!((reqs[4].item, reqs[4].repeat), (1, 0));
        assert_eq!(reqs[0].prompt_hash, reqs[2].prompt_hash);
        assert_ne!(reqs[0].settings_hash, reqs[1].settings_hash);
        assert_ne!(reqs[0].prompt_hash, reqs[3].prompt_hash);

        ds.output_type = OutputType::Loglikelihood;
        let reqs = build_requests(&ds, &items);
        assert_eq!(reqs.len(), 2);
        assert_eq!(
            reqs[0].body,
            RequestBody::Loglikelihood {
                continuation: " b".into(),
                choice: None
            }
        );

        ds.output_type = OutputType::GenerateUntil;
        ds.repeats = 3;
        ds.generation.until = vec!["\n".into()];
        ds.generation.max_gen_toks = 17;
        let reqs = build_requests(&ds, &items);
        assert_eq!(reqs.len(), 6);
        assert_eq!(
            reqs.iter().map(|r| (r.item, r.repeat)).collect::<Vec<_>>(),
            vec![(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
        );
        match &reqs[0].body {
            RequestBody::GenerateUntil { settings } => {
                assert_eq!(settings.until, vec!["\n".to_string()]);
                assert_eq!(settings.max_gen_toks, 17);
            }
            other => panic!("unexpected body {other:?}"),
        }
        // Same prompt and settings, so the same hashes; the repeat index tells them apart.
        assert_eq!(reqs[0].settings_hash, reqs[1].settings_hash);
        let before = reqs[0].settings_hash.clone();
        ds.generation.max_gen_toks = 18;
        assert_ne!(build_requests(&ds, &items)[0].settings_hash, before);
    }
}
