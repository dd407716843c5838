#!/usr/bin/env python3
"""Generates the science datasets: science_facts and unit_conversion.

science_facts questions are built from small fact tables (elements, planets, units,
minerals, biology) written for this project; unit_conversion answers are computed with exact
decimal arithmetic from the defined conversion factors.

Usage: python3 datasets/_generators/science.py          (rewrite the files)
       python3 datasets/_generators/science.py --check  (exit 1 if the files on disk differ)
"""

import random
import sys
from decimal import ROUND_HALF_UP, Decimal

from common import dataset_files, emit, mc_manifest

SEED = 20261125

# ---------------------------------------------------------------- science_facts

# (symbol, name, atomic number, family)
ELEMENTS = [
    ("H", "hydrogen", 1, "nonmetal"), ("He", "helium", 2, "noble gas"), ("Li", "lithium", 3, "alkali metal"),
    ("Be", "beryllium", 4, "alkaline earth metal"), ("B", "boron", 5, "metalloid"), ("C", "carbon", 6, "nonmetal"),
    ("N", "nitrogen", 7, "nonmetal"), ("O", "oxygen", 8, "nonmetal"), ("F", "fluorine", 9, "halogen"),
    ("Ne", "neon", 10, "noble gas"), ("Na", "sodium", 11, "alkali metal"), ("Mg", "magnesium", 12, "alkaline earth metal"),
    ("Al", "aluminium", 13, "post-transition metal"), ("Si", "silicon", 14, "metalloid"), ("P", "phosphorus", 15, "nonmetal"),
    ("S", "sulfur", 16, "nonmetal"), ("Cl", "chlorine", 17, "halogen"), ("Ar", "argon", 18, "noble gas"),
    ("K", "potassium", 19, "alkali metal"), ("Ca", "calcium", 20, "alkaline earth metal"), ("Ti", "titanium", 22, "transition metal"),
    ("Cr", "chromium", 24, "transition metal"), ("Mn", "manganese", 25, "transition metal"), ("Fe", "iron", 26, "transition metal"),
    ("Co", "cobalt", 27, "transition metal"), ("Ni", "nickel", 28, "transition metal"), ("Cu", "copper", 29, "transition metal"),
    ("Zn", "zinc", 30, "transition metal"), ("Ge", "germanium", 32, "metalloid"), ("As", "arsenic", 33, "metalloid"),
    ("Br", "bromine", 35, "halogen"), ("Kr", "krypton", 36, "noble gas"), ("Rb", "rubidium", 37, "alkali metal"),
    ("Sr", "strontium", 38, "alkaline earth metal"), ("Ag", "silver", 47, "transition metal"), ("Sn", "tin", 50, "post-transition metal"),
    ("I", "iodine", 53, "halogen"), ("Xe", "xenon", 54, "noble gas"), ("Cs", "caesium", 55, "alkali metal"),
    ("Ba", "barium", 56, "alkaline earth metal"), ("W", "tungsten", 74, "transition metal"), ("Pt", "platinum", 78, "transition metal"),
    ("Au", "gold", 79, "transition metal"), ("Hg", "mercury", 80, "transition metal"), ("Pb", "lead", 82, "post-transition metal"),
    ("Rn", "radon", 86, "noble gas"), ("U", "uranium", 92, "actinide"),
]
# Liquid at 20 degrees Celsius: mercury and bromine. Caesium, rubidium and gallium melt just
# above room temperature, so they are kept out of that question's wrong answers.
LIQUID_AT_ROOM_TEMPERATURE = {"mercury", "bromine"}
NEAR_ROOM_MELTING = {"caesium", "rubidium"}

PLANETS = ["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"]
PLANET_QUESTIONS = [
    ("Which planet is the largest in the Solar System?", "Jupiter"),
    ("Which planet is closest to the Sun?", "Mercury"),
    ("Which planet is farthest from the Sun?", "Neptune"),
    ("Which planet has the hottest average surface temperature?", "Venus"),
    ("Which planet is often called the Red Planet?", "Mars"),
    ("Which planet's axis is tilted so far (about 98 degrees) that it rotates on its side?", "Uranus"),
    ("Which planet is the smallest in the Solar System?", "Mercury"),
    ("Which planet is third from the Sun?", "Earth"),
    ("Which planet is sixth from the Sun?", "Saturn"),
    ("Which planet has the lowest average density, lower than that of water?", "Saturn"),
]

