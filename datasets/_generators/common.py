"""Shared pieces of the dataset generators in this directory.

- Output: `to_yaml` (a YAML subset: block mappings and lists, every string JSON-quoted, keys in
  insertion order) and `to_jsonl` (one JSON object per line, `\\n` endings, UTF-8 kept).
- Validation: `manifest_problems` checks a manifest dict against the serde shapes in
  `orchestrator/src/catalog/raw.rs` and the metric and filter names the scorer knows;
  `rows_problems` checks rows against a manifest's templates (every field a template uses is
  present, multiple-choice gold indices are in range) and the split sizes.
- Driver: `run` writes the files, or with `--check` exits 1 if the files on disk differ from what
  the generator produces, or if validation fails.
- Flow-style helpers, used by code.py, general.py, mathematics.py, science.py and safety.py:
  `yaml_block` (a YAML emitter that writes plain lists in flow style), `check_rows` (asserts on
  split sizes, template fields, choices and repeats), `dataset_files` (one dataset's four files)
  and `emit` (writes the files, or with `--check` returns 1 and lists the ones that differ).
- Multiple choice: `mc_manifest` (the manifest every multiple-choice dataset here shares:
  `{{ choices }}` and `{{ gold }}`, 3-shot from a `fewshot` split) and `mc_rows` (shuffles each
  question's choices with the generator's seeded rng).

Standard library only (Python 3.11).
"""

import argparse
import json
import re
import sys
from pathlib import Path

DATASETS = Path(__file__).resolve().parents[1]
RAW_RS = DATASETS.parent / "orchestrator" / "src" / "catalog" / "raw.rs"

# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        # A JSON string is a valid YAML double-quoted scalar.
        return json.dumps(v, ensure_ascii=False)
    if v == [] or v == {}:
        return json.dumps(v)
    raise TypeError(f"unsupported YAML value {v!r}")


def yaml_lines(obj, indent):
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:")
                out += yaml_lines(v, indent + 1)
            else:
                out.append(f"{pad}{k}: {yaml_scalar(v)}")
    else:
        for item in obj:
            if isinstance(item, dict) and item:
                sub = yaml_lines(item, indent + 1)
                sub[0] = f"{pad}- {sub[0].lstrip()}"
                out += sub
            else:
                out.append(f"{pad}- {yaml_scalar(item)}")
    return out


def to_yaml(obj):
    return "\n".join(yaml_lines(obj, 0)) + "\n"


def to_jsonl(rows):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

# Metric name -> options allowed beside `metric`, `aggregation` and `higher_is_better`.
METRICS = {
    "acc": set(), "acc_norm": set(), "f1": set(), "span_f1": set(), "refusal_rate": set(),
    "exact_match": {"ignore_case", "ignore_punctuation", "regexes_to_ignore"},
    "numeric_match": {"tolerance", "abs_tolerance"},
    "distance_accuracy": {"threshold_km"},
    "pass_at_k": {"k"},
}
FILTERS = {"regex": {"regex_pattern", "group_select"}, "take_first": set(), "lowercase": set(),
           "strip": set(), "remove_whitespace": set()}
OUTPUT_TYPES = {"multiple_choice", "generate_until", "loglikelihood"}


def struct_fields(source, struct):
    """Field name -> whether it is required (not `Option<..>`), read from a Rust struct."""
    m = re.search(r"pub struct " + struct + r" \{(.*?)\n\}", source, re.S)
    if not m:
        raise ValueError(f"{RAW_RS}: struct {struct} not found")
    return {name: not ty.startswith("Option<") for name, ty in re.findall(r"pub (\w+): ([^,\n]+),", m.group(1))}


def load_schema():
    """(manifest fields, generation_kwargs fields, filter pipeline fields) from raw.rs."""
    source = RAW_RS.read_text(encoding="utf-8")
    return (struct_fields(source, "RawDatasetManifest"), struct_fields(source, "RawGenerationKwargs"),
            struct_fields(source, "RawFilterPipeline"))


def template_vars(template):
    return set(re.findall(r"\{\{\s*([A-Za-z_]\w*)", template))


