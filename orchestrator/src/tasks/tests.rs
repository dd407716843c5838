//! Whole-chain tests: the shipped datasets, lm-evaluation-harness prompt layout, few-shot
//! sampling and the errors a bad dataset produces.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::testing::{dataset_in, shipped, shipped_names};
use super::*;
use crate::catalog::OutputType;
use std::path::Path;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

const MC: &str = "task: mc\ndescription: \"Pick one.\\n\\n\"\ndata_files: {test: test.jsonl, fewshot: fewshot.jsonl}\n\
fewshot_split: fewshot\noutput_type: multiple_choice\ndoc_to_text: \"Q: {{ q }}\\nA:\"\ndoc_to_target: '{{ g }}'\n\
doc_to_choice: '{{ c }}'\ntarget_delimiter: ' '\nfewshot_delimiter: \"\\n\\n\"\nnum_fewshot: 2\nmetric_list: [{metric: acc}]\n";

fn mc_rows(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"q\": \"{prefix}{i}\", \"c\": [\"no{i}\", \"yes{i}\"], \"g\": {}}}\n",
                i % 2
            )
        })
        .collect()
}

fn plain(p: &Prompt) -> &str {
    match p {
        Prompt::Plain(s) => s,
        Prompt::Chat(_) => panic!("expected a plain prompt"),
    }
}

#[test]
fn every_shipped_dataset_renders() {
    let names = shipped_names();
    assert!(names.len() >= 20, "found only {names:?}");
    let mut with_data = 0;
    for name in names {
        let ds = shipped(&name);
        if matches!(ds.data, crate::catalog::DataState::Missing { .. }) {
            continue;
        }
        with_data += 1;
        for chat in [false, true] {
            let opts = TaskOptions {
                chat,
                ..TaskOptions::default()
            };
            let p = prepare(&ds, &opts, &DiskSource).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.items.len() as u64, ds.test_rows(), "{name}");
            assert!(p.skipped.is_empty(), "{name}");
            let mut expected_requests = 0;
            for item in &p.items {
                match ds.output_type {
                    OutputType::MultipleChoice => {
                        let choices = item.choices.as_ref().unwrap();
                        assert!(
                            !choices.is_empty() && choices.iter().all(|c| !c.is_empty()),
                            "{name} item {}",
                            item.index
                        );
                        match item.target {
                            Target::Choice(i) => {
                                assert!(i < choices.len(), "{name} item {}", item.index)
                            }
                            Target::Text(_) => {
                                panic!("{name}: multiple_choice gold must be an index")
                            }
                        }
                        expected_requests += choices.len();
                    }
                    OutputType::GenerateUntil => {
                        assert!(!item.gold_text.is_empty(), "{name} item {}", item.index);
                        expected_requests += ds.repeats.max(1) as usize;
                    }
                    OutputType::Loglikelihood => expected_requests += 1,
                }
                match &item.prompt {
                    Prompt::Plain(text) => {
                        assert!(!chat);
                        assert!(!text.trim().is_empty(), "{name}");
                    }
                    Prompt::Chat(messages) => {
                        assert!(chat);
                        let last = messages.last().unwrap();
                        assert_eq!(last.role, "user");
                        let users = messages.iter().filter(|m| m.role == "user").count();
                        assert_eq!(users, ds.num_fewshot as usize + 1, "{name}");
                    }
                }
            }
            assert_eq!(p.requests.len(), expected_requests, "{name}");
        }
    }
    assert!(
        with_data >= 20,
        "only {with_data} shipped datasets have data"
    );
}

