#!/usr/bin/env python3
"""Generates the general-knowledge datasets: boolean_questions, sentence_completion,
quick_facts, world_knowledge, reading_comprehension and commonsense_reasoning.

Every question, sentence and passage below was written for this project or is filled from
templates and fact tables written for it; nothing is copied from an existing benchmark.

Usage: python3 datasets/_generators/general.py          (rewrite the files)
       python3 datasets/_generators/general.py --check  (exit 1 if the files on disk differ)
"""

import random
import sys

from common import dataset_files, emit, mc_manifest, mc_rows

SEED = 20261126


# ---------------------------------------------------------------- shared fact tables

# Countries whose capital is unambiguous and spelled the same way in common English use.
CAPITALS = [
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Portugal", "Lisbon"),
    ("Japan", "Tokyo"), ("Egypt", "Cairo"), ("Kenya", "Nairobi"), ("Canada", "Ottawa"), ("Australia", "Canberra"),
    ("Argentina", "Buenos Aires"), ("Russia", "Moscow"), ("Norway", "Oslo"), ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"), ("Poland", "Warsaw"), ("Greece", "Athens"), ("Turkey", "Ankara"), ("Peru", "Lima"),
    ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"), ("South Korea", "Seoul"), ("Ireland", "Dublin"),
    ("Austria", "Vienna"), ("Hungary", "Budapest"), ("New Zealand", "Wellington"), ("Nigeria", "Abuja"),
    ("Morocco", "Rabat"), ("Denmark", "Copenhagen"), ("the Czech Republic", "Prague"), ("the Philippines", "Manila"),
    ("Iran", "Tehran"), ("Saudi Arabia", "Riyadh"), ("Pakistan", "Islamabad"), ("Cuba", "Havana"),
    ("Belgium", "Brussels"), ("Chile", "Santiago"), ("Mexico", "Mexico City"),
]
# Large cities that are often mistaken for the capital.
NOT_CAPITALS = [
    ("Australia", "Sydney"), ("Canada", "Toronto"), ("Turkey", "Istanbul"), ("Brazil", "Rio de Janeiro"),
    ("the United States", "New York"), ("Nigeria", "Lagos"), ("Morocco", "Casablanca"), ("New Zealand", "Auckland"),
    ("Switzerland", "Zurich"), ("India", "Mumbai"), ("Vietnam", "Ho Chi Minh City"), ("Pakistan", "Karachi"),
]

AUTHORS = [
    ("Pride and Prejudice", "Jane Austen"), ("Hamlet", "William Shakespeare"), ("Nineteen Eighty-Four", "George Orwell"),
    ("War and Peace", "Leo Tolstoy"), ("Don Quixote", "Miguel de Cervantes"), ("Moby-Dick", "Herman Melville"),
    ("Crime and Punishment", "Fyodor Dostoevsky"), ("Frankenstein", "Mary Shelley"), ("Oliver Twist", "Charles Dickens"),
    ("Les Misérables", "Victor Hugo"), ("The Divine Comedy", "Dante Alighieri"), ("Adventures of Huckleberry Finn", "Mark Twain"),
    ("On the Origin of Species", "Charles Darwin"), ("The Great Gatsby", "F. Scott Fitzgerald"),
]

SYMBOLS = [("gold", "Au"), ("silver", "Ag"), ("iron", "Fe"), ("sodium", "Na"), ("potassium", "K"), ("lead", "Pb"),
           ("oxygen", "O"), ("carbon", "C"), ("helium", "He"), ("copper", "Cu"), ("tin", "Sn"), ("mercury", "Hg")]


# ---------------------------------------------------------------- boolean_questions

BOOL_FACTS = [
    ("Is the Pacific the largest ocean on Earth?", True),
    ("Do spiders have six legs?", False),
    ("Is a tomato a fruit in the botanical sense?", True),
    ("Is the Sun a star?", True),
    ("Does water boil at a lower temperature high on a mountain than at sea level?", True),
    ("Is a kilometre longer than a mile?", False),
    ("Is sound faster than light?", False),
    ("Do wild penguins live at the North Pole?", False),
    ("Is copper a good conductor of electricity?", True),
    ("Is glass a good conductor of electricity?", False),
    ("Is Venus closer to the Sun than Earth is?", True),
    ("Is the whale shark a mammal?", False),
    ("Is gold denser than silver?", True),
    ("Is helium lighter than air?", True),
    ("Does the Amazon River flow through Africa?", False),
    ("Is Mount Everest the highest mountain above sea level?", True),
    ("Is a square a kind of rectangle?", True),
    ("Is zero an odd number?", False),
    ("Does a leap year have 366 days?", True),
    ("Is ice less dense than liquid water?", True),
    ("Do plants take in carbon dioxide during photosynthesis?", True),
    ("Is the Moon larger than the Earth?", False),
    ("Was the First World War fought before the Second World War?", True),
    ("Is Portuguese the main language of Brazil?", True),
    ("Is Greenland part of South America?", False),
    ("Is a triangle's angle sum 180 degrees in flat geometry?", True),
    ("Is 1 a prime number?", False),
    ("Do humans have four lungs?", False),
]


