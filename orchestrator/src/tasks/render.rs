//! Rendering a row with the manifest's templates, as lm-evaluation-harness does.
//!
//! minijinja with Jinja2 semantics: undefined fields are errors (`StrictUndefined`), the
//! trailing newline of a template is kept, and values print as Python prints them (`True`,
//! `None`, `['a', 'b']`) because lm-evaluation-harness renders Python values.
//! Python's string methods work in templates (`{{ text.strip() }}`), as in lm-eval.
//! `doc_to_target` renders to the gold text; for `multiple_choice` to a choice index or to
//! the text of one of the choices. `doc_to_choice` is a literal list, a single expression
//! (`{{ choices }}`, evaluated as a value), or a template whose output is a JSON or Python
//! list literal.

use super::{Row, TaskError};
use crate::catalog::{ChoiceSpec, Dataset, OutputType};
use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, UndefinedBehavior};

/// The gold answer of one row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Target {
    /// Gold text (`generate_until`, `loglikelihood`).
    Text(String),
    /// Index of the gold choice (`multiple_choice`).
    Choice(usize),
}

/// One row rendered by the manifest's templates.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedDoc {
    pub text: String,
    pub target: Target,
    pub choices: Option<Vec<String>>,
}

impl RenderedDoc {
    /// The gold answer as text: the gold choice for multiple_choice.
    pub fn gold_text(&self) -> String {
        match (&self.target, &self.choices) {
            (Target::Text(t), _) => t.clone(),
            (Target::Choice(i), Some(choices)) => choices.get(*i).cloned().unwrap_or_default(),
            (Target::Choice(i), None) => i.to_string(),
        }
    }
}

enum Choices {
    None,
    List(Vec<String>),
    /// `{{ expr }}`: evaluated to a value.
    Expr(String),
    /// Any other template: its output parsed as a list literal.
    Template,
}

/// A dataset's compiled templates.
pub struct Renderer<'d> {
    dataset: &'d Dataset,
    env: Environment<'static>,
    choices: Choices,
}

impl std::fmt::Debug for Renderer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("dataset", &self.dataset.name)
            .finish()
    }
}

const DOC_TO_CHOICE: &str = "doc_to_choice";