def manifest_problems(name, man, schema):
    where = f"{name}/manifest.yaml"
    manifest_fields, kwargs_fields, pipeline_fields = schema
    problems = [f"{where}: `{k}` is not a manifest field of raw.rs" for k in man if k not in manifest_fields]
    problems += [f"{where}: required field `{k}` missing" for k, req in manifest_fields.items() if req and k not in man]
    if man.get("task") != name:
        problems.append(f"{where}: task `{man.get('task')}` differs from the directory name")
    if man.get("output_type") not in OUTPUT_TYPES:
        problems.append(f"{where}: output_type `{man.get('output_type')}` unknown")
    problems += [f"{where}: generation_kwargs.{k} is not a field of raw.rs"
                 for k in man.get("generation_kwargs", {}) if k not in kwargs_fields]
    for m in man.get("metric_list", []):
        allowed = METRICS.get(m["metric"])
        if allowed is None:
            problems.append(f"{where}: metric `{m['metric']}` unknown")
        elif set(m) - {"metric", "aggregation", "higher_is_better"} - allowed:
            problems.append(f"{where}: metric `{m['metric']}` has unknown options")
    for pipe in man.get("filter_list", []):
        problems += [f"{where}: filter pipeline key `{k}` is not a field of raw.rs" for k in pipe if k not in pipeline_fields]
        for step in pipe.get("filter", []):
            allowed = FILTERS.get(step["function"])
            if allowed is None:
                problems.append(f"{where}: filter function `{step['function']}` unknown")
            elif set(step) - {"function"} - allowed:
                problems.append(f"{where}: filter `{step['function']}` has unknown options")
            if step["function"] == "regex":
                try:
                    re.compile(step["regex_pattern"])
                except re.error as e:
                    problems.append(f"{where}: regex_pattern does not compile: {e}")
    return problems


def rows_problems(name, man, test, fewshot, row_check=None, min_test=50, fewshot_range=(3, 5)):
    """Problems with a dataset's rows; `row_check(row)` returns extra messages for one row."""
    problems = []
    if len(test) < min_test:
        problems.append(f"{name}: only {len(test)} test rows (need at least {min_test})")
    if not fewshot_range[0] <= len(fewshot) <= fewshot_range[1]:
        problems.append(f"{name}: {len(fewshot)} few-shot rows (need {fewshot_range[0]} to {fewshot_range[1]})")
    if man.get("num_fewshot", 0) > len(fewshot):
        problems.append(f"{name}: num_fewshot exceeds the few-shot rows")
    needed = template_vars(man.get("doc_to_text", "")) | template_vars(man.get("doc_to_target", ""))
    if isinstance(man.get("doc_to_choice"), str):
        needed |= template_vars(man["doc_to_choice"])
    for split, rows in (("test", test), ("fewshot", fewshot)):
        for line, row in enumerate(rows, start=1):
            where = f"{name}/{man.get('data_files', {}).get(split, split)}:{line}"
            missing = needed - set(row)
            if missing:
                problems.append(f"{where}: fields {sorted(missing)} used by the templates are missing")
                continue
            if man.get("output_type") == "multiple_choice":
                choices, gold = row["choices"], row["answer"]
                if not (isinstance(choices, list) and 2 <= len(choices) <= 8
                        and all(isinstance(c, str) and c for c in choices)):
                    problems.append(f"{where}: choices must be 2 to 8 non-empty strings")
                    continue
                if len(set(choices)) != len(choices):
                    problems.append(f"{where}: duplicate choices")
                if not (isinstance(gold, int) and not isinstance(gold, bool) and 0 <= gold < len(choices)):
                    problems.append(f"{where}: gold index {gold!r} out of range for {len(choices)} choices")
            elif not (isinstance(row["answer"], str) and row["answer"].strip()):
                problems.append(f"{where}: empty answer")
            if row_check:
                problems += [f"{where}: {p}" for p in row_check(row)]
    # A few-shot example must not also be a test item (same inputs, whatever its choice order).
    def inputs(r):
        return json.dumps({k: v for k, v in r.items() if k not in ("choices", "answer")}, sort_keys=True)
    test_inputs = {inputs(r) for r in test}
    problems += [f"{name}: a few-shot row also appears in the test split" for r in fewshot if inputs(r) in test_inputs]
    return problems


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def run(prog, description, files, problems, owned_dirs):
    """Writes `files` ({path under datasets/: text}) or, with --check, compares them with disk.

    `owned_dirs` are the dataset directories the generator owns: under --check, a file there
    that the generator does not produce is reported too. Returns the process exit status.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--check", action="store_true", help="verify the files on disk instead of writing them")
    args = parser.parse_args()
    problems = list(problems)
    problems += [f"{p}: line endings must be \\n with a final newline"
                 for p, t in files.items() if "\r" in t or not t.endswith("\n")]
    if args.check:
        for path, text in files.items():
            target = DATASETS / path
            if not target.is_file():
                problems.append(f"{path}: missing (run the generator)")
            elif target.read_bytes() != text.encode("utf-8"):
                problems.append(f"{path}: differs from the generator's output (run the generator)")
        for name in owned_dirs:
            folder = DATASETS / name
            if folder.is_dir():
                problems += [f"{name}/{p.name}: not produced by the generator"
                             for p in sorted(folder.iterdir()) if f"{name}/{p.name}" not in files]
    if problems:
        for p in problems:
            print(f"{prog}: {p}", file=sys.stderr)
        return 1
    if args.check:
        print(f"{prog}: {len(files)} files up to date")
        return 0
    for path, text in files.items():
        target = DATASETS / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    print(f"{prog}: wrote {len(files)} files")
    return 0


# --------------------------------------------------------------------------------------------
# Flow-style helpers (code.py, general.py, mathematics.py, science.py, safety.py)
# --------------------------------------------------------------------------------------------


def block_scalar(v):
    """A scalar for `yaml_block`: floats in exponent form are written out in fixed point."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return format(v, ".12f").rstrip("0").rstrip(".") if "e" in repr(v) else repr(v)
    if isinstance(v, int):
        return repr(v)
    return json.dumps(v, ensure_ascii=False)