SI_BASE = ["metre", "kilogram", "second", "ampere", "kelvin", "mole", "candela"]
SI_DERIVED = {"force": "newton", "energy": "joule", "power": "watt", "pressure": "pascal", "electric charge": "coulomb",
              "frequency": "hertz", "electrical resistance": "ohm", "electric potential difference": "volt",
              "magnetic flux density": "tesla", "capacitance": "farad"}
NOT_SI = ["litre", "calorie", "mile", "pound", "degree Fahrenheit", "horsepower", "foot", "gallon"]

MAMMALS = ["dolphin", "bat", "blue whale", "platypus", "elephant", "kangaroo"]
NOT_MAMMALS = ["shark", "penguin", "crocodile", "salmon", "frog", "eagle", "octopus", "lizard", "sea turtle",
               "ostrich", "butterfly", "snake", "tuna", "chicken"]

FORMULAS = [("water", "H2O"), ("table salt (sodium chloride)", "NaCl"), ("carbon dioxide", "CO2"), ("methane", "CH4"),
            ("ammonia", "NH3"), ("ozone", "O3"), ("hydrogen peroxide", "H2O2"), ("glucose", "C6H12O6"),
            ("sulfuric acid", "H2SO4"), ("calcium carbonate", "CaCO3"), ("carbon monoxide", "CO"),
            ("sodium hydroxide", "NaOH"), ("hydrochloric acid (hydrogen chloride)", "HCl")]

# (question, right answer, wrong answers: as many as are known to be wrong)
SINGLE = [
    ("Which gas makes up the largest share of Earth's atmosphere?", "nitrogen",
     ["oxygen", "argon", "carbon dioxide", "hydrogen", "helium", "water vapour", "methane", "neon", "ozone"]),
    ("Which mineral is the hardest on the Mohs scale?", "diamond",
     ["quartz", "topaz", "corundum", "talc", "calcite", "gypsum", "fluorite", "orthoclase feldspar", "apatite"]),
    ("Which mineral is the softest on the Mohs scale?", "talc",
     ["quartz", "topaz", "corundum", "diamond", "calcite", "gypsum", "fluorite", "orthoclase feldspar", "apatite"]),
    ("In which part of a plant cell does photosynthesis take place?", "chloroplast",
     ["mitochondrion", "nucleus", "ribosome", "Golgi apparatus", "vacuole", "lysosome", "cell wall", "endoplasmic reticulum"]),
    ("Which organelle is the main site of aerobic respiration in a cell?", "mitochondrion",
     ["chloroplast", "nucleus", "ribosome", "Golgi apparatus", "vacuole", "lysosome", "cell wall", "endoplasmic reticulum"]),
    ("Which blood cells carry oxygen around the body?", "red blood cells",
     ["white blood cells", "platelets", "lymphocytes", "macrophages"]),
    ("Which subatomic particle has a negative electric charge?", "electron",
     ["proton", "neutron", "photon", "neutrino"]),
    ("Which subatomic particle has no electric charge and is found in the atomic nucleus?", "neutron",
     ["proton", "electron", "positron"]),
    ("What is the approximate speed of light in a vacuum?", "about 300,000 km/s",
     ["about 300 km/s", "about 3,000 km/s", "about 30,000 km/s", "about 3,000,000 km/s", "about 340 m/s"]),
    ("At standard sea-level pressure, at what temperature does pure water boil?", "100 °C",
     ["90 °C", "80 °C", "120 °C", "212 °C", "373 °C", "50 °C"]),
    ("At standard pressure, at what temperature does pure water freeze?", "0 °C",
     ["-10 °C", "4 °C", "32 °C", "-32 °C", "10 °C"]),
    ("What does DNA stand for?", "deoxyribonucleic acid",
     ["diribonucleic acid", "deoxyribose nitrogen acid", "dinitrogen amino acid", "double nucleic acid"]),
    ("Which vitamin does human skin make when exposed to sunlight?", "vitamin D",
     ["vitamin A", "vitamin B12", "vitamin C", "vitamin K", "vitamin E"]),
    ("Which force keeps the planets in orbit around the Sun?", "gravity",
     ["magnetism", "friction", "the strong nuclear force", "air resistance", "static electricity"]),
    ("How many chambers does the human heart have?", "four",
     ["two", "three", "five", "six", "eight"]),
    ("Which organ produces insulin in the human body?", "the pancreas",
     ["the liver", "the kidneys", "the stomach", "the spleen", "the gall bladder", "the heart", "the lungs"]),
    ("What is the pH of pure water at 25 °C?", "7",
     ["0", "1", "5", "9", "12", "14"]),
    ("What kind of charge does the nucleus of an atom carry?", "positive",
     ["negative", "none"]),
    ("Which of these is the largest organ of the human body by area?", "the skin",
     ["the brain", "the heart", "the stomach", "the pancreas", "the kidney"]),
    ("Which process do plants use to turn light, water and carbon dioxide into sugar?", "photosynthesis",
     ["respiration", "fermentation", "transpiration", "digestion", "osmosis"]),
    ("What is the chemical symbol for the element that makes up most of the Sun's mass?", "H",
     ["He", "O", "C", "Fe", "N", "Ne"]),
    ("Sound travels fastest through which of these?", "steel",
     ["air", "water", "a vacuum", "helium gas"]),
]