def boolean_items(rng):
    items = list(BOOL_FACTS)
    for country, capital in CAPITALS[:14]:
        items.append((f"Is {capital} the capital of {country}?", True))
    for country, city in NOT_CAPITALS:
        items.append((f"Is {city} the capital of {country}?", False))
    r = rng.randint
    for i in range(14):
        kind = i % 4
        if kind == 0:
            a, b = r(11, 39), r(11, 39)
            limit = a * b + rng.choice([-30, -10, 10, 30])
            items.append((f"Is {a} × {b} greater than {limit}?", a * b > limit))
        elif kind == 1:
            d = rng.choice([7, 11, 13, 17, 19])
            n = d * r(11, 40) + rng.choice([0, 0, 1, 2])
            items.append((f"Is {n} divisible by {d}?", n % d == 0))
        elif kind == 2:
            a, b = r(2, 9), r(5, 12)
            limit = rng.choice([a ** b - 1, a ** b + 1, a ** b * 2, a ** b // 2])
            items.append((f"Is {a} to the power of {b} larger than {limit}?", a ** b > limit))
        else:
            x, y = r(100, 999), r(100, 999)
            total = x + y + rng.choice([0, 0, 10, -1])
            items.append((f"Does {x} + {y} equal {total}?", x + y == total))
    return items


def boolean_questions():
    rng = random.Random(SEED)
    items = boolean_items(rng)
    rng.shuffle(items)
    rows = []
    for question, truth in items:
        rows.append({"question": question, "choices": ["no", "yes"], "gold": 1 if truth else 0})
    fewshot, test = rows[:4], rows[4:]
    manifest = mc_manifest("boolean_questions", "Answer each question with yes or no.\n\n",
                           "Question: {{ question }}\nAnswer:", ["acc"])
    yes = sum(r["gold"] for r in test)
    card = f"""# boolean_questions

Measures whether a model answers simple yes/no questions correctly: everyday science and geography facts, capitals (including large cities that are often mistaken for the capital, such as Sydney or Istanbul), and arithmetic comparisons (products, powers, divisibility, sums). Each of the {len(test)} test items ({yes} with the answer yes, {len(test) - yes} no) and {len(fewshot)} few-shot items offers the two choices "no" and "yes" and is scored by which one the model gives the higher log-likelihood (`acc`; chance is 50%). `datasets/_generators/general.py` writes the facts from tables made for this project, computes the arithmetic answers, and shuffles the order with a fixed seed. Known limits: two choices make the score noisy near chance, a model with a bias towards "yes" gains on a set that is not exactly balanced, and the facts are deliberately uncontroversial, so the set cannot show subtle knowledge gaps.
"""
    return dataset_files("boolean_questions", manifest, test, fewshot, card)


# ---------------------------------------------------------------- sentence_completion

# (context, right ending, three wrong endings)
SENTENCES = [
    ("It started to rain, so she opened", "her umbrella.", ["the oven door.", "a bag of flour.", "her tax return."]),
    ("He was thirsty after the run, so he", "drank a glass of water.", ["painted the fence.", "put on a thicker coat.", "sold his bicycle."]),
    ("The milk had gone sour, so they", "poured it down the sink.", ["put it in the garden shed.", "used it to clean the windows.", "gave it a new label."]),
    ("The baby was tired, so her father", "put her down for a nap.", ["took her to the gym.", "made her a cup of coffee.", "read her the news headlines."]),
    # ---- test items from here on
    ("The room was dark, so I", "switched on the light.", ["closed my eyes tighter.", "opened the fridge.", "turned up the radio."]),
    ("My phone battery was almost empty, so I", "plugged it into the charger.", ["put it in the freezer.", "deleted my contacts.", "washed it with soap."]),
    ("The soup was too hot to eat, so he", "waited for it to cool down.", ["added more ice to his tea.", "put it back on the stove to boil.", "ate it with a fork."]),
    ("She missed the last bus home, so she", "called a taxi.", ["bought a new coat.", "went to sleep at the bus stop sign.", "ordered another bus ticket online for yesterday."]),
    ("The plant's leaves were drooping because", "nobody had watered it for weeks.", ["it had been watered too kindly.", "the television was on.", "it was wearing a hat."]),
    ("Before crossing the road, the children", "looked both ways.", ["closed their eyes.", "sat down in the middle.", "took off their shoes."]),
    ("The shop was closed for the holiday, so we", "came back the next day.", ["paid at the till.", "tried on the shoes.", "asked the cashier for help."]),
    ("He cut his finger while chopping onions, so he", "put a plaster on it.", ["chopped faster.", "added more salt.", "opened the window."]),
    ("The car's fuel tank was nearly empty, so she", "stopped at a petrol station.", ["washed the car.", "turned on the wipers.", "bought a new map."]),
    ("It was very cold outside, so the boy", "put on his gloves and scarf.", ["wore shorts and sandals.", "opened all the windows.", "ate an ice lolly in the snow to warm up."]),
    ("The alarm clock rang at six, and she", "got out of bed.", ["planted a tree.", "baked a cake in the bath.", "went back to yesterday."]),
    ("The printer ran out of paper, so he", "loaded a new stack of sheets.", ["turned off the monitor.", "watered the printer.", "shook the keyboard."]),
    ("After dinner, they washed", "the dirty dishes.", ["the clouds.", "the sunset.", "the radio signal."]),
    ("The ice cream melted because", "it was left in the sun.", ["it was kept in the freezer.", "it was too cold.", "nobody looked at it."]),
    ("She could not read the small print, so she", "put on her glasses.", ["turned off the lamp.", "closed the book.", "put in her earplugs."]),
    ("The dog was barking at the door because", "someone had rung the bell.", ["the kettle was full.", "the carpet was blue.", "it had finished its homework."]),
    ("He forgot his keys, so he", "could not unlock the front door.", ["drove faster.", "locked the door twice.", "ate his lunch early."]),
    ("The tyre had a puncture, so the cyclist", "stopped to repair it.", ["rode faster uphill.", "pumped up the other tyre only.", "bought a helmet."]),
    ("The library book was due back today, so she", "returned it on her way to work.", ["wrote a new ending in it.", "lent it to a stranger.", "put it in the oven."]),
    ("The bread was stale, so they", "fed it to the ducks.", ["framed it.", "ironed it.", "charged it overnight."]),
    ("The crowd cheered loudly when", "the team scored a goal.", ["the stadium lights were switched off for good.", "the match was cancelled.", "the players went home early."]),
    ("The baby started crying, so his mother", "picked him up and comforted him.", ["left the house.", "turned the music up.", "started mowing the lawn."]),
    ("The kettle boiled, so he", "made a pot of tea.", ["put on his boots.", "filled the car with petrol.", "went swimming."]),
    ("The floor was wet, so they put up a sign that said", "Caution: slippery floor.", ["Happy birthday.", "Fresh bread sold here.", "No parking on Sundays."]),
    ("The meeting ran late, so she", "phoned home to say she would be late.", ["arrived early.", "went back in time.", "cancelled last week's meeting."]),
    ("The snow was deep, so the children", "built a snowman.", ["went sunbathing.", "picked ripe apples from the snow.", "swam in the lake."]),
    ("He wanted to learn Spanish, so he", "signed up for a language class.", ["bought a piano.", "moved to the Arctic.", "stopped reading."]),
    ("The traffic light turned red, so the driver", "stopped the car.", ["sped up.", "turned on the radio.", "opened the boot."]),
    ("The cake needed to bake for forty minutes, so she", "set a timer.", ["opened the freezer.", "went on holiday.", "ate the flour."]),
    ("The window was dirty, so he", "cleaned it with a cloth.", ["painted it black.", "opened the door.", "closed the curtains forever."]),
    ("The child scraped her knee on the playground and", "started to cry.", ["started to fly.", "turned into a bird.", "began to sing opera in French."]),
    ("The lecture was boring, and several students", "started to yawn.", ["started to sprint.", "grew taller.", "turned into teachers."]),
    ("The house felt cold, so they", "turned on the heating.", ["opened the freezer.", "turned on the air conditioning to cool it down.", "took off their jumpers."]),
    ("Her shoes were muddy, so she", "left them at the door.", ["wore them to bed.", "put them on the dinner table.", "ate them."]),
    ("The plane was delayed, so the passengers", "waited in the departure lounge.", ["flew home on their own.", "went swimming in the runway.", "boarded the train to the moon."]),
    ("The recipe called for two eggs, so he", "cracked two eggs into the bowl.", ["cracked the bowl.", "bought a chicken.", "added two spoons of sand."]),
    ("The music was too loud, so the neighbour", "knocked and asked them to turn it down.", ["turned his own music off.", "went to sleep immediately.", "asked for more."]),
    ("The pen ran out of ink, so she", "borrowed another one.", ["wrote harder.", "drank the ink.", "threw away her notebook."]),
    ("The grass had grown very long, so he", "mowed the lawn.", ["watered the roof.", "painted the grass.", "planted more grass."]),
    ("The sun had set and it was getting dark, so the campers", "lit a fire.", ["put on sun cream.", "went to the beach to tan.", "opened the blinds."]),
    ("The water in the pool was cold, so the swimmer", "got in slowly.", ["dived into the car.", "put on a winter coat to swim.", "started boiling the pool."]),
    ("The tea was too bitter, so she", "added some sugar.", ["added more tea leaves.", "put it in the fridge.", "added pepper."]),
    ("The puppy chewed the shoe because", "it was teething.", ["it wanted to read it.", "the shoe was asleep.", "it had a driving test."]),
    ("There was a long queue at the bakery, so we", "waited our turn.", ["baked the queue.", "left the bread in the oven.", "went to the front of the line and pushed."]),
    ("The scissors were blunt, so the paper", "tore instead of cutting cleanly.", ["sang a song.", "turned into glass.", "cut itself."]),
    ("The paint was still wet, so the sign said", "Do not touch.", ["Please lean here.", "Sit down.", "Free paint."]),
    ("The museum does not allow flash photography, so the visitor", "turned off her camera flash.", ["used two flashes.", "painted the exhibit.", "took the painting home."]),
    ("The bus was full, so he", "waited for the next one.", ["drove it himself.", "sat on the roof.", "bought the bus."]),
    ("The batteries in the remote were dead, so she", "replaced them with new ones.", ["shouted at the television.", "put the remote in water.", "charged the sofa."]),
    ("The bridge was closed for repairs, so the drivers", "took a detour.", ["drove through the river.", "flew over it.", "parked on the bridge."]),
    ("He had a headache from staring at the screen, so he", "took a break and rested his eyes.", ["moved the screen closer.", "turned the brightness to maximum.", "watched another film."]),
    ("The fridge was empty, so they", "went grocery shopping.", ["cooked the fridge.", "cleaned the garage.", "watered the plants."]),
    ("The wind blew the hat off his head, so he", "ran after it.", ["bought a kite.", "shaved his head.", "closed the window."]),
    ("The tap was dripping all night, so she", "called a plumber.", ["called a baker.", "bought a goldfish.", "moved to another city."]),
    ("The test was tomorrow, so the student", "spent the evening revising.", ["went to bed at noon.", "threw away her notes.", "forgot her name."]),
]


def sentence_completion():
    rng = random.Random(SEED + 1)
    rows = []
    for context, right, wrong in SENTENCES:
        choices = [right] + wrong
        rng.shuffle(choices)
        rows.append({"context": context, "choices": choices, "gold": choices.index(right)})
    fewshot, test = rows[:4], rows[4:]
    manifest = mc_manifest("sentence_completion", "", "{{ context }}", ["acc", "acc_norm"])
    card = f"""# sentence_completion

Measures everyday commonsense about cause and effect: given the start of a sentence ("It started to rain, so she opened"), the model must prefer the sensible ending among four. There are {len(test)} test and {len(fewshot)} few-shot items, scored by the log-likelihood of each ending as a continuation of the context (`acc`, and `acc_norm` normalised by the ending's length, which matters because endings differ in length). The sentences and all endings were written for this project; `datasets/_generators/general.py` shuffles the choice order with a fixed seed. Known limits: most wrong endings are plainly absurd rather than subtly wrong, so strong models score near the ceiling and the set mainly separates small models; the sentences are British-English flavoured (petrol, plaster, revising); and log-likelihood scoring rewards fluent common phrases, which can favour a wrong ending that is a frequent phrase.
"""
    return dataset_files("sentence_completion", manifest, test, fewshot, card)


# ---------------------------------------------------------------- quick_facts

QUICK_EXTRA = [
    ("Which planet is known as the Red Planet?", "Mars"),
    ("What is the largest planet in the Solar System?", "Jupiter"),
    ("What is the hardest natural mineral?", "diamond"),
    ("What gas do plants absorb from the air for photosynthesis?", "carbon dioxide"),
    ("How many sides does a hexagon have? Answer with digits.", "6"),
    ("How many minutes are there in two hours? Answer with digits.", "120"),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci"),
    ("Who was the first person to walk on the Moon?", "Neil Armstrong"),
    ("Who was the first person to travel into space?", "Yuri Gagarin"),
    ("In which country is the Taj Mahal?", "India"),
    ("In which country is Machu Picchu?", "Peru"),
    ("What is the currency of Japan?", "yen"),
    ("What is the main language spoken in Brazil?", "Portuguese"),
    ("Which ocean lies between Africa and Australia?", "Indian Ocean"),
    ("What is the freezing point of water in degrees Celsius? Answer with digits.", "0"),
]


def quick_facts():
    rng = random.Random(SEED + 2)
    items = []
    for country, capital in CAPITALS[:26]:
        items.append((f"What is the capital of {country}?", capital))
    for work, author in AUTHORS:
        items.append((f"Who wrote {work}?", author))
    for element, symbol in SYMBOLS:
        items.append((f"What is the chemical symbol of {element}?", symbol))
    items += QUICK_EXTRA
    rng.shuffle(items)
    rows = [{"question": q, "answer": a} for q, a in items]
    fewshot, test = rows[:4], rows[4:]
    manifest = {
        "task": "quick_facts",
        "description": "Answer each question with the name, word or number only, not a sentence.\n\n",
        "data_files": {"test": "test.jsonl", "fewshot": "fewshot.jsonl"},
        "test_split": "test",
        "fewshot_split": "fewshot",
        "output_type": "generate_until",
        "doc_to_text": "Question: {{ question }}\nAnswer:",
        "doc_to_target": "{{ answer }}",
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "num_fewshot": 3,
        "generation_kwargs": {"until": ["\n"], "max_gen_toks": 16, "do_sample": False, "temperature": 0.0},
        "metric_list": [{"metric": "exact_match", "ignore_case": True, "ignore_punctuation": True,
                         "regexes_to_ignore": ["^the "], "aggregation": "mean", "higher_is_better": True}],
        "filter_list": [{"name": "strip", "filter": [{"function": "strip"}, {"function": "take_first"}]}],
        "version": "1.0",
    }
    card = f"""# quick_facts

Measures short factual recall with a generated answer rather than a choice: capitals of countries, authors of famous books, chemical symbols, and a few well-known facts about planets, people, places and units. There are {len(test)} test and {len(fewshot)} few-shot items; the model answers on one line and the answer must equal the reference after lower-casing, removing punctuation and a leading "the" (`exact_match` with `ignore_case`, `ignore_punctuation`, `regexes_to_ignore: ["^the "]`). `datasets/_generators/general.py` writes the items from fact tables made for this project (capitals were chosen so that there is one accepted capital with one common English spelling) and shuffles them with a fixed seed. Known limits: exact match has one reference per question, so "Shakespeare" for "William Shakespeare", "Dostoyevsky" for "Dostoevsky", "the yen" is fine but "Japanese yen" is not, and a full sentence ("The capital of France is Paris.") all score zero; the few-shot examples show the expected short form, which small models need.
"""
    return dataset_files("quick_facts", manifest, test, fewshot, card)


# ---------------------------------------------------------------- world_knowledge

WORLD = [
    ("In which year did the Second World War end?", "1945", ["1939", "1944", "1950"]),
    ("Which river flows through Paris?", "the Seine", ["the Thames", "the Danube", "the Rhône"]),
    ("Who painted the ceiling of the Sistine Chapel?", "Michelangelo", ["Raphael", "Leonardo da Vinci", "Caravaggio"]),
    ("What is the largest country in the world by area?", "Russia", ["Canada", "China", "the United States"]),
    # ---- test items from here on
    ("In which year did humans first land on the Moon?", "1969", ["1961", "1972", "1957"]),
    ("In which year did the Berlin Wall fall?", "1989", ["1961", "1991", "1979"]),
    ("In which year did the French Revolution begin?", "1789", ["1689", "1815", "1848"]),
    ("In which year did Christopher Columbus first reach the Americas?", "1492", ["1392", "1519", "1607"]),
    ("In which year was the United States Declaration of Independence adopted?", "1776", ["1783", "1812", "1750"]),
    ("In which year did the First World War begin?", "1914", ["1905", "1918", "1939"]),
    ("In which year was Magna Carta sealed?", "1215", ["1066", "1415", "1610"]),
    ("In which year did the Titanic sink?", "1912", ["1905", "1921", "1898"]),
    ("In which year did the Battle of Hastings take place?", "1066", ["1215", "1346", "966"]),
    ("In which year did Constantinople fall to the Ottoman Empire?", "1453", ["1204", "1517", "1683"]),
    ("In which year did the Wright brothers make their first powered flight?", "1903", ["1889", "1914", "1927"]),
    ("In which year was the Soviet Union dissolved?", "1991", ["1985", "1989", "1995"]),
    ("In which year did the Russian Revolution overthrow the Tsar?", "1917", ["1905", "1922", "1939"]),
    ("Which river flows through London?", "the Thames", ["the Seine", "the Severn", "the Rhine"]),
    ("Which river flows through both Vienna and Budapest?", "the Danube", ["the Rhine", "the Elbe", "the Volga"]),
    ("Which river flows through Baghdad?", "the Tigris", ["the Nile", "the Jordan", "the Indus"]),
    ("What is the highest mountain above sea level?", "Mount Everest", ["K2", "Kangchenjunga", "Mont Blanc"]),
    ("What is the largest ocean on Earth?", "the Pacific Ocean", ["the Atlantic Ocean", "the Indian Ocean", "the Arctic Ocean"]),
    ("What is the smallest country in the world by area?", "Vatican City", ["Monaco", "San Marino", "Liechtenstein"]),
    ("What is the largest continent by area?", "Asia", ["Africa", "North America", "Europe"]),
    ("In which ocean is the Mariana Trench?", "the Pacific Ocean", ["the Atlantic Ocean", "the Indian Ocean", "the Southern Ocean"]),
    ("In which country is Mount Kilimanjaro?", "Tanzania", ["Kenya", "Uganda", "Ethiopia"]),
    ("Which strait separates Spain from Morocco?", "the Strait of Gibraltar", ["the Bosphorus", "the Strait of Hormuz", "the Strait of Dover"]),
    ("In which country is Machu Picchu?", "Peru", ["Bolivia", "Chile", "Mexico"]),
    ("Off the coast of which country is the Great Barrier Reef?", "Australia", ["Indonesia", "New Zealand", "the Philippines"]),
    ("In which country is Angkor Wat?", "Cambodia", ["Thailand", "Vietnam", "Laos"]),
    ("In which country is the ancient city of Petra?", "Jordan", ["Egypt", "Israel", "Syria"]),
    ("What is the largest island in the world (not counting continents)?", "Greenland", ["New Guinea", "Borneo", "Madagascar"]),
    ("What is the currency of Japan?", "the yen", ["the won", "the yuan", "the baht"]),
    ("What is the currency of Switzerland?", "the Swiss franc", ["the euro", "the Swiss mark", "the krone"]),
    ("Which language is most widely spoken in Brazil?", "Portuguese", ["Spanish", "French", "English"]),
    ("What is the capital of Canada?", "Ottawa", ["Toronto", "Montreal", "Vancouver"]),
    ("What is the capital of Australia?", "Canberra", ["Sydney", "Melbourne", "Perth"]),
    ("What is the capital of Turkey?", "Ankara", ["Istanbul", "Izmir", "Antalya"]),
    ("Who developed the theory of general relativity?", "Albert Einstein", ["Isaac Newton", "Niels Bohr", "Max Planck"]),
    ("Who discovered penicillin?", "Alexander Fleming", ["Louis Pasteur", "Marie Curie", "Edward Jenner"]),
    ("Who was the first woman to win a Nobel Prize?", "Marie Curie", ["Ada Lovelace", "Rosalind Franklin", "Florence Nightingale"]),
    ("Who proposed a heliocentric model of the Solar System in the 16th century?", "Nicolaus Copernicus", ["Claudius Ptolemy", "Aristotle", "Johannes Gutenberg"]),
    ("Who formulated the laws of motion and universal gravitation published in 1687?", "Isaac Newton", ["Galileo Galilei", "Albert Einstein", "Johannes Kepler"]),
    ("Who published an early periodic table of the elements in 1869?", "Dmitri Mendeleev", ["John Dalton", "Antoine Lavoisier", "Ernest Rutherford"]),
    ("Who painted The Starry Night?", "Vincent van Gogh", ["Claude Monet", "Pablo Picasso", "Paul Cézanne"]),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci", ["Michelangelo", "Raphael", "Titian"]),
    ("Which composer wrote the Ninth Symphony that ends with the 'Ode to Joy'?", "Ludwig van Beethoven", ["Wolfgang Amadeus Mozart", "Johann Sebastian Bach", "Franz Schubert"]),
    ("Who was the first person to travel into space?", "Yuri Gagarin", ["Neil Armstrong", "Alan Shepard", "John Glenn"]),
    ("Who was the first person to walk on the Moon?", "Neil Armstrong", ["Buzz Aldrin", "Yuri Gagarin", "Michael Collins"]),
    ("How many bones are there in the typical adult human body?", "206", ["106", "306", "186"]),
    ("What is the chemical symbol of gold?", "Au", ["Ag", "Gd", "Go"]),
    ("What is the boiling point of water at sea level in degrees Fahrenheit?", "212", ["100", "180", "32"]),
    ("Which planet is closest to the Sun?", "Mercury", ["Venus", "Mars", "Earth"]),
    ("Which gas do humans need to breathe in to survive?", "oxygen", ["nitrogen", "carbon dioxide", "helium"]),
    ("Which ancient civilisation built the pyramids of Giza?", "the ancient Egyptians", ["the Romans", "the Maya", "the Greeks"]),
    ("Who wrote the play Romeo and Juliet?", "William Shakespeare", ["Christopher Marlowe", "Charles Dickens", "Geoffrey Chaucer"]),
    ("Which empire was ruled by Julius Caesar's adopted heir Augustus as its first emperor?", "the Roman Empire", ["the Byzantine Empire", "the Persian Empire", "the Ottoman Empire"]),
    ("What is the name of the longest wall built in ancient China?", "the Great Wall", ["Hadrian's Wall", "the Western Wall", "the Long Walls of Athens"]),
    ("Which desert is the largest hot desert in the world?", "the Sahara", ["the Gobi", "the Kalahari", "the Atacama"]),
    ("Which is the longest bone in the human body?", "the femur", ["the tibia", "the humerus", "the spine"]),
    ("How many continents are there by the most common count in English-speaking schools?", "seven", ["five", "six", "eight"]),
]


def world_knowledge():
    rng = random.Random(SEED + 3)
    rows = mc_rows(rng, WORLD)
    fewshot, test = rows[:4], rows[4:]
    manifest = mc_manifest("world_knowledge", "The following are multiple-choice questions about general knowledge.\n\n",
                           "Question: {{ question }}\nAnswer:", ["acc"])
    card = f"""# world_knowledge

Measures broad general knowledge: dates of major historical events, rivers, mountains, oceans, countries and landmarks, currencies and languages, famous scientists, artists and composers, and basic human biology. Each of the {len(test)} test and {len(fewshot)} few-shot items is a four-choice question scored by the log-likelihood of each choice (`acc`; chance is 25%). The questions and the wrong choices were written for this project, choosing facts that are settled (for example, the longest-river question is left out because the Nile and the Amazon are both claimed); `datasets/_generators/general.py` shuffles the choice order with a fixed seed. Known limits: the facts lean towards European and North American history and culture; many items are well known, so large models will score near the ceiling; and a few wrong choices are near misses (Kenya for Kilimanjaro, Sydney for Canberra) on purpose, which rewards precise recall over elimination.
"""
    return dataset_files("world_knowledge", manifest, test, fewshot, card)


# ---------------------------------------------------------------- reading_comprehension

SYLLABLES = ["vel", "mor", "ast", "brin", "cal", "dor", "fen", "gar", "hal", "ith", "kel", "lun",
             "mar", "nor", "ost", "pell", "quin", "ros", "sel", "tam", "ulm", "var", "wen", "zar"]
FIRST_NAMES = ["Mira", "Arlen", "Tobias", "Ines", "Corin", "Lise", "Mateo", "Anouk", "Rafe", "Selma", "Edda",
               "Niall", "Oona", "Pavel", "Greta", "Idris", "Juno", "Kasimir", "Leona", "Bram"]
SURNAMES = ["Halden", "Fosk", "Marrow", "Quell", "Ostrand", "Vey", "Tamsin", "Brisk", "Carrow", "Dunmore",
            "Ellery", "Farrant", "Gossel", "Hewitt", "Ivers", "Juster"]
INDUSTRIES = ["glassmaking", "fishing", "cheese making", "shipbuilding", "weaving", "wine making", "printing", "pottery"]
LANDMARKS = ["clock tower", "stone bridge", "old lighthouse", "covered market", "windmill", "botanical garden"]
FESTIVALS = ["lantern festival", "harvest fair", "music festival", "boat race", "flower parade", "kite festival"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
PROFESSIONS = ["marine biologist", "civil engineer", "baker", "librarian", "architect", "nurse", "carpenter", "geologist"]
INSTRUMENTS = ["cello", "trumpet", "accordion", "violin", "harp", "clarinet", "drums", "piano"]
STUDIES = ["octopuses", "bridges", "rock layers", "old maps", "seabirds", "river floods", "sourdough", "glaciers"]
PETS = [("grey cat", ["Pepper", "Nutmeg", "Mossy", "Clover"]), ("small dog", ["Biscuit", "Pickle", "Rusty", "Fennel"]),
        ("parrot", ["Captain", "Kiwi", "Sunny", "Plum"])]
COLOURS = ["blue", "green", "yellow", "red", "white"]


def place_name(rng, suffixes=("a", "ton", "by", "ford", "holm", "wick", "mere", "stead")):
    return (rng.choice(SYLLABLES) + rng.choice(SYLLABLES) + rng.choice(suffixes)).capitalize()


def town_passage(rng):
    town = place_name(rng)
    river = place_name(rng, ("en", "el", "is", "on"))
    founder = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
    year = rng.randint(1620, 1890)
    population = f"{rng.randint(2, 60)},{rng.randint(0, 9)}00"
    industry, landmark = rng.choice(INDUSTRIES), rng.choice(LANDMARKS)
    festival, month = rng.choice(FESTIVALS), rng.choice(MONTHS)
    passage = (f"{town} is a small town on the banks of the {river} River. It was founded in {year} by a "
               f"merchant named {founder}. Today about {population} people live there, and many of them work in "
               f"{industry}. The town is best known for its {landmark}, and every {month} it holds a {festival}.")
    questions = [
        (f"Who founded {town}?", founder),
        (f"In what year was {town} founded?", str(year)),
        (f"On which river does {town} stand?", f"{river} River"),
        (f"In what industry do many people in {town} work?", industry),
        (f"In which month does {town} hold its {festival}?", month),
        (f"What is {town} best known for?", landmark),
        (f"About how many people live in {town}?", population),
    ]
    return passage, questions


def person_passage(rng):
    person = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
    first = person.split()[0]
    home, city = place_name(rng), "Port " + place_name(rng)
    profession, studies = rng.choice(PROFESSIONS), rng.choice(STUDIES)
    year, instrument = rng.randint(1995, 2022), rng.choice(INSTRUMENTS)
    pet, names = rng.choice(PETS)
    pet_name, colour = rng.choice(names), rng.choice(COLOURS)
    passage = (f"{person} grew up in {home} and trained as a {profession}. In {year} {first} moved to the "
               f"coastal city of {city}, where {first} now spends most days studying {studies}. In the evenings "
               f"{first} plays the {instrument} in a local band, and lives in a {colour} house with a {pet} called {pet_name}.")
    questions = [
        (f"Where did {person} grow up?", home),
        (f"What did {first} train as?", profession),
        (f"In what year did {first} move to {city}?", str(year)),
        (f"Which city did {first} move to?", city),
        (f"What instrument does {first} play?", instrument),
        (f"What is the name of {first}'s {pet}?", pet_name),
        (f"What colour is {first}'s house?", colour),
        (f"What does {first} spend most days studying?", studies),
    ]
    return passage, questions


def reading_comprehension():
    rng = random.Random(SEED + 4)
    rows, seen = [], set()
    i = 0
    while len(rows) < 68:
        passage, questions = (town_passage if i % 2 == 0 else person_passage)(rng)
        i += 1
        if passage in seen:
            continue
        seen.add(passage)
        for question, answer in rng.sample(questions, 2):
            assert answer in passage, (answer, passage)
            rows.append({"passage": passage, "question": question, "answer": answer})
    fewshot, test = rows[:4], rows[4:]
    assert not {r["passage"] for r in fewshot} & {r["passage"] for r in test}
    manifest = {
        "task": "reading_comprehension",
        "description": "Answer each question with a short phrase copied from the passage.\n\n",
        "data_files": {"test": "test.jsonl", "fewshot": "fewshot.jsonl"},
        "test_split": "test",
        "fewshot_split": "fewshot",
        "output_type": "generate_until",
        "doc_to_text": "Passage: {{ passage }}\nQuestion: {{ question }}\nAnswer:",
        "doc_to_target": "{{ answer }}",
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "num_fewshot": 2,
        "generation_kwargs": {"until": ["\n"], "max_gen_toks": 24, "do_sample": False, "temperature": 0.0},
        "metric_list": [
            {"metric": "f1", "aggregation": "mean", "higher_is_better": True},
            {"metric": "exact_match", "ignore_case": True, "ignore_punctuation": True,
             "regexes_to_ignore": ["^(the|a|an) "], "aggregation": "mean", "higher_is_better": True},
        ],
        "filter_list": [{"name": "strip", "filter": [{"function": "strip"}, {"function": "take_first"}]}],
        "version": "1.0",
    }
    card = f"""# reading_comprehension

Measures extractive reading comprehension: each item gives a short passage about a fictional town or person and asks a question whose answer is a span of the passage (a name, a year, a month, a place, a profession, a number). There are {len(test)} test and {len(fewshot)} few-shot items (two questions per passage, few-shot passages disjoint from test passages), scored by token F1 against the reference span and by exact match after lower-casing, removing punctuation and a leading article. `datasets/_generators/general.py` builds the passages from templates and invented names (place names are assembled from syllables, so the facts cannot be recalled from pre-training and must be read) with a fixed seed, and checks that every answer occurs verbatim in its passage. Known limits: the passages share two templates, so the set tests locating a fact in simple prose rather than inference; answers that add words ("in 1742", "the Tessin River") lose exact match but keep most of the F1; and invented names may tokenize oddly, which can hurt small models for reasons other than comprehension.
"""
    return dataset_files("reading_comprehension", manifest, test, fewshot, card)


# ---------------------------------------------------------------- commonsense_reasoning

# (question, right, wrong answers: one or two)
COMMONSENSE = [
    ("To keep ice cream from melting on a warm drive home, you should", "pack it in an insulated cool bag",
     ["leave it on the dashboard in the sun"]),
    ("Sam forgot his best friend's birthday. How is his friend most likely to feel?", "hurt",
     ["proud", "grateful"]),
    ("To stop a door from slamming in the wind, you could", "put a doorstop under it",
     ["paint it a lighter colour"]),
    # ---- test items from here on
    ("To dry wet clothes quickly, it is best to", "hang them up somewhere warm and airy",
     ["fold them tightly and put them in a drawer"]),
    ("Which is easier to pour from a jug?", "water", ["sand mixed with stones"]),
    ("To open a tight jar lid, a person might", "run the lid under hot water and twist",
     ["put the jar in the freezer overnight and shake it"]),
    ("A glass falls from a table onto a tiled floor. What is most likely to happen?", "it breaks",
     ["it bounces back onto the table", "it floats in the air"]),
    ("To carry soup to work, you should use", "a sealed container", ["an open paper bag", "a sieve"]),
    ("If you want to see the stars clearly, it is best to go", "somewhere far from city lights",
     ["to a brightly lit shopping centre"]),
    ("To cut a loaf of bread into slices, you should use", "a serrated bread knife", ["a spoon", "a pair of tweezers"]),
    ("Which object would sink in a bucket of water?", "a steel key", ["a cork", "a dry leaf"]),
    ("To make a cup of tea, the water should be", "hot", ["frozen"]),
    ("To keep a candle burning in a breezy garden, you could", "put it inside a glass lantern",
     ["hold it up higher in the wind"]),
    ("To find a word's meaning, you can look it up in", "a dictionary", ["an atlas", "a phone bill"]),
    ("Maria held the door open for a man carrying heavy boxes. What would he most likely say?", "thank you",
     ["how dare you", "goodbye forever"]),
    ("Leo's friend tells him her pet has just died. What is the kind thing for Leo to do?", "say he is sorry and listen",
     ["change the subject to his holiday", "laugh"]),
    ("A new student sits alone at lunch on her first day. What would make her feel welcome?", "inviting her to join your table",
     ["ignoring her", "taking her chair"]),
    ("Priya studied hard and passed a difficult exam. How does she most likely feel?", "relieved and happy",
     ["angry at herself", "bored"]),
    ("Tom accidentally broke his neighbour's window with a football. What should he do?", "apologise and offer to pay for it",
     ["hide and say nothing", "kick another ball at it"]),
    ("If someone is yawning and rubbing their eyes late at night, they are probably", "tired", ["hungry for breakfast", "excited"]),
    ("A friend lends you a book. What is the polite thing to do when you have finished it?", "give it back",
     ["sell it", "keep it without asking"]),
    ("Jo is speaking at a funeral. Which tone is appropriate?", "respectful and calm", ["loud and joking"]),
    ("To stay dry when walking in heavy rain, you should wear", "a waterproof coat", ["a cotton T-shirt", "sandals only"]),
    ("Which would be best for hammering a nail if you have no hammer?", "a heavy rock", ["a banana", "a sponge"]),
    ("To keep milk fresh for longer, you should store it", "in the fridge", ["on a sunny windowsill"]),
    ("You drop a feather and a brick from the same height outdoors. Which hits the ground first?", "the brick",
     ["the feather"]),
    ("What is the safest way to check whether an iron is hot?", "hold your hand near it without touching",
     ["press your palm flat on it"]),
    ("To wake up at six in the morning, you can", "set an alarm", ["eat a large dinner"]),
    ("If you leave a metal spoon in a pot of boiling soup, the handle will probably become", "hot", ["colder", "softer like rubber"]),
    ("Which container is best for watering a plant?", "a watering can", ["a colander", "an envelope"]),
    ("To make a room cooler on a hot night, you could", "open the windows and use a fan", ["light the fireplace"]),
    ("You want to send a letter to a friend abroad. What do you need on the envelope?", "the address and a stamp",
     ["a photograph of yourself", "nothing at all"]),
    ("Ana's little brother is scared of the thunder. What could she do to help?", "sit with him and tell him he is safe",
     ["tell him scary stories", "turn off all the lights and leave"]),
    ("Your colleague looks confused after a long explanation. What is a good response?", "ask whether you should explain it another way",
     ["walk away", "repeat the same words louder"]),
    ("Ben promised to help his friend move house but is sick on the day. What should he do?", "call his friend early and explain",
     ["not answer his phone", "go and cough on everyone"]),
    ("A waiter brings the wrong dish. What is a polite response?", "kindly tell the waiter about the mistake",
     ["shout at the waiter", "throw the plate"]),
    ("Someone sneezes near you. In many English-speaking countries people say", "bless you", ["congratulations", "happy new year"]),
    ("If you touch a cactus, you will likely feel", "a prick from its spines", ["a soft fur", "an electric shock"]),
    ("To move a heavy sofa across a room without scratching the floor, you could", "put felt pads under its legs",
     ["drag it on its bare wooden feet"]),
    ("Why do people wear sunglasses on a bright day?", "to protect their eyes from the glare", ["to see better in the dark"]),
    ("To keep bread from going stale quickly, you should", "keep it in a closed bag", ["leave it uncovered on the counter"]),
    ("To see what is on a high shelf you cannot reach, you could", "stand on a sturdy step stool", ["stand on a wobbly office chair with wheels"]),
    ("A child's balloon floats up to the ceiling. What is most likely inside it?", "helium", ["water", "sand"]),
    ("It is snowing and icy. How should a person drive?", "slowly and carefully", ["as fast as possible"]),
    ("To make a paper plane fly farther, you should throw it", "gently forward", ["straight down at the floor"]),
    ("Lena receives a gift she does not like from her grandmother. What is the considerate reaction?", "thank her for the thought",
     ["tell her it is ugly", "throw it away in front of her"]),
    ("Omar arrives at a friend's house for dinner. What might he bring as a polite gesture?", "some flowers or dessert",
     ["his laundry", "a bag of rubbish"]),
    ("After borrowing a friend's car, what is a considerate thing to do?", "return it with a full tank",
     ["return it with an empty tank and no thanks"]),
    ("A team loses the final after a hard season. How do the players most likely feel?", "disappointed", ["delighted", "sleepy"]),
    ("Kai is practising the drums at midnight in a flat with thin walls. How might the neighbours feel?", "annoyed",
     ["grateful", "hungry"]),
    ("Which is the better way to cool a very hot drink quickly?", "pour it into a wide, shallow cup", ["cover it with a blanket"]),
    ("To keep mosquitoes out of a bedroom at night, you can", "close the window screens", ["leave a bright light on by the open window"]),
    ("To soften butter straight from the fridge, you can", "leave it at room temperature for a while", ["put it in the freezer"]),
    ("Which would float best as a makeshift raft?", "a large plastic barrel sealed shut", ["a stack of bricks", "a metal bucket full of water"]),
    ("If a friend's phone is ringing while she is in the shower, you might", "tell her that her phone rang", ["answer it and pretend to be her"]),
    ("A toddler is reaching for a hot stove. What should an adult do?", "move the child away right away", ["wait to see what happens"]),
    ("Your plant is growing towards the window. Why?", "it grows towards the light", ["it wants to escape the room", "the window is cold"]),
    ("To keep a bicycle from being stolen outside a shop, you should", "lock it to a fixed rack", ["leave the key in the lock"]),
]


def commonsense_reasoning():
    rng = random.Random(SEED + 5)
    rows = mc_rows(rng, COMMONSENSE)
    fewshot, test = rows[:3], rows[3:]
    manifest = mc_manifest("commonsense_reasoning", "", "Question: {{ question }}\nAnswer:", ["acc", "acc_norm"])
    sizes = [len(r["choices"]) for r in test]
    card = f"""# commonsense_reasoning

Measures physical and social commonsense: how everyday objects behave (what sinks, what breaks, how to keep food fresh or a candle lit) and how people feel or should act in ordinary situations (a forgotten birthday, a broken window, a new student alone at lunch). There are {len(test)} test and {len(fewshot)} few-shot items with {min(sizes)} or {max(sizes)} choices ({sizes.count(2)} with two, {sizes.count(3)} with three), scored by log-likelihood of each answer (`acc`, and `acc_norm` normalised by length). The questions and answers were written for this project and `datasets/_generators/general.py` shuffles the choice order with a fixed seed. Known limits: the wrong answers are usually clearly wrong, so the set separates weak from reasonable models rather than ranking strong ones; social answers reflect common English-speaking norms, which are not universal; and two-choice items have a 50% chance level, so the mean should be read against the mixed chance level of about {sum(1 / s for s in sizes) / len(sizes):.0%}.
"""
    return dataset_files("commonsense_reasoning", manifest, test, fewshot, card)


def main():
    check = "--check" in sys.argv[1:]
    files = {}
    files.update(boolean_questions())
    files.update(sentence_completion())
    files.update(quick_facts())
    files.update(world_knowledge())
    files.update(reading_comprehension())
    files.update(commonsense_reasoning())
    return emit(files, check)


if __name__ == "__main__":
    sys.exit(main())