#[test]
fn shipped_few_shot_prompt_has_lm_eval_layout() {
    // boolean_questions: description, 3 seeded examples from fewshot.jsonl, then the question.
    let ds = shipped("boolean_questions");
    let p = prepare(
        &ds,
        &TaskOptions {
            limit: Some(2),
            ..TaskOptions::default()
        },
        &DiskSource,
    )
    .unwrap();
    assert_eq!(p.items.len(), 2);
    // random.Random(1234).sample(fewshot, 3) picks lines 4, 1 and 3 of fewshot.jsonl.
    assert_eq!(
        plain(&p.items[0].prompt),
        "Answer each question with yes or no.\n\n\
         Question: Is Istanbul the capital of Turkey?\nAnswer: no\n\n\
         Question: Is Oslo the capital of Norway?\nAnswer: yes\n\n\
         Question: Is Canberra the capital of Australia?\nAnswer: yes\n\n\
         Question: Is Sydney the capital of Australia?\nAnswer:"
    );
    assert_eq!(p.requests.len(), 4);
    assert_eq!(
        p.requests[0].body,
        RequestBody::Loglikelihood {
            continuation: " no".into(),
            choice: Some(0)
        }
    );
}

#[test]
fn few_shot_layout_matches_lm_eval_strings() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("test.jsonl", &mc_rows("t", 2)),
            ("fewshot.jsonl", &mc_rows("f", 5)),
        ],
    );
    let ds = dataset_in(dir.path(), MC);
    // random.Random(1234): sample(range(5), 2) gives [3, 0] for the first item, [0, 4] next.
    let p = prepare(&ds, &TaskOptions::default(), &DiskSource).unwrap();
    assert_eq!(
        plain(&p.items[0].prompt),
        "Pick one.\n\nQ: f3\nA: yes3\n\nQ: f0\nA: no0\n\nQ: t0\nA:"
    );
    assert_eq!(
        plain(&p.items[1].prompt),
        "Pick one.\n\nQ: f0\nA: no0\n\nQ: f4\nA: no4\n\nQ: t1\nA:"
    );
    assert_eq!(p.items[1].target, Target::Choice(1));
    assert_eq!(p.items[1].gold_text, "yes1");

    let first_n = TaskOptions {
        sampler: Sampler::FirstN,
        num_fewshot: Some(1),
        ..TaskOptions::default()
    };
    let p = prepare(&ds, &first_n, &DiskSource).unwrap();
    assert_eq!(
        plain(&p.items[1].prompt),
        "Pick one.\n\nQ: f0\nA: no0\n\nQ: t1\nA:"
    );

    let zero = TaskOptions {
        num_fewshot: Some(0),
        ..TaskOptions::default()
    };
    let p = prepare(&ds, &zero, &DiskSource).unwrap();
    assert_eq!(plain(&p.items[0].prompt), "Pick one.\n\nQ: t0\nA:");

    // Generation targets are the gold text; an empty target leaves just the delimiter.
    let gen_yaml = "task: g\ndata_files: {test: test.jsonl, fewshot: fewshot.jsonl}\nfewshot_split: fewshot\n\
        output_type: generate_until\ndoc_to_text: 'In: {{ q }}'\ndoc_to_target: '{{ a }}'\ntarget_delimiter: ' => '\n\
        fewshot_delimiter: \" | \"\nnum_fewshot: 2\nmetric_list: [{metric: exact_match}]\n";
    let gdir = tempfile::tempdir().unwrap();
    write(
        gdir.path(),
        &[
            ("test.jsonl", "{\"q\": \"x\", \"a\": \"X\"}\n"),
            (
                "fewshot.jsonl",
                "{\"q\": \"p\", \"a\": \"P\"}\n{\"q\": \"r\", \"a\": \"\"}\n",
            ),
        ],
    );
    let g = dataset_in(gdir.path(), gen_yaml);
    let p = prepare(
        &g,
        &TaskOptions {
            sampler: Sampler::FirstN,
            ..TaskOptions::default()
        },
        &DiskSource,
    )
    .unwrap();
    assert_eq!(plain(&p.items[0].prompt), "In: p => P | In: r =>  | In: x");
}