def pick(rng, right, pool, n_choices):
    wrong = [w for w in dict.fromkeys(pool) if w != right]
    n = min(n_choices, len(wrong) + 1)
    choices = [right] + rng.sample(wrong, n - 1)
    rng.shuffle(choices)
    return choices


def science_questions():
    """(question, right, wrong pool) for every fact the set uses."""
    qs = []
    by_family = lambda fam: [e for e in ELEMENTS if e[3] == fam]
    for fam, exclude in (("noble gas", set()), ("alkali metal", {"hydrogen"}), ("halogen", set())):
        pool = [e[1] for e in ELEMENTS if e[3] != fam and e[1] not in exclude]
        for e in by_family(fam):
            qs.append((f"Which of these elements is {'an' if fam[0] in 'aeiou' else 'a'} {fam}?", e[1], pool))
    metalloid_pool = [e[1] for e in ELEMENTS if e[3] not in ("metalloid",)]
    for e in by_family("metalloid"):
        qs.append(("Which of these elements is a metalloid?", e[1], metalloid_pool))
    liquid_pool = [e[1] for e in ELEMENTS if e[1] not in LIQUID_AT_ROOM_TEMPERATURE | NEAR_ROOM_MELTING]
    for name in sorted(LIQUID_AT_ROOM_TEMPERATURE):
        qs.append(("Which of these elements is a liquid at room temperature (20 °C)?", name, liquid_pool))
    symbols = [e[0] for e in ELEMENTS]
    for sym, name, _, _ in ELEMENTS:
        if sym in ("Na", "K", "Fe", "Ag", "Au", "Pb", "Sn", "Hg", "W", "Cu", "Cl", "Mg", "Zn", "P", "Si"):
            qs.append((f"What is the chemical symbol of {name}?", sym, symbols))
    names = [e[1] for e in ELEMENTS]
    for sym, name, _, _ in ELEMENTS:
        if sym in ("Ca", "Co", "Cr", "Mn", "Ni", "Ar", "Sr"):
            qs.append((f"Which element has the chemical symbol {sym}?", name, names))
    for sym, name, z, _ in ELEMENTS:
        if sym in ("C", "O", "Ne", "Fe", "Au", "U", "Na", "Ca"):
            near = [str(z + d) for d in (-3, -2, -1, 1, 2, 3, 4, 5, 6) if z + d > 0]
            qs.append((f"What is the atomic number of {name}?", str(z), near))
    for q, a in PLANET_QUESTIONS:
        qs.append((q, a, PLANETS))
    for unit in SI_BASE:
        qs.append(("Which of these is one of the seven SI base units?", unit, list(SI_DERIVED.values()) + NOT_SI))
    for quantity, unit in SI_DERIVED.items():
        qs.append((f"What is the SI unit of {quantity}?", unit, SI_BASE + list(SI_DERIVED.values())))
    for animal in MAMMALS:
        qs.append(("Which of these animals is a mammal?", animal, NOT_MAMMALS))
    for compound, formula in FORMULAS:
        qs.append((f"What is the chemical formula of {compound}?", formula, [f for _, f in FORMULAS]))
    for q, a, wrong in SINGLE:
        qs.append((q, a, wrong))
    return qs