def yaml_block(obj, indent=0):
    """A small YAML emitter: mappings and lists of mappings as blocks, other lists in flow
    style, strings as JSON (a JSON string is a valid YAML double-quoted scalar)."""
    pad = " " * indent
    out = []
    for key, value in obj.items():
        if isinstance(value, dict):
            out.append(f"{pad}{key}:\n" + yaml_block(value, indent + 2))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            out.append(f"{pad}{key}:\n")
            for item in value:
                body = yaml_block(item, indent + 4)
                out.append(f"{pad}  - " + body[indent + 4:])
        elif isinstance(value, list):
            out.append(f"{pad}{key}: [" + ", ".join(block_scalar(x) for x in value) + "]\n")
        else:
            out.append(f"{pad}{key}: {block_scalar(value)}\n")
    return "".join(out)


FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)")


def check_rows(name, manifest, test, fewshot, min_items):
    templates = [manifest["doc_to_text"], manifest["doc_to_target"]]
    if isinstance(manifest.get("doc_to_choice"), str):
        templates.append(manifest["doc_to_choice"])
    fields = {m for t in templates for m in FIELD.findall(t)}
    assert len(test) >= min_items, f"{name}: {len(test)} test items < {min_items}"
    assert 3 <= len(fewshot) <= 5, f"{name}: {len(fewshot)} few-shot items"
    for split, rows in (("test", test), ("fewshot", fewshot)):
        for i, row in enumerate(rows):
            missing = fields - row.keys()
            assert not missing, f"{name}/{split}[{i}]: missing fields {missing}"
            if manifest["output_type"] == "multiple_choice":
                choices = row["choices"]
                assert 2 <= len(choices) <= 10, f"{name}/{split}[{i}]: {len(choices)} choices"
                assert len(set(choices)) == len(choices), f"{name}/{split}[{i}]: repeated choice"
                assert isinstance(row["gold"], int) and 0 <= row["gold"] < len(choices)
    key = lambda r: json.dumps({k: v for k, v in r.items() if k != "task_id"}, sort_keys=True)
    keys = [key(r) for r in test]
    assert len(set(keys)) == len(keys), f"{name}: duplicate test items"
    assert not set(keys) & {key(r) for r in fewshot}, f"{name}: few-shot item in test"
    # The same question may be asked of different items (with a different answer); what may
    # not repeat is a question together with its answer.
    def text_key(r):
        answer = r["choices"][r["gold"]] if "gold" in r else None
        return json.dumps([r.get(k) for k in ("prompt", "question", "code", "passage")] + [answer])

    test_keys = [text_key(r) for r in test]
    assert len(set(test_keys)) == len(test_keys), f"{name}: repeated question in test"
    assert not set(test_keys) & {text_key(r) for r in fewshot}, f"{name}: few-shot question in test"


def dataset_files(name, manifest, test, fewshot, card, min_items=50):
    check_rows(name, manifest, test, fewshot, min_items)
    return {
        f"{name}/manifest.yaml": yaml_block(manifest),
        f"{name}/test.jsonl": to_jsonl(test),
        f"{name}/fewshot.jsonl": to_jsonl(fewshot),
        f"{name}/README.md": card,
    }


def emit(files, check):
    differ = []
    for rel, text in sorted(files.items()):
        path = DATASETS / rel
        data = text.encode("utf-8")
        if check:
            if not path.exists() or path.read_bytes() != data:
                differ.append(rel)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    if check:
        for rel in differ:
            print(f"differs: datasets/{rel}", file=sys.stderr)
        return 1 if differ else 0
    return 0


# --------------------------------------------------------------------------------------------
# Multiple choice
# --------------------------------------------------------------------------------------------


def mc_manifest(task, description, doc_to_text, metrics):
    manifest = {
        "task": task,
        "description": description,
        "data_files": {"test": "test.jsonl", "fewshot": "fewshot.jsonl"},
        "test_split": "test",
        "fewshot_split": "fewshot",
        "output_type": "multiple_choice",
        "doc_to_text": doc_to_text,
        "doc_to_target": "{{ gold }}",
        "doc_to_choice": "{{ choices }}",
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "num_fewshot": 3,
        "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in metrics],
        "version": "1.0",
    }
    if not description:
        del manifest["description"]
    return manifest


def mc_rows(rng, items):
    """items: (question, right, [wrong...]) -> rows with the choices shuffled."""
    rows = []
    for question, right, wrong in items:
        choices = [right] + list(wrong)
        rng.shuffle(choices)
        rows.append({"question": question, "choices": choices, "gold": choices.index(right)})
    return rows
