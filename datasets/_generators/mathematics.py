#!/usr/bin/env python3
"""Generates the mathematics datasets: arithmetic_word_problems, algebra_multiple_choice.

Every item is filled from templates with seeded random numbers, and every answer is computed
here with exact decimal arithmetic; nothing is copied from an existing benchmark.

Usage: python3 datasets/_generators/mathematics.py          (rewrite the files)
       python3 datasets/_generators/mathematics.py --check  (exit 1 if the files on disk differ)
"""

import random
import sys
from decimal import Decimal

from common import dataset_files, emit, mc_manifest

SEED = 20261124


def num(d):
    """A plain decimal string without exponent or trailing zeros: 12.50 -> '12.5'."""
    d = Decimal(d)
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def money(cents):
    return f"${cents // 100}.{cents % 100:02d}"


# ---------------------------------------------------------------- arithmetic_word_problems

NAMES = ["Maya", "Tom", "Aisha", "Lucas", "Mei", "Omar", "Sofia", "Ravi", "Elena", "Jonas",
         "Priya", "Kofi", "Hana", "Diego", "Nora", "Ivan", "Lena", "Samir", "Yuki", "Ben"]


def word_problem(rng, kind):
    r = rng.randint
    name = rng.choice(NAMES)
    if kind == 0:
        n, each, pen = r(3, 12), r(105, 495), r(80, 350)
        total = n * each + pen
        q = (f"{name} buys {n} notebooks at {money(each)} each and one pen for {money(pen)}. "
             f"How many dollars does {name} spend in total?")
        return q, num(Decimal(total) / 100)
    if kind == 1:
        box, boxes, extra = r(4, 12), r(5, 30), 0
        extra = r(1, box - 1)
        muffins = box * boxes + extra
        q = (f"A bakery makes {muffins} muffins and packs them into boxes of {box}. "
             f"How many muffins are left over after filling as many full boxes as possible?")
        return q, num(extra)
    if kind == 2:
        speed, half_hours = r(40, 120), r(3, 11)
        hours = Decimal(half_hours) / 2
        q = f"A train travels at a steady {speed} km/h for {num(hours)} hours. How many kilometres does it travel?"
        return q, num(speed * hours)
    if kind == 3:
        a, gap, later = r(8, 40), r(2, 7), r(3, 15)
        q = (f"{name} is {a} years old and {name}'s cousin is {gap} years younger. "
             f"What will the sum of their ages be in {later} years?")
        return q, num(a + (a - gap) + 2 * later)
    if kind == 4:
        price, off = r(20, 240), rng.choice([5, 10, 15, 20, 25, 30, 35, 40, 45, 50])
        q = f"A jacket costs ${price}. It is on sale for {off}% off. What is the sale price in dollars?"
        return q, num(Decimal(price) * (100 - off) / 100)
    if kind == 5:
        length, width = r(4, 40), r(3, 30)
        q = (f"A rectangular garden is {length} metres long and {width} metres wide. "
             f"How many metres of fence are needed to go all the way around it?")
        return q, num(2 * (length + width))
    if kind == 6:
        weekly, weeks, spent = r(5, 40), r(4, 20), 0
        spent = r(1, weekly * weeks - 1)
        q = (f"{name} saves ${weekly} every week for {weeks} weeks and then spends ${spent} on a bicycle. "
             f"How many dollars does {name} have left?")
        return q, num(weekly * weeks - spent)
    if kind == 7:
        noon, drop = r(-5, 18), r(6, 25)
        q = (f"At noon the temperature was {noon} degrees Celsius. By midnight it had dropped by {drop} degrees. "
             f"What was the temperature at midnight, in degrees Celsius?")
        return q, num(noon - drop)
    if kind == 8:
        scores = [r(55, 100) for _ in range(4)]
        q = (f"{name} scored {scores[0]}, {scores[1]}, {scores[2]} and {scores[3]} on four tests. "
             f"What is the mean score?")
        return q, num(Decimal(sum(scores)) / 4)
    if kind == 9:
        per_kg, kg_a, kg_b = r(120, 650), r(2, 6), r(3, 9)
        q = (f"{kg_a} kg of apples cost {money(per_kg * kg_a)}. At the same price per kilogram, "
             f"how many dollars do {kg_b} kg cost?")
        return q, num(Decimal(per_kg * kg_b) / 100)
    if kind == 10:
        rate, hours, days = rng.choice([1250, 1475, 1550, 1800, 2025, 2250, 2475]), r(4, 8), r(3, 6)
        q = (f"{name} earns {money(rate)} per hour and works {hours} hours a day for {days} days. "
             f"How many dollars does {name} earn?")
        return q, num(Decimal(rate * hours * days) / 100)
    if kind == 11:
        per100, km = rng.choice([Decimal("4.5"), Decimal("5.2"), Decimal("6"), Decimal("6.8"), Decimal("7.5"), Decimal("8")]), r(2, 9) * 50
        q = f"A car uses {num(per100)} litres of fuel per 100 km. How many litres does it use to drive {km} km?"
        return q, num(per100 * km / 100)
    if kind == 12:
        classes, size, absent = r(4, 12), r(18, 32), r(3, 20)
        q = (f"A school has {classes} classes of {size} students each. On Monday {absent} students are absent. "
             f"How many students are present?")
        return q, num(classes * size - absent)
    if kind == 13:
        quarters = r(10, 90)
        cap = quarters * 4
        q = f"A water tank holds {cap} litres and is three quarters full. How many more litres are needed to fill it?"
        return q, num(quarters)
    if kind == 14:
        pages, per_day, done = r(180, 600), r(15, 45), r(2, 5)
        read = per_day * done
        q = (f"A book has {pages} pages. {name} reads {per_day} pages a day for {done} days. "
             f"How many pages are still unread?")
        return q, num(pages - read)
    if kind == 15:
        start_h, start_m, minutes = r(1, 9), rng.choice([0, 10, 15, 20, 30, 40, 45, 50]), r(70, 190)
        q = (f"A film starts at {start_h}:{start_m:02d} pm and lasts {minutes} minutes. "
             f"How many minutes after {start_h}:00 pm does it end?")
        return q, num(start_m + minutes)
    if kind == 16:
        price, qty, paid = r(35, 240), r(2, 5), 0
        total = price * qty
        paid = (total // 1000 + 1) * 1000 + rng.choice([0, 1000])
        q = (f"{name} buys {qty} sandwiches at {money(price * 10)} each and pays with {money(paid * 10)}. "
             f"How many dollars of change does {name} get?")
        return q, num(Decimal((paid - total) * 10) / 100)
    a, b = r(12, 60), r(2, 9)
    q = f"There are {a} chairs in each row of a hall with {b} rows, and {b * 3} chairs are removed. How many chairs remain?"
    return q, num(a * b - b * 3)


N_WORD_KINDS = 18


def arithmetic_word_problems():
    rng = random.Random(SEED)
    rows, seen = [], set()
    kind = 0
    while len(rows) < 76:
        question, answer = word_problem(rng, kind % N_WORD_KINDS)
        kind += 1
        if question in seen:
            continue
        seen.add(question)
        Decimal(answer)  # the answer parses as a number
        rows.append({"question": question, "answer": answer})
    fewshot, test = rows[:4], rows[4:]
    manifest = {
        "task": "arithmetic_word_problems",
        "data_files": {"test": "test.jsonl", "fewshot": "fewshot.jsonl"},
        "test_split": "test",
        "fewshot_split": "fewshot",
        "output_type": "generate_until",
        "doc_to_text": "Question: {{ question }}\nWork it out step by step, then finish with \"The answer is N.\" where N is a plain number without units.\nAnswer:",
        "doc_to_target": "{{ answer }}",
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "num_fewshot": 0,
        "generation_kwargs": {"until": ["\nQuestion:", "\n\n\n"], "max_gen_toks": 320, "do_sample": False, "temperature": 0.0},
        "metric_list": [{"metric": "numeric_match", "tolerance": 1e-6, "abs_tolerance": 0.005,
                         "aggregation": "mean", "higher_is_better": True}],
        "filter_list": [
            {"name": "strict-match", "filter": [
                {"function": "regex", "regex_pattern": "The answer is \\$?(-?[0-9][0-9,]*(?:\\.[0-9]+)?)", "group_select": 0},
                {"function": "take_first"}]},
            {"name": "flexible-extract", "filter": [
                {"function": "regex", "regex_pattern": "(-?[0-9][0-9,]*(?:\\.[0-9]+)?)", "group_select": -1},
                {"function": "take_first"}]},
        ],
        "version": "1.0",
    }
    n_dec = sum(1 for r in test if "." in r["answer"])
    n_neg = sum(1 for r in test if r["answer"].startswith("-"))
    card = f"""# arithmetic_word_problems

Measures multi-step arithmetic in everyday settings (shopping totals and change, discounts, speed and distance, averages, fuel use, remainders, ages, temperatures, time): the model works the problem out and ends with "The answer is N.", and the number is compared with the exact answer (`numeric_match`, relative tolerance 1e-6 or an absolute tolerance of 0.005, so a cent-exact answer is required). There are {len(test)} test items ({len(test) - n_dec} with integer answers, {n_dec} with decimal answers, {n_neg} negative) and {len(fewshot)} few-shot items, made by `datasets/_generators/mathematics.py` from {N_WORD_KINDS} templates filled with seeded random names and numbers; every answer is computed with exact decimal arithmetic and written as a plain decimal (no thousands separators, no trailing zeros). Two filter pipelines are reported: `strict-match` takes the number after the first "The answer is", and `flexible-extract` takes the last number in the reply, for models that ignore the requested format. Known limits: the templates are simple and repeat with different numbers, so the set tests careful arithmetic rather than problem understanding; the few-shot targets are bare numbers (there are no worked solutions), so few-shot prompting shows the answer format only; and a reply that states a correct amount with a trailing unit inside the number (for example "12.5kg") is still parsed correctly, but one that writes it in words is not.
"""
    return dataset_files("arithmetic_word_problems", manifest, test, fewshot, card)


# ---------------------------------------------------------------- algebra_multiple_choice


def lin(a, b, var="x"):
    """Render a*x + b as text: 3x + 5, -x - 2, 4x, 7."""
    parts = []
    if a:
        coef = {1: "", -1: "-"}.get(a, str(a))
        parts.append(f"{coef}{var}")
    if b or not parts:
        if parts:
            parts.append(f"+ {b}" if b > 0 else f"- {-b}")
        else:
            parts.append(str(b))
    return " ".join(parts)


def algebra_item(rng, kind):
    r = rng.randint
    nz = lambda lo, hi: rng.choice([v for v in range(lo, hi + 1) if v not in (0, 1, -1)])
    if kind == 0:
        a, x, b = nz(-9, 9), r(-12, 12), r(-20, 20)
        c = a * x + b
        q = f"Solve for x: {lin(a, b)} = {c}"
        wrong = [(c + b) / a, c - b, -x, x + 1, x - 1, (c - b) * a, x + 2]
        return q, str(x), [str(int(w)) for w in wrong if w == int(w)]
    if kind == 1:
        a, x, b = nz(2, 8), r(-10, 10), r(-9, 9)
        c = a * (x + b)
        q = f"Solve for x: {a}(x {'+' if b >= 0 else '-'} {abs(b)}) = {c}"
        wrong = [c / a + b, c - b, c // a if c % a == 0 else x + 3, x + 1, -x, x - 2]
        return q, str(x), [str(int(w)) for w in wrong if w == int(w)]
    if kind == 2:
        k, m, n = nz(2, 7), r(-9, 9), r(1, 6)
        while k - n == 0 or m == 0:
            k, m, n = nz(2, 7), r(-9, 9), r(1, 6)
        q = f"Simplify: {k}({lin(1, m)}) - {lin(n, 0)}"
        right = lin(k - n, k * m)
        wrong = [lin(k - n, m), lin(k + n, k * m), lin(k - n, k + m), lin(k, k * m - n), lin(k - n, -k * m)]
        return q, right, wrong
    if kind == 3:
        a, b, c, x = nz(2, 4), r(-6, 6), r(-9, 9), r(-4, 5)
        value = a * x * x + b * x + c
        poly = f"{a}x^2"
        if b:
            poly += f" {'+' if b > 0 else '-'} {'' if abs(b) == 1 else abs(b)}x"
        if c:
            poly += f" {'+' if c > 0 else '-'} {abs(c)}"
        q = f"If x = {x}, what is the value of {poly}?"
        wrong = [a * x * 2 + b * x + c, (a * x) ** 2 + b * x + c, a * x * x - b * x + c, a * x * x + b * x - c, value + 1]
        return q, str(value), [str(w) for w in wrong]
    if kind == 4:
        x = r(-8, 8)
        a, c = nz(2, 9), nz(-6, 9)
        while a == c:
            c = nz(-6, 9)
        b = r(-15, 15)
        d = (a - c) * x + b
        q = f"Solve for x: {lin(a, b)} = {lin(c, d)}"
        wrong = [-x, x + 1, x - 1, (d - b) // (a + c) if (a + c) and (d - b) % (a + c) == 0 else x + 2, d - b]
        return q, str(x), [str(w) for w in wrong]
    if kind == 5:
        x, y = r(-9, 12), r(-9, 12)
        s, d = x + y, x - y
        q = f"If x + y = {s} and x - y = {d}, what is x?"
        wrong = [y, s + d, s - d, x + 1, -x]
        return q, str(x), [str(w) for w in wrong]
    # kind 6: distributing a negative
    k, m, n = nz(2, 6), r(1, 9), r(-9, 9)
    while n == 0:
        n = r(-9, 9)
    q = f"Simplify: {n} - {k}(x - {m})"
    right = lin(-k, n + k * m)
    wrong = [lin(-k, n - k * m), lin(k, n + k * m), lin(-k, n - m), lin(-k, n + m), lin(k, n - k * m)]
    return q, right, wrong


N_ALGEBRA_KINDS = 7


def algebra_multiple_choice():
    rng = random.Random(SEED + 1)
    rows, seen = [], set()
    kind = 0
    while len(rows) < 69:
        question, right, wrong = algebra_item(rng, kind % N_ALGEBRA_KINDS)
        kind += 1
        if question in seen:
            continue
        n_choices = 4 + (len(rows) % 2)
        distractors = []
        for w in wrong:
            if w != right and w not in distractors:
                distractors.append(w)
        bump = 2
        while len(distractors) < n_choices - 1:
            # Pad with nearby integers (or shifted constants) that are not the answer.
            try:
                cand = str(int(right) + bump)
            except ValueError:
                cand = right + f" + {bump}"
            if cand != right and cand not in distractors:
                distractors.append(cand)
            bump = -bump if bump > 0 else -bump + 1
        seen.add(question)
        choices = [right] + distractors[: n_choices - 1]
        rng.shuffle(choices)
        rows.append({"question": question, "choices": choices, "gold": choices.index(right)})
    fewshot, test = rows[:4], rows[4:]
    manifest = mc_manifest(
        "algebra_multiple_choice",
        'The following are multiple-choice questions about elementary algebra.\n\n',
        'Question: {{ question }}\nAnswer:',
        ['acc'],
    )
    counts = sorted({len(r["choices"]) for r in test})
    card = f"""# algebra_multiple_choice

Measures elementary algebra: solving linear equations (`ax + b = c`, `a(x + b) = c`, unknowns on both sides), a two-equation system, evaluating a quadratic at a point, and simplifying expressions by distributing and collecting terms. Each of the {len(test)} test and {len(fewshot)} few-shot items has {counts[0]} to {counts[-1]} choices and is scored by which choice the model gives the highest log-likelihood (`acc`). `datasets/_generators/mathematics.py` draws the coefficients with a fixed seed, computes the answer exactly, and builds the wrong choices from typical mistakes (moving a term without changing its sign, forgetting to divide, squaring the coefficient, dropping a negative when distributing) before padding with nearby integers. Known limits: there are only seven question shapes, all with integer answers; the wrong choices come from a fixed list of mistakes, so a model may learn to spot them; and log-likelihood scoring of short numeric choices measures preference among the listed answers, not the ability to carry out the algebra in writing.
"""
    return dataset_files("algebra_multiple_choice", manifest, test, fewshot, card)


def main():
    check = "--check" in sys.argv[1:]
    files = {}
    files.update(arithmetic_word_problems())
    files.update(algebra_multiple_choice())
    return emit(files, check)


if __name__ == "__main__":
    sys.exit(main())