def science_facts():
    rng = random.Random(SEED)
    qs = science_questions()
    rng.shuffle(qs)
    rows = []
    for i, (q, right, pool) in enumerate(qs):
        n_choices = 2 + (i % 9)
        choices = pick(rng, right, pool, n_choices)
        rows.append({"question": q, "choices": choices, "gold": choices.index(right)})
    fewshot, test = rows[:4], rows[4:]
    manifest = mc_manifest(
        "science_facts",
        'The following are multiple-choice questions about basic science.\n\n',
        'Question: {{ question }}\nAnswer:',
        ['acc', 'acc_norm'],
    )
    sizes = [len(r["choices"]) for r in test]
    card = f"""# science_facts

Measures recall of school-level science facts: element families (noble gases, alkali metals, halogens, metalloids), chemical symbols, atomic numbers and formulas, planets of the Solar System, SI units, basic biology and physics. The {len(test)} test and {len(fewshot)} few-shot items have between {min(sizes)} and {max(sizes)} choices each (the count cycles through 2 to 10, limited by how many wrong answers a fact table offers), so the chance level differs per item; they are scored by log-likelihood of each choice (`acc`, and `acc_norm` normalised by length). `datasets/_generators/science.py` builds every question from small fact tables written for this project (47 elements with symbol, atomic number and family; the eight planets; SI base and derived units; mineral hardness; cell biology) and draws the wrong answers with a fixed seed from entries known to be wrong (for example, caesium and rubidium, which melt just above room temperature, are never offered as wrong answers to the question about liquids). Known limits: questions are short recall items, not reasoning; names use British spelling (aluminium, caesium, metre); and an item with two choices is much easier by chance than one with ten, so the mean hides the difference.
"""
    return dataset_files("science_facts", manifest, test, fewshot, card)


# ---------------------------------------------------------------- unit_conversion

D = Decimal
# (from unit, to unit, function on the exact value, value range, whether the value may be decimal)
CONVERSIONS = [
    ("kilometres", "miles", lambda v: v / D("1.609344"), (3, 500)),
    ("miles", "kilometres", lambda v: v * D("1.609344"), (2, 300)),
    ("degrees Celsius", "degrees Fahrenheit", lambda v: v * 9 / 5 + 32, (-40, 200)),
    ("degrees Fahrenheit", "degrees Celsius", lambda v: (v - 32) * 5 / 9, (-40, 400)),
    ("kilograms", "pounds", lambda v: v / D("0.45359237"), (2, 250)),
    ("pounds", "kilograms", lambda v: v * D("0.45359237"), (3, 400)),
    ("joules", "thermochemical calories (1 cal = 4.184 J)", lambda v: v / D("4.184"), (10, 5000)),
    ("kilocalories", "kilojoules (1 kcal = 4.184 kJ)", lambda v: v * D("4.184"), (50, 2500)),
    ("inches", "centimetres", lambda v: v * D("2.54"), (2, 120)),
    ("feet", "metres", lambda v: v * D("0.3048"), (4, 3000)),
    ("US gallons", "litres", lambda v: v * D("3.785411784"), (1, 80)),
    ("miles per hour", "kilometres per hour", lambda v: v * D("1.609344"), (10, 90)),
    ("kilometres per hour", "metres per second", lambda v: v / D("3.6"), (5, 300)),
    ("kilowatt-hours", "megajoules", lambda v: v * D("3.6"), (1, 500)),
    ("standard atmospheres", "kilopascals", lambda v: v * D("101.325"), (1, 12)),
    ("hours", "seconds", lambda v: v * 3600, (1, 48)),
    ("kelvin", "degrees Celsius", lambda v: v - D("273.15"), (280, 1000)),
    ("ounces", "grams", lambda v: v * D("28.349523125"), (1, 64)),
    ("nautical miles", "kilometres", lambda v: v * D("1.852"), (1, 400)),
    ("square metres", "square feet", lambda v: v / (D("0.3048") * D("0.3048")), (5, 400)),
    ("acres", "hectares", lambda v: v * D("0.40468564224"), (3, 900)),
    ("metres per second", "kilometres per hour", lambda v: v * D("3.6"), (2, 100)),
    ("litres", "US gallons", lambda v: v / D("3.785411784"), (4, 200)),
    ("centimetres", "inches", lambda v: v / D("2.54"), (5, 250)),
]


