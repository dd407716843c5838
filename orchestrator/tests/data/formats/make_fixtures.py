"""Writes the small data files under this directory, in the HumanEval, GSM8K and MMLU layouts.

Their content is made up for tests. JSONL, JSON and CSV files need only the standard library;
the Parquet files need pyarrow (`pip install pyarrow`). Run from anywhere:
`python3 orchestrator/tests/data/formats/make_fixtures.py`.
"""

import csv
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

HUMANEVAL = [
    {
        "task_id": "Fixture/0",
        "prompt": 'def double(x: int) -> int:\n    """Return twice x.\n\n    >>> double(3)\n    6\n    """\n',
        "canonical_solution": "    return 2 * x\n",
        "test": "def check(candidate):\n    assert candidate(3) == 6\n    assert candidate(-1) == -2\n",
        "entry_point": "double",
    },
    {
        "task_id": "Fixture/1",
        "prompt": 'def first_word(s: str) -> str:\n    """Return the first word of s, or an empty string.\n\n    >>> first_word("red fox")\n    \'red\'\n    """\n',
        "canonical_solution": "    parts = s.split()\n    return parts[0] if parts else ''\n",
        "test": "def check(candidate):\n    assert candidate('red fox') == 'red'\n    assert candidate('') == ''\n",
        "entry_point": "first_word",
    },
]

GSM8K = [
    {
        "question": "A baker fills 4 trays with 6 rolls each. How many rolls are there?",
        "answer": "Each tray has 6 rolls, so 4 * 6 = <<4*6=24>>24 rolls.\n#### 24",
    },
    {
        "question": "Mia has 15 stickers and gives away 7. How many does she keep?",
        "answer": "She keeps 15 - 7 = <<15-7=8>>8 stickers.\n#### 8",
    },
    {
        "question": "A rope of 1,200 cm is cut into 3 equal pieces. How long is each piece in cm?",
        "answer": "1200 / 3 = <<1200/3=400>>400 cm.\n#### 400",
    },
]

MMLU = [
    {
        "question": "Which planet in this made-up list is closest to the fictional star Vela?",
        "subject": "astronomy",
        "choices": ["Orin", "Tamsk", "Lyre", "Pell"],
        "answer": 2,
    },
    {
        "question": "In the example language Zib, what does 'ka' mean?",
        "subject": "astronomy",
        "choices": ["water", "stone", "light", "wind"],
        "answer": 0,
    },
]

# Original MMLU CSV layout: no header; question, A, B, C, D, answer letter.
MMLU_CSV = [
    ["Which river in this invented atlas flows north?", "Amber", "Slate", "Cobalt", "Fern", "D"],
    ["Which town, in the same atlas, sits on an island?", "Port Iva", "Dunmore", "Hale", "Rusk", "A"],
    ["What is the capital of the invented country Norland?", "Eskel", "Varn", "Tull", "Oder", "B"],
]


def write_jsonl(name, rows):
    with open(os.path.join(HERE, name), "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_csv(name, rows, header=None):
    with open(os.path.join(HERE, name), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        if header:
            w.writerow(header)
        w.writerows(rows)


def write_parquet(name, rows, compression="snappy"):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows)
    pq.write_table(table, os.path.join(HERE, name), compression=compression)


def main():
    write_jsonl("humaneval.jsonl", HUMANEVAL)
    write_jsonl("gsm8k.jsonl", GSM8K)
    with open(os.path.join(HERE, "gsm8k.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(GSM8K, f, ensure_ascii=False, indent=1)
        f.write("\n")
    write_csv("gsm8k.csv", [[r["question"], r["answer"]] for r in GSM8K], ["question", "answer"])
    write_csv("astronomy_test.csv", MMLU_CSV)
    write_csv("astronomy_dev.csv", MMLU_CSV[:2])
    # Bad inputs.
    write_csv(
        "ragged.csv",
        [[GSM8K[0]["question"], GSM8K[0]["answer"]], ["only one field"], [GSM8K[1]["question"], GSM8K[1]["answer"]]],
        ["question", "answer"],
    )
    open(os.path.join(HERE, "empty.csv"), "w").close()
    write_csv("mmlu_out_of_range.csv", MMLU_CSV[:1] + [["Which one?", "a", "b", "c", "d", "F"]])
    write_jsonl(
        "gsm8k_no_final_answer.jsonl",
        GSM8K[:1] + [{"question": "How many?", "answer": "Three, because it is."}],
    )
    write_parquet("humaneval.parquet", HUMANEVAL)
    write_parquet("gsm8k.parquet", GSM8K, compression="gzip")
    write_parquet("mmlu.parquet", MMLU)
    write_parquet("mmlu_out_of_range.parquet", MMLU[:1] + [dict(MMLU[1], answer=7)])
    write_parquet("unexpected_schema.parquet", [{"prompt_text": "a", "label": 1}])
    write_parquet("zstd.parquet", GSM8K[:1], compression="zstd")


if __name__ == "__main__":
    main()