#[test]
fn same_split_few_shot_skips_the_item_itself() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("test.jsonl", &mc_rows("t", 4))]);
    let yaml = MC
        .replace("test.jsonl, fewshot: fewshot.jsonl", "test.jsonl")
        .replace("fewshot_split: fewshot", "fewshot_split: test");
    let ds = dataset_in(dir.path(), &yaml);
    // random.Random(1234): sample(range(4), 3) per item gives [3,0,2], [0,2,3], [0,3,1], [1,0,2].
    let p = prepare(&ds, &TaskOptions::default(), &DiskSource).unwrap();
    let shots: Vec<Vec<&str>> = p
        .items
        .iter()
        .map(|it| {
            plain(&it.prompt)
                .split("Q: ")
                .skip(1)
                .map(|s| &s[..2])
                .collect()
        })
        .collect();
    assert_eq!(
        shots,
        vec![
            vec!["t3", "t2", "t0"],
            vec!["t0", "t2", "t1"],
            vec!["t0", "t3", "t2"],
            vec!["t1", "t0", "t3"]
        ]
    );
}

#[test]
fn seeded_sampling_is_deterministic_and_limit_is_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("test.jsonl", &mc_rows("t", 30)),
            ("fewshot.jsonl", &mc_rows("f", 40)),
        ],
    );
    let ds = dataset_in(dir.path(), MC);
    let run = |opts: &TaskOptions| prepare(&ds, opts, &DiskSource).unwrap();
    let a = run(&TaskOptions::default());
    let b = run(&TaskOptions::default());
    let texts = |p: &Prepared| {
        p.items
            .iter()
            .map(|i| plain(&i.prompt).to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&a), texts(&b));
    assert_eq!(a.requests, b.requests);
    let other = run(&TaskOptions {
        sampler: Sampler::Random { seed: 7 },
        ..TaskOptions::default()
    });
    assert_ne!(texts(&a), texts(&other));
    let limited = run(&TaskOptions {
        limit: Some(5),
        ..TaskOptions::default()
    });
    assert_eq!(texts(&limited), texts(&a)[..5].to_vec());
    assert_eq!(limited.requests.len(), 10);
}

#[test]
fn chat_prompt_is_system_pairs_and_last_user_message() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("test.jsonl", &mc_rows("t", 1)),
            ("fewshot.jsonl", &mc_rows("f", 5)),
        ],
    );
    let ds = dataset_in(dir.path(), MC);
    let opts = TaskOptions {
        chat: true,
        sampler: Sampler::FirstN,
        ..TaskOptions::default()
    };
    let p = prepare(&ds, &opts, &DiskSource).unwrap();
    let expected = vec![
        ChatMessage::new("system", "Pick one.\n\n"),
        ChatMessage::new("user", "Q: f0\nA:"),
        ChatMessage::new("assistant", "no0"),
        ChatMessage::new("user", "Q: f1\nA:"),
        ChatMessage::new("assistant", "yes1"),
        ChatMessage::new("user", "Q: t0\nA:"),
    ];
    assert_eq!(p.items[0].prompt, Prompt::Chat(expected));
    assert!(p.chat);
    assert!(ChatMode::Auto.resolve(true, true));
    assert!(!ChatMode::Auto.resolve(true, false) && !ChatMode::Auto.resolve(false, true));
    assert!(ChatMode::On.resolve(false, false) && !ChatMode::Off.resolve(true, true));
}

#[test]
fn few_shot_without_a_fewshot_split_names_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("test.jsonl", &mc_rows("t", 3))]);
    let yaml = MC
        .replace("test.jsonl, fewshot: fewshot.jsonl", "test.jsonl")
        .replace("fewshot_split: fewshot\n", "");
    let ds = dataset_in(dir.path(), &yaml);
    let err = prepare(&ds, &TaskOptions::default(), &DiskSource).unwrap_err();
    assert!(
        matches!(err, TaskError::NoFewshotSplit { num_fewshot: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("dataset `mc`"), "{err}");
    // Zero-shot works without one.
    let p = prepare(
        &ds,
        &TaskOptions {
            num_fewshot: Some(0),
            ..TaskOptions::default()
        },
        &DiskSource,
    )
    .unwrap();
    assert_eq!(p.items.len(), 3);
    // A fewshot split smaller than num_fewshot.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("test.jsonl", &mc_rows("t", 3)),
            ("fewshot.jsonl", &mc_rows("f", 1)),
        ],
    );
    let err = prepare(
        &dataset_in(dir.path(), MC),
        &TaskOptions::default(),
        &DiskSource,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("2 few-shot example(s) needed but split `fewshot` has only 1"),
        "{err}"
    );
}