def fmt_value(v):
    text = format(v, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def unit_conversion():
    rng = random.Random(SEED + 1)
    rows, seen = [], set()
    i = 0
    while len(rows) < 76:
        src, dst, fn, (lo, hi) = CONVERSIONS[i % len(CONVERSIONS)]
        i += 1
        value = D(rng.randint(lo, hi))
        if rng.random() < 0.3:
            value += D(rng.choice([1, 2, 5])) / 10
        exact = fn(value)
        if abs(exact) < 1:
            continue
        answer = exact.quantize(D("0.01"), rounding=ROUND_HALF_UP)
        question = f"Convert {fmt_value(value)} {src} to {dst}."
        if question in seen:
            continue
        seen.add(question)
        rows.append({"question": question, "answer": fmt_value(answer)})
    fewshot, test = rows[:4], rows[4:]
    manifest = {
        "task": "unit_conversion",
        "data_files": {"test": "test.jsonl", "fewshot": "fewshot.jsonl"},
        "test_split": "test",
        "fewshot_split": "fewshot",
        "output_type": "generate_until",
        "doc_to_text": "Question: {{ question }} Reply with the number only, rounded to two decimal places.\nAnswer:",
        "doc_to_target": "{{ answer }}",
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "num_fewshot": 3,
        "generation_kwargs": {"until": ["\n"], "max_gen_toks": 24, "do_sample": False, "temperature": 0.0},
        "metric_list": [{"metric": "numeric_match", "tolerance": 0.01, "aggregation": "mean", "higher_is_better": True}],
        "filter_list": [{"name": "first-number", "filter": [
            {"function": "regex", "regex_pattern": "(-?[0-9][0-9,]*(?:\\.[0-9]+)?)", "group_select": 0},
            {"function": "take_first"}]}],
        "version": "1.0",
    }
    card = f"""# unit_conversion

Measures whether a model knows common conversion factors and applies them correctly: length, speed, mass, temperature, energy, pressure, volume, area and time ({len(CONVERSIONS)} conversions, for example kilometres to miles, degrees Celsius to Fahrenheit, kilograms to pounds, joules to thermochemical calories, US gallons to litres). There are {len(test)} test and {len(fewshot)} few-shot items; the model replies with a number, the first number in the reply is taken, and it counts as correct within 1% of the exact answer (`numeric_match` with relative tolerance 0.01), so a reasonable rounded factor such as 1.6 km per mile is accepted. `datasets/_generators/science.py` draws the values with a fixed seed and computes every answer with exact decimal arithmetic from the defined factors (1 mile = 1.609344 km, 1 lb = 0.45359237 kg, 1 inch = 2.54 cm, 1 US gallon = 3.785411784 L, 1 cal = 4.184 J, 1 atm = 101.325 kPa, 0 °C = 273.15 K), rounding the stored target to two decimals; items whose answer is below 1 in magnitude are skipped because a relative tolerance is too strict there. Known limits: where a unit has several definitions (calorie, gallon) the question names the one meant; a reply that repeats the input value before the answer ("42 km is 26.1 miles") is scored on the first number and fails; and a 1% tolerance cannot tell a careful answer from a rough one.
"""
    return dataset_files("unit_conversion", manifest, test, fewshot, card)


def main():
    check = "--check" in sys.argv[1:]
    files = {}
    files.update(science_facts())
    files.update(unit_conversion())
    return emit(files, check)


if __name__ == "__main__":
    sys.exit(main())