impl<'d> Renderer<'d> {
    /// Compile the dataset's templates; a syntax error names the manifest field.
    pub fn new(dataset: &'d Dataset) -> Result<Self, TaskError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.set_debug(false);
        // Python string/list/dict methods (`{{ question.strip() }}`), common in lm-eval templates.
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(|out, state, value| match value.kind() {
            ValueKind::None | ValueKind::Bool | ValueKind::Seq | ValueKind::Map => out
                .write_str(&py_repr(value))
                .map_err(minijinja::Error::from),
            _ => minijinja::escape_formatter(out, state, value),
        });
        let template_error = |field: &'static str, e: minijinja::Error| TaskError::Template {
            dataset: dataset.name.clone(),
            field,
            message: e.to_string(),
        };
        let mut add = |field: &'static str, source: &str| {
            env.add_template_owned(field, source.to_string())
                .map_err(|e| template_error(field, e))
        };
        add("doc_to_text", &dataset.doc_to_text)?;
        add("doc_to_target", &dataset.doc_to_target)?;
        add("description", dataset.description.as_deref().unwrap_or(""))?;
        let choices = match (&dataset.doc_to_choice, dataset.output_type) {
            (_, OutputType::GenerateUntil | OutputType::Loglikelihood) => Choices::None,
            (None, OutputType::MultipleChoice) => {
                return Err(TaskError::Template {
                    dataset: dataset.name.clone(),
                    field: DOC_TO_CHOICE,
                    message: "missing: multiple_choice needs a list of choices".into(),
                });
            }
            (Some(ChoiceSpec::List(list)), _) => Choices::List(list.clone()),
            (Some(ChoiceSpec::Template(t)), _) => match single_expression(t) {
                Some(expr) => {
                    env.compile_expression(expr)
                        .map_err(|e| template_error(DOC_TO_CHOICE, e))?;
                    Choices::Expr(expr.to_string())
                }
                None => {
                    add(DOC_TO_CHOICE, t)?;
                    Choices::Template
                }
            },
        };
        Ok(Renderer {
            dataset,
            env,
            choices,
        })
    }

    /// Render `row` (from file `source`): prompt text, gold target and choices.
    pub fn render(&self, row: &Row, source: &str) -> Result<RenderedDoc, TaskError> {
        let ctx = Value::from_serialize(&row.fields);
        let text = self.template(row, source, "doc_to_text", &ctx)?;
        let target = self.template(row, source, "doc_to_target", &ctx)?;
        if self.dataset.output_type != OutputType::MultipleChoice {
            return Ok(RenderedDoc {
                text,
                target: Target::Text(target),
                choices: None,
            });
        }
        let choices = self.choices(row, source, &ctx)?;
        let gold = self.gold(row, source, &target, &choices)?;
        Ok(RenderedDoc {
            text,
            target: Target::Choice(gold),
            choices: Some(choices),
        })
    }

    /// The manifest's `description` rendered over `row` (empty when there is none).
    pub fn description(&self, row: &Row, source: &str) -> Result<String, TaskError> {
        if self.dataset.description.as_deref().unwrap_or("").is_empty() {
            return Ok(String::new());
        }
        self.template(
            row,
            source,
            "description",
            &Value::from_serialize(&row.fields),
        )
    }

    fn template(
        &self,
        row: &Row,
        source: &str,
        field: &'static str,
        ctx: &Value,
    ) -> Result<String, TaskError> {
        let render = || self.env.get_template(field)?.render(ctx);
        render().map_err(|e| {
            let missing = self
                .env
                .get_template(field)
                .map(|t| missing_fields(&t.undeclared_variables(false), row));
            self.render_error(row, source, field, e, missing.unwrap_or_default())
        })
    }

    fn render_error(
        &self,
        row: &Row,
        source: &str,
        field: &'static str,
        e: minijinja::Error,
        missing: Vec<String>,
    ) -> TaskError {
        let message = if e.kind() == minijinja::ErrorKind::UndefinedError && !missing.is_empty() {
            let have: Vec<&str> = row.fields.keys().map(String::as_str).collect();
            format!(
                "the row has no field {} (its fields: {})",
                quote_list(&missing),
                have.join(", ")
            )
        } else {
            e.to_string()
        };
        TaskError::Render {
            dataset: self.dataset.name.clone(),
            file: source.to_string(),
            line: row.line,
            field,
            message,
        }
    }

    fn choices(&self, row: &Row, source: &str, ctx: &Value) -> Result<Vec<String>, TaskError> {
        let fail = |message: String| TaskError::Choices {
            dataset: self.dataset.name.clone(),
            file: source.to_string(),
            line: row.line,
            message,
        };
        let list = match &self.choices {
            Choices::None => return Ok(Vec::new()),
            Choices::List(list) => list.clone(),
            Choices::Expr(expr) => {
                let value = self
                    .env
                    .compile_expression(expr)
                    .and_then(|e| e.eval(ctx))
                    .map_err(|e| {
                        let missing = self
                            .env
                            .compile_expression(expr)
                            .map(|x| missing_fields(&x.undeclared_variables(false), row))
                            .unwrap_or_default();
                        self.render_error(row, source, DOC_TO_CHOICE, e, missing)
                    })?;
                if value.is_undefined() {
                    let missing = self
                        .env
                        .compile_expression(expr)
                        .map(|x| missing_fields(&x.undeclared_variables(false), row))
                        .unwrap_or_default();
                    let message = if missing.is_empty() {
                        format!("`{expr}` is undefined for this row")
                    } else {
                        let have: Vec<&str> = row.fields.keys().map(String::as_str).collect();
                        format!(
                            "the row has no field {} (its fields: {})",
                            quote_list(&missing),
                            have.join(", ")
                        )
                    };
                    return Err(TaskError::Render {
                        dataset: self.dataset.name.clone(),
                        file: source.to_string(),
                        line: row.line,
                        field: DOC_TO_CHOICE,
                        message,
                    });
                }
                value_to_list(&value).map_err(fail)?
            }
            Choices::Template => {
                let text = self.template(row, source, DOC_TO_CHOICE, ctx)?;
                parse_list_literal(&text).ok_or_else(|| {
                    fail(format!("rendered {text:?}, which is not a list literal"))
                })?
            }
        };
        if list.is_empty() {
            return Err(fail("gave an empty list of choices".into()));
        }
        Ok(list)
    }

    fn gold(
        &self,
        row: &Row,
        source: &str,
        target: &str,
        choices: &[String],
    ) -> Result<usize, TaskError> {
        let fail = |message: String| TaskError::Gold {
            dataset: self.dataset.name.clone(),
            file: source.to_string(),
            line: row.line,
            message,
        };
        let trimmed = target.trim();
        if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
            let index: usize = trimmed
                .parse()
                .map_err(|_| fail(format!("gold index {trimmed} is too large")))?;
            if index >= choices.len() {
                return Err(fail(format!(
                    "gold index {index} is out of range for {} choice(s) (valid: 0..={})",
                    choices.len(),
                    choices.len() - 1
                )));
            }
            return Ok(index);
        }
        choices.iter().position(|c| c == target).ok_or_else(|| {
            fail(format!("rendered {target:?}, which is neither a choice index nor one of the choices {choices:?}"))
        })
    }
}