#[test]
fn bad_data_files_fail_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad_test = format!("{}{{\"q\": \n{}", mc_rows("t", 1), mc_rows("u", 1));
    write(
        dir.path(),
        &[
            ("test.jsonl", &bad_test),
            ("fewshot.jsonl", &mc_rows("f", 5)),
        ],
    );
    let ds = dataset_in(dir.path(), MC);
    let err = prepare(&ds, &TaskOptions::default(), &DiskSource).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("test.jsonl:2: row is not valid JSON"),
        "{text}"
    );
    let p = prepare(
        &ds,
        &TaskOptions {
            skip_bad_rows: true,
            ..TaskOptions::default()
        },
        &DiskSource,
    )
    .unwrap();
    assert_eq!(p.items.len(), 2);
    assert_eq!(p.items[1].line, 3);
    assert_eq!(p.skipped.len(), 1);
    assert!(p.skipped[0].0.ends_with("test.jsonl") && p.skipped[0].1.line == 2);

    // Empty test file.
    write(dir.path(), &[("test.jsonl", "")]);
    let err = prepare(&ds, &TaskOptions::default(), &DiskSource).unwrap_err();
    assert!(
        matches!(err, TaskError::Empty { .. })
            && err.to_string().contains("test.jsonl has no rows"),
        "{err}"
    );

    // A gold index out of range in the fewshot split fails up front, naming that file.
    write(
        dir.path(),
        &[
            ("test.jsonl", &mc_rows("t", 1)),
            (
                "fewshot.jsonl",
                "{\"q\": \"f\", \"c\": [\"a\"], \"g\": 4}\n",
            ),
        ],
    );
    let err = prepare(
        &ds,
        &TaskOptions {
            num_fewshot: Some(1),
            ..TaskOptions::default()
        },
        &DiskSource,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("fewshot.jsonl:1: `doc_to_target` gold index 4 is out of range"),
        "{err}"
    );

    // A manifest naming a field the data lacks.
    write(dir.path(), &[("fewshot.jsonl", &mc_rows("f", 5))]);
    let ds = dataset_in(dir.path(), &MC.replace("{{ q }}", "{{ question }}"));
    let err = prepare(&ds, &TaskOptions::default(), &DiskSource).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`doc_to_text` failed to render: the row has no field `question`"),
        "{text}"
    );

    // A data file that is not there.
    std::fs::remove_file(dir.path().join("test.jsonl")).unwrap();
    let err = prepare(&ds, &TaskOptions::default(), &DiskSource).unwrap_err();
    assert!(
        matches!(err, TaskError::Read { .. }) && err.to_string().contains("test.jsonl"),
        "{err}"
    );
}

#[test]
fn disk_source_accepts_paths_relative_to_the_dataset_or_already_joined() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("test.jsonl", &mc_rows("t", 2)),
            ("fewshot.jsonl", &mc_rows("f", 5)),
        ],
    );
    let mut ds = dataset_in(dir.path(), MC);
    let relative = read_split(&ds, "test", &DiskSource, false).unwrap();
    for file in ds.data_files.values_mut() {
        *file = dir.path().join(&*file);
    }
    let joined = read_split(&ds, "test", &DiskSource, false).unwrap();
    assert_eq!(relative.rows, joined.rows);
    assert_eq!(relative.source, joined.source);
    let err = read_split(&ds, "validation", &DiskSource, false).unwrap_err();
    assert!(
        err.to_string()
            .contains("no data file for split `validation` (data_files has: fewshot, test)"),
        "{err}"
    );
}