/// Fields a template uses that the row lacks (builtin globals aside).
fn missing_fields(used: &std::collections::HashSet<String>, row: &Row) -> Vec<String> {
    const GLOBALS: &[&str] = &[
        "range",
        "dict",
        "namespace",
        "debug",
        "cycler",
        "joiner",
        "loop",
        "self",
    ];
    let mut missing: Vec<String> = used
        .iter()
        .filter(|v| !row.fields.contains_key(*v) && !GLOBALS.contains(&v.as_str()))
        .cloned()
        .collect();
    missing.sort();
    missing
}

fn quote_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `{{ expr }}` with nothing around it: the expression.
fn single_expression(template: &str) -> Option<&str> {
    let inner = template.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if ["{{", "}}", "{%", "%}", "{#"]
        .iter()
        .any(|m| inner.contains(m))
    {
        return None;
    }
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    Some(inner.trim())
}

/// A list value as choice strings (items that are not strings print as Python would).
fn value_to_list(value: &Value) -> Result<Vec<String>, String> {
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable => {
            let items = value.try_iter().map_err(|e| e.to_string())?;
            Ok(items
                .map(|item| {
                    item.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| py_repr(&item))
                })
                .collect())
        }
        ValueKind::String => {
            let text = value.as_str().unwrap_or("");
            parse_list_literal(text)
                .ok_or_else(|| format!("gave the string {text:?}, which is not a list"))
        }
        kind => Err(format!("gave {kind} {}, not a list", py_repr(value))),
    }
}

/// A JSON list, or a Python list literal of strings and numbers (`['a', "b", 3]`).
pub(crate) fn parse_list_literal(text: &str) -> Option<Vec<String>> {
    let text = text.trim();
    if let Ok(items) = serde_json::from_str::<Vec<serde_json::Value>>(text) {
        return Some(
            items
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => s,
                    other => py_repr(&Value::from_serialize(&other)),
                })
                .collect(),
        );
    }
    let mut chars = text
        .strip_prefix('[')?
        .strip_suffix(']')?
        .chars()
        .peekable();
    let mut items = Vec::new();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some(q @ ('\'' | '"')) => {
                let mut s = String::new();
                loop {
                    match chars.next()? {
                        c if c == q => break,
                        '\\' => s.push(match chars.next()? {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => other,
                        }),
                        c => s.push(c),
                    }
                }
                items.push(s);
            }
            Some(c) if c.is_ascii_digit() || c == '-' || c == '.' => {
                let mut s = c.to_string();
                while chars.peek().is_some_and(|c| {
                    c.is_ascii_alphanumeric() || *c == '.' || *c == '-' || *c == '+'
                }) {
                    s.extend(chars.next());
                }
                s.parse::<f64>().ok()?;
                items.push(s);
            }
            Some(_) => return None,
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(_) => return None,
        }
    }
    Some(items)
}

/// A value as Python's `repr` shows it (`str` for strings at the top level is the caller's job).
pub(crate) fn py_repr(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::None => "None".into(),
        ValueKind::Bool => if value.is_true() { "True" } else { "False" }.into(),
        ValueKind::String => py_repr_str(value.as_str().unwrap_or("")),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<String> = value
                .try_iter()
                .map(|it| it.map(|v| py_repr(&v)).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let entries: Vec<String> = value
                .try_iter()
                .map(|keys| {
                    keys.map(|k| {
                        let v = value.get_item(&k).unwrap_or_default();
                        format!("{}: {}", py_repr(&k), py_repr(&v))
                    })
                    .collect()
                })
                .unwrap_or_default();
            format!("{{{}}}", entries.join(", "))
        }
        _ => value.to_string(),
    }
}

fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tasks::testing::{dataset_from_yaml, row};

    fn mc(extra: &str) -> Dataset {
        dataset_from_yaml(
            "mc",
            &format!(
                "task: mc\ndata_files: {{test: test.jsonl}}\noutput_type: multiple_choice\nmetric_list: [{{metric: acc}}]\n{extra}"
            ),
        )
    }

    #[test]
    fn python_values_print_as_python() {
        let ds = dataset_from_yaml(
            "g",
            "task: g\ndata_files: {test: t.jsonl}\noutput_type: generate_until\nmetric_list: [{metric: exact_match}]\n\
             doc_to_text: \"{{ flag }} {{ nothing }} {{ opts }} {{ n }} {{ x }}\\n\"\ndoc_to_target: \"{{ m }}\"\n",
        );
        let r = Renderer::new(&ds).unwrap();
        let doc = r
            .render(&row(1, r#"{"flag": true, "nothing": null, "opts": ["it's", "b"], "n": 3, "x": 2.5, "m": {"k": [1]}}"#), "f")
            .unwrap();
        assert_eq!(doc.text, "True None [\"it's\", 'b'] 3 2.5\n");
        assert_eq!(doc.target, Target::Text("{'k': [1]}".into()));
    }

    #[test]
    fn python_string_methods_work() {
        let ds = dataset_from_yaml(
            "p",
            "task: p\ndata_files: {test: t.jsonl}\noutput_type: generate_until\nmetric_list: [{metric: exact_match}]\n\
             doc_to_text: \"{{ q.strip() }}|{{ q.split()[1].upper() }}\"\ndoc_to_target: \"{{ a.replace('x', 'y') }}\"\n",
        );
        let doc = Renderer::new(&ds)
            .unwrap()
            .render(&row(1, r#"{"q": "  one two  ", "a": "xx"}"#), "f")
            .unwrap();
        assert_eq!(doc.text, "one two|TWO");
        assert_eq!(doc.target, Target::Text("yy".into()));
    }

    #[test]
    fn choices_from_expression_literal_list_and_rendered_literal() {
        let cases = [
            (
                "doc_to_choice: '{{ choices }}'",
                r#"{"choices": ["x", "y"], "g": 1}"#,
            ),
            ("doc_to_choice: ['x', 'y']", r#"{"g": 1}"#),
            (
                "doc_to_choice: \"{{ choices | list }}\"",
                r#"{"choices": ["x", "y"], "g": 1}"#,
            ),
            (
                "doc_to_choice: \"['{{ a }}', '{{ b }}']\"",
                r#"{"a": "x", "b": "y", "g": 1}"#,
            ),
            (
                "doc_to_choice: '{{ choices }}'",
                r#"{"choices": "['x', 'y']", "g": 1}"#,
            ),
        ];
        for (spec, data) in cases {
            let ds = mc(&format!(
                "doc_to_text: 'Q'\ndoc_to_target: '{{{{ g }}}}'\n{spec}\n"
            ));
            let doc = Renderer::new(&ds)
                .unwrap()
                .render(&row(1, data), "f")
                .unwrap();
            assert_eq!(
                doc.choices,
                Some(vec!["x".to_string(), "y".to_string()]),
                "{spec}"
            );
            assert_eq!(doc.target, Target::Choice(1), "{spec}");
            assert_eq!(doc.gold_text(), "y");
        }
    }

    #[test]
    fn gold_may_be_the_text_of_a_choice() {
        let ds =
            mc("doc_to_text: 'Q'\ndoc_to_target: '{{ answer }}'\ndoc_to_choice: '{{ choices }}'\n");
        let r = Renderer::new(&ds).unwrap();
        let doc = r
            .render(
                &row(1, r#"{"choices": ["no", "yes"], "answer": "yes"}"#),
                "f",
            )
            .unwrap();
        assert_eq!(doc.target, Target::Choice(1));
        let err = r
            .render(
                &row(7, r#"{"choices": ["no", "yes"], "answer": "maybe"}"#),
                "d/test.jsonl",
            )
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("d/test.jsonl:7")
                && text.contains("doc_to_target")
                && text.contains("maybe"),
            "{text}"
        );
    }

    #[test]
    fn gold_index_out_of_range_names_file_row_and_field() {
        let ds =
            mc("doc_to_text: 'Q'\ndoc_to_target: '{{ gold }}'\ndoc_to_choice: '{{ choices }}'\n");
        let err = Renderer::new(&ds)
            .unwrap()
            .render(
                &row(12, r#"{"choices": ["a", "b", "c"], "gold": 3}"#),
                "mc/test.jsonl",
            )
            .unwrap_err();
        assert!(matches!(err, TaskError::Gold { line: 12, .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("dataset `mc`"), "{text}");
        assert!(text.contains("mc/test.jsonl:12"), "{text}");
        assert!(
            text.contains("`doc_to_target` gold index 3 is out of range for 3 choice(s)"),
            "{text}"
        );
    }

    #[test]
    fn missing_field_names_dataset_row_template_field_and_data_field() {
        let ds = mc(
            "doc_to_text: 'Question: {{ questoin }}'\ndoc_to_target: '{{ gold }}'\ndoc_to_choice: '{{ choices }}'\n",
        );
        let err = Renderer::new(&ds)
            .unwrap()
            .render(
                &row(4, r#"{"question": "q", "choices": ["a"], "gold": 0}"#),
                "mc/test.jsonl",
            )
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                TaskError::Render {
                    field: "doc_to_text",
                    line: 4,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            text.contains("dataset `mc`") && text.contains("mc/test.jsonl:4"),
            "{text}"
        );
        assert!(
            text.contains("no field `questoin`") && text.contains("question"),
            "{text}"
        );

        let ds =
            mc("doc_to_text: 'Q'\ndoc_to_target: '{{ gold }}'\ndoc_to_choice: '{{ options }}'\n");
        let err = Renderer::new(&ds)
            .unwrap()
            .render(&row(2, r#"{"choices": ["a"], "gold": 0}"#), "f")
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("doc_to_choice") && text.contains("no field `options`"),
            "{text}"
        );
    }

    #[test]
    fn template_errors_are_reported_not_panics() {
        // A syntax error is caught when the manifest's templates are compiled.
        let ds = mc(
            "doc_to_text: 'Q {{ question '\ndoc_to_target: '{{ gold }}'\ndoc_to_choice: '{{ choices }}'\n",
        );
        let err = Renderer::new(&ds).unwrap_err();
        assert!(
            matches!(
                err,
                TaskError::Template {
                    field: "doc_to_text",
                    ..
                }
            ),
            "{err:?}"
        );
        // A template that fails on one row only (a filter applied to a number).
        let ds = mc(
            "doc_to_text: '{{ question | upper }}'\ndoc_to_target: '{{ gold }}'\ndoc_to_choice: '{{ choices }}'\n",
        );
        let r = Renderer::new(&ds).unwrap();
        assert_eq!(
            r.render(
                &row(1, r#"{"question": "q", "choices": ["a"], "gold": 0}"#),
                "f"
            )
            .unwrap()
            .text,
            "Q"
        );
        // Iterating over a number fails for that row only.
        let ds = mc(
            "doc_to_text: '{% for c in question %}{{ c }}{% endfor %}'\ndoc_to_target: '{{ gold }}'\ndoc_to_choice: '{{ choices }}'\n",
        );
        let err = Renderer::new(&ds)
            .unwrap()
            .render(
                &row(9, r#"{"question": 5, "choices": ["a"], "gold": 0}"#),
                "f",
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                TaskError::Render {
                    line: 9,
                    field: "doc_to_text",
                    ..
                }
            ),
            "{err:?}"
        );
        // Choices that are not a list, or an empty list.
        let ds =
            mc("doc_to_text: 'Q'\ndoc_to_target: '{{ gold }}'\ndoc_to_choice: '{{ choices }}'\n");
        let r = Renderer::new(&ds).unwrap();
        let err = r
            .render(&row(3, r#"{"choices": 5, "gold": 0}"#), "f")
            .unwrap_err();
        assert!(matches!(err, TaskError::Choices { line: 3, .. }), "{err:?}");
        let err = r
            .render(&row(3, r#"{"choices": [], "gold": 0}"#), "f")
            .unwrap_err();
        assert!(err.to_string().contains("empty list"), "{err}");
    }

    #[test]
    fn multiple_choice_without_choices_is_a_manifest_error() {
        let ds = mc("doc_to_text: 'Q'\ndoc_to_target: '{{ gold }}'\n");
        let err = Renderer::new(&ds).unwrap_err();
        assert!(
            matches!(
                err,
                TaskError::Template {
                    field: "doc_to_choice",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn list_literals() {
        assert_eq!(
            parse_list_literal("['a', \"b's\", 'c\\'d', 3]"),
            Some(vec!["a".into(), "b's".into(), "c'd".into(), "3".into()])
        );
        assert_eq!(parse_list_literal("[]"), Some(vec![]));
        assert_eq!(parse_list_literal("a, b"), None);
        assert_eq!(parse_list_literal("['a' 'b']"), None);
        assert_eq!(parse_list_literal("['a"), None);
    }
}
