#!/usr/bin/env python3
"""Generates the geospatial datasets of the catalog from the fact tables in this file.

Writes, under `datasets/`:
  spatial_reasoning/      multiple choice: relative positions, compass directions, distances
  coordinate_processing/  generate_until: coordinates in decimal degrees (distance_accuracy)
  address_parsing/        generate_until: one field of a made-up postal address (exact_match)
  location_ner/           generate_until: every place name in a sentence (span_f1)
  ner_locations/          multiple choice: what kind of place a name denotes
  satellite_scene_qa/     manifest and card only (image data not shipped)
  spoken_directions/      manifest and card only (audio data not shipped)

Each dataset directory gets `manifest.yaml`, `README.md` and, where it has data, `test.jsonl`
and `fewshot.jsonl`. The output is reproducible byte for byte: a fixed seed, fixed key order,
one JSON object per line, `\\n` line endings.

Usage:
  python3 datasets/_generators/geo.py           rewrite the files
  python3 datasets/_generators/geo.py --check   exit 1 if the files on disk differ or fail validation

Standard library only (Python 3.11).
"""

import math
import random
import re
import sys
from functools import partial

from common import load_schema, manifest_problems, rows_problems, run, to_jsonl, to_yaml

SEED = 20240917

# --------------------------------------------------------------------------------------------
# Fact tables. Coordinates are decimal degrees (north and east positive) of city centres,
# as given by common public references; the coordinate task accepts answers within 50 km.
# --------------------------------------------------------------------------------------------

# (country, capital, lat, lon)
CAPITALS = [
    ("France", "Paris", 48.8566, 2.3522),
    ("Germany", "Berlin", 52.5200, 13.4050),
    ("Spain", "Madrid", 40.4168, -3.7038),
    ("Italy", "Rome", 41.9028, 12.4964),
    ("the United Kingdom", "London", 51.5074, -0.1278),
    ("Portugal", "Lisbon", 38.7223, -9.1393),
    ("Ireland", "Dublin", 53.3498, -6.2603),
    ("the Netherlands", "Amsterdam", 52.3676, 4.9041),
    ("Belgium", "Brussels", 50.8503, 4.3517),
    ("Austria", "Vienna", 48.2082, 16.3738),
    ("Switzerland", "Bern", 46.9480, 7.4474),
    ("Poland", "Warsaw", 52.2297, 21.0122),
    ("the Czech Republic", "Prague", 50.0755, 14.4378),
    ("Hungary", "Budapest", 47.4979, 19.0402),
    ("Greece", "Athens", 37.9838, 23.7275),
    ("Sweden", "Stockholm", 59.3293, 18.0686),
    ("Norway", "Oslo", 59.9139, 10.7522),
    ("Denmark", "Copenhagen", 55.6761, 12.5683),
    ("Finland", "Helsinki", 60.1699, 24.9384),
    ("Iceland", "Reykjavik", 64.1466, -21.9426),
    ("Russia", "Moscow", 55.7558, 37.6173),
    ("Ukraine", "Kyiv", 50.4501, 30.5234),
    ("Romania", "Bucharest", 44.4268, 26.1025),
    ("Bulgaria", "Sofia", 42.6977, 23.3219),
    ("Serbia", "Belgrade", 44.7866, 20.4489),
    ("Croatia", "Zagreb", 45.8150, 15.9819),
    ("Turkey", "Ankara", 39.9334, 32.8597),
    ("Egypt", "Cairo", 30.0444, 31.2357),
    ("Morocco", "Rabat", 34.0209, -6.8416),
    ("Algeria", "Algiers", 36.7538, 3.0588),
    ("Tunisia", "Tunis", 36.8065, 10.1815),
    ("Kenya", "Nairobi", -1.2921, 36.8219),
    ("Nigeria", "Abuja", 9.0765, 7.3986),
    ("Ethiopia", "Addis Ababa", 9.0300, 38.7400),
    ("Ghana", "Accra", 5.6037, -0.1870),
    ("Senegal", "Dakar", 14.7167, -17.4677),
    ("Angola", "Luanda", -8.8390, 13.2894),
    ("Japan", "Tokyo", 35.6762, 139.6503),
    ("China", "Beijing", 39.9042, 116.4074),
    ("South Korea", "Seoul", 37.5665, 126.9780),
    ("India", "New Delhi", 28.6139, 77.2090),
    ("Thailand", "Bangkok", 13.7563, 100.5018),
    ("the Philippines", "Manila", 14.5995, 120.9842),
    ("Vietnam", "Hanoi", 21.0285, 105.8542),
    ("Mongolia", "Ulaanbaatar", 47.8864, 106.9057),
    ("Nepal", "Kathmandu", 27.7172, 85.3240),
    ("Bangladesh", "Dhaka", 23.8103, 90.4125),
    ("Pakistan", "Islamabad", 33.6844, 73.0479),
    ("Iran", "Tehran", 35.6892, 51.3890),
    ("Saudi Arabia", "Riyadh", 24.7136, 46.6753),
    ("Australia", "Canberra", -35.2809, 149.1300),
    ("New Zealand", "Wellington", -41.2865, 174.7762),
    ("Canada", "Ottawa", 45.4215, -75.6972),
    ("the United States", "Washington, D.C.", 38.9072, -77.0369),
    ("Mexico", "Mexico City", 19.4326, -99.1332),
    ("Cuba", "Havana", 23.1136, -82.3666),
    ("Colombia", "Bogotá", 4.7110, -74.0721),
    ("Venezuela", "Caracas", 10.4806, -66.9036),
    ("Ecuador", "Quito", -0.1807, -78.4678),
    ("Peru", "Lima", -12.0464, -77.0428),
    ("Brazil", "Brasília", -15.7939, -47.8828),
    ("Chile", "Santiago", -33.4489, -70.6693),
    ("Argentina", "Buenos Aires", -34.6037, -58.3816),
    ("Uruguay", "Montevideo", -34.9011, -56.1645),
]

# Large cities that are not national capitals: (name, country, lat, lon)
CITIES = [
    ("New York City", "the United States", 40.7128, -74.0060),
    ("Los Angeles", "the United States", 34.0522, -118.2437),
    ("Chicago", "the United States", 41.8781, -87.6298),
    ("San Francisco", "the United States", 37.7749, -122.4194),
    ("Seattle", "the United States", 47.6062, -122.3321),
    ("Miami", "the United States", 25.7617, -80.1918),
    ("Anchorage", "the United States", 61.2181, -149.9003),
    ("Honolulu", "the United States", 21.3069, -157.8583),
    ("Toronto", "Canada", 43.6532, -79.3832),
    ("Vancouver", "Canada", 49.2827, -123.1207),
    ("Montreal", "Canada", 45.5017, -73.5673),
    ("Sydney", "Australia", -33.8688, 151.2093),
    ("Melbourne", "Australia", -37.8136, 144.9631),
    ("Perth", "Australia", -31.9505, 115.8605),
    ("Auckland", "New Zealand", -36.8485, 174.7633),
    ("Rio de Janeiro", "Brazil", -22.9068, -43.1729),
    ("São Paulo", "Brazil", -23.5505, -46.6333),
    ("Istanbul", "Turkey", 41.0082, 28.9784),
    ("Mumbai", "India", 19.0760, 72.8777),
    ("Karachi", "Pakistan", 24.8607, 67.0011),
    ("Shanghai", "China", 31.2304, 121.4737),
    ("Hong Kong", "China", 22.3193, 114.1694),
    ("Osaka", "Japan", 34.6937, 135.5023),
    ("Jakarta", "Indonesia", -6.2088, 106.8456),
    ("Kuala Lumpur", "Malaysia", 3.1390, 101.6869),
    ("Singapore", "Singapore", 1.3521, 103.8198),
    ("Dubai", "the United Arab Emirates", 25.2048, 55.2708),
    ("Cape Town", "South Africa", -33.9249, 18.4241),
    ("Johannesburg", "South Africa", -26.2041, 28.0473),
    ("Lagos", "Nigeria", 6.5244, 3.3792),
    ("Casablanca", "Morocco", 33.5731, -7.5898),
    ("Barcelona", "Spain", 41.3874, 2.1686),
    ("Munich", "Germany", 48.1351, 11.5820),
    ("Hamburg", "Germany", 53.5511, 9.9937),
    ("Milan", "Italy", 45.4642, 9.1900),
    ("Naples", "Italy", 40.8518, 14.2681),
    ("Venice", "Italy", 45.4408, 12.3155),
    ("Marseille", "France", 43.2965, 5.3698),
    ("Lyon", "France", 45.7640, 4.8357),
    ("Zurich", "Switzerland", 47.3769, 8.5417),
    ("Geneva", "Switzerland", 46.2044, 6.1432),
    ("Edinburgh", "the United Kingdom", 55.9533, -3.1883),
    ("Kraków", "Poland", 50.0647, 19.9450),
    ("Saint Petersburg", "Russia", 59.9311, 30.3609),
]

# (name as used in a sentence, lat, lon)
LANDMARKS = [
    ("the Eiffel Tower", 48.8584, 2.2945),
    ("the Statue of Liberty", 40.6892, -74.0445),
    ("the Sydney Opera House", -33.8568, 151.2153),
    ("the Colosseum in Rome", 41.8902, 12.4922),
    ("the Taj Mahal", 27.1751, 78.0421),
    ("the Great Pyramid of Giza", 29.9792, 31.1342),
    ("Machu Picchu", -13.1631, -72.5450),
    ("the summit of Mount Everest", 27.9881, 86.9250),
    ("the summit of Mount Kilimanjaro", -3.0674, 37.3556),
    ("the summit of Mount Fuji", 35.3606, 138.7274),
    ("the Golden Gate Bridge", 37.8199, -122.4783),
    ("Christ the Redeemer statue in Rio de Janeiro", -22.9519, -43.2105),
    ("the Acropolis of Athens", 37.9715, 23.7257),
    ("Angkor Wat", 13.4125, 103.8670),
    ("Stonehenge", 51.1789, -1.8262),
    ("the Sagrada Família", 41.4036, 2.1744),
    ("the Burj Khalifa", 25.1972, 55.2744),
    ("Chichen Itza", 20.6843, -88.5678),
]

# Display names in the spatial questions: unambiguous, and free of commas (choices are listed
# with commas).
QUALIFIED = {"Santiago": "Santiago de Chile", "Perth": "Perth (Australia)", "Washington, D.C.": "Washington D.C."}


def places():
    """All cities (capitals and others) as (display name, lat, lon)."""
    out = [(QUALIFIED.get(c, c), la, lo) for _, c, la, lo in CAPITALS]
    out += [(QUALIFIED.get(c, c), la, lo) for c, _, la, lo in CITIES]
    return out


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------

EARTH_RADIUS_KM = 6371.0088


def haversine_km(a, b):
    la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def initial_bearing(a, b):
    """Great-circle initial bearing from a to b, degrees clockwise from north."""
    la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    y = math.sin(lo2 - lo1) * math.cos(la2)
    x = math.cos(la1) * math.sin(la2) - math.sin(la1) * math.cos(la2) * math.cos(lo2 - lo1)
    return math.degrees(math.atan2(y, x)) % 360


def rhumb_bearing(a, b):
    """Constant-heading (loxodrome) bearing from a to b, degrees clockwise from north."""
    la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    dlon = (lo2 - lo1 + math.pi) % (2 * math.pi) - math.pi
    dpsi = math.log(math.tan(math.pi / 4 + la2 / 2) / math.tan(math.pi / 4 + la1 / 2))
    return math.degrees(math.atan2(dlon, dpsi)) % 360


def angle_diff(x, y):
    return abs((x - y + 180) % 360 - 180)


def sector(bearings, names, margin):
    """The compass sector every bearing lies in, at least `margin` degrees inside its edges."""
    width = 360 / len(names)
    found = None
    for b in bearings:
        i = round(b / width) % len(names)
        if angle_diff(b, i * width) > width / 2 - margin:
            return None
        if found is not None and found != i:
            return None
        found = i
    return names[found]


# --------------------------------------------------------------------------------------------
# spatial_reasoning
# --------------------------------------------------------------------------------------------

COMPASS4 = ["north", "east", "south", "west"]
COMPASS8 = ["north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest"]


def mc_item(question, choices, gold, kind, rng):
    order = list(choices)
    rng.shuffle(order)
    return {"question": question, "choices": order, "answer": order.index(gold), "kind": kind}


def or_list(names):
    return ", ".join(names[:-1]) + " or " + names[-1]


def spatial_compare(rng, pts, axis):
    """'Which city is farther north: A or B?' (and south, east, west)."""
    a, b = rng.sample(pts, 2)
    if axis in ("north", "south"):
        if abs(a[1] - b[1]) < 3:
            return None
        hi = a if a[1] > b[1] else b
        lo = b if hi is a else a
        gold = hi if axis == "north" else lo
    else:
        # Compare longitudes only where "east of" is unambiguous (well away from 180 degrees apart).
        d = b[2] - a[2]
        if not 4 <= abs(d) <= 120:
            return None
        hi = a if a[2] > b[2] else b
        lo = b if hi is a else a
        gold = hi if axis == "east" else lo
    q = f"Which city is farther {axis}: {a[0]} or {b[0]}?"
    return mc_item(q, [a[0], b[0]], gold[0], f"compare_{axis}", rng)


def spatial_extreme(rng, pts, axis):
    """'Which of these cities is the farthest north?' over 3 or 4 cities."""
    group = rng.sample(pts, rng.choice([3, 4]))
    idx = 1 if axis in ("north", "south") else 2
    if idx == 2 and max(p[2] for p in group) - min(p[2] for p in group) > 120:
        return None
    key = sorted(group, key=lambda p: p[idx], reverse=axis in ("north", "east"))
    if abs(key[0][idx] - key[1][idx]) < 3:
        return None
    q = f"Which of these cities is the farthest {axis}: {or_list([p[0] for p in group])}?"
    return mc_item(q, [p[0] for p in group], key[0][0], f"extreme_{axis}", rng)


def spatial_direction(rng, pts, eight):
    """'In which direction is X from Y?' for city pairs 300 to 2500 km apart."""
    a, b = rng.sample(pts, 2)
    d = haversine_km((a[1], a[2]), (b[1], b[2]))
    if not 300 <= d <= 2500:
        return None
    bearings = [initial_bearing((b[1], b[2]), (a[1], a[2])), rhumb_bearing((b[1], b[2]), (a[1], a[2]))]
    names = COMPASS8 if eight else COMPASS4
    gold = sector(bearings, names, margin=10 if eight else 15)
    if gold is None:
        return None
    q = f"In which compass direction is {a[0]} from {b[0]}?"
    kind = "direction8" if eight else "direction4"
    return {"question": q, "choices": list(names), "answer": names.index(gold), "kind": kind}


def spatial_closest(rng, pts):
    """'Which of these cities is closest to X?' over 3 or 4 candidates with a clear winner."""
    group = rng.sample(pts, rng.choice([4, 5]))
    ref, cands = group[0], group[1:]
    dist = sorted(cands, key=lambda p: haversine_km((ref[1], ref[2]), (p[1], p[2])))
    d0 = haversine_km((ref[1], ref[2]), (dist[0][1], dist[0][2]))
    d1 = haversine_km((ref[1], ref[2]), (dist[1][1], dist[1][2]))
    if d0 > 0.6 * d1:
        return None
    q = f"Which of these cities is closest to {ref[0]}: {or_list([p[0] for p in cands])}?"
    return mc_item(q, [p[0] for p in cands], dist[0][0], "closest", rng)


def spatial_farther(rng, pts):
    """'Which is farther from X: A or B?' with a clear margin."""
    ref, a, b = rng.sample(pts, 3)
    da = haversine_km((ref[1], ref[2]), (a[1], a[2]))
    db = haversine_km((ref[1], ref[2]), (b[1], b[2]))
    if max(da, db) < 1.6 * min(da, db):
        return None
    gold = a if da > db else b
    q = f"Which city is farther from {ref[0]}: {a[0]} or {b[0]}?"
    return mc_item(q, [a[0], b[0]], gold[0], "farther", rng)


def spatial_hemisphere(rng, pts, equator):
    """Which side of the equator or of the prime meridian; the gold side is drawn first, so both
    sides are equally likely despite most large cities lying north and east."""
    if equator:
        choices = ["the Northern Hemisphere", "the Southern Hemisphere"]
        gold = rng.choice(choices)
        side = [p for p in pts if (p[1] >= 3 if gold == choices[0] else p[1] <= -3)]
        q = "Is {} in the Northern Hemisphere or the Southern Hemisphere?"
        kind = "hemisphere_ns"
    else:
        choices = ["east of it", "west of it"]
        gold = rng.choice(choices)
        side = [p for p in pts if (p[2] >= 3 if gold == choices[0] else p[2] <= -3)]
        q = "Is {} east or west of the prime meridian?"
        kind = "hemisphere_ew"
    p = rng.choice(side)
    return {"question": q.format(p[0]), "choices": choices, "answer": choices.index(gold), "kind": kind}


def build_spatial(rng):
    pts = places()
    plan = [  # (maker, test count, fewshot count)
        (partial(spatial_compare, axis="north"), 5, 1),
        (partial(spatial_compare, axis="south"), 5, 0),
        (partial(spatial_compare, axis="east"), 5, 0),
        (partial(spatial_compare, axis="west"), 5, 0),
        (partial(spatial_extreme, axis="north"), 4, 0),
        (partial(spatial_extreme, axis="south"), 4, 1),
        (partial(spatial_extreme, axis="east"), 3, 0),
        (partial(spatial_extreme, axis="west"), 3, 0),
        (partial(spatial_direction, eight=False), 12, 1),
        (partial(spatial_direction, eight=True), 12, 0),
        (spatial_closest, 12, 1),
        (spatial_farther, 8, 0),
        (partial(spatial_hemisphere, equator=True), 4, 1),
        (partial(spatial_hemisphere, equator=False), 4, 0),
    ]
    return take_plan(rng, pts, plan)


def take_plan(rng, pts, plan):
    """Draws items from each maker until its quota is met; distinct questions only."""
    test, fewshot, seen = [], [], set()
    for maker, n_test, n_few in plan:
        got = []
        tries = 0
        while len(got) < n_test + n_few:
            tries += 1
            if tries > 20000:
                raise RuntimeError(f"{maker}: could not draw {n_test + n_few} items")
            item = maker(rng, pts)
            if item is None or item["question"] in seen:
                continue
            seen.add(item["question"])
            got.append(item)
        fewshot += got[:n_few]
        test += got[n_few:]
    return test, fewshot


# --------------------------------------------------------------------------------------------
# coordinate_processing
# --------------------------------------------------------------------------------------------


def fmt_pair(lat, lon):
    return f"{lat:.4f}, {lon:.4f}"


def to_dms(value):
    """Degrees, minutes, seconds (rounded to the nearest second) of |value|."""
    total = round(abs(value) * 3600)
    return total // 3600, (total % 3600) // 60, total % 60


def dms_text(lat, lon):
    d1, m1, s1 = to_dms(lat)
    d2, m2, s2 = to_dms(lon)
    ns = "N" if lat >= 0 else "S"
    ew = "E" if lon >= 0 else "W"
    return f"{d1}°{m1:02d}′{s1:02d}″{ns}, {d2}°{m2:02d}′{s2:02d}″{ew}"


def dms_value(value):
    d, m, s = to_dms(value)
    v = d + m / 60 + s / 3600
    return round(-v if value < 0 else v, 4)


def coord_row(question, lat, lon, kind):
    return {"question": question, "answer": fmt_pair(lat, lon), "lat": lat, "lon": lon, "kind": kind}


def build_coordinates(rng):
    rows = []
    caps = rng.sample(CAPITALS, 30)
    for i, (country, capital, lat, lon) in enumerate(caps):
        if i % 2 == 0:
            q = f"Give the latitude and longitude of the capital of {country} in decimal degrees."
        else:
            q = f"Give the latitude and longitude of {capital}, the capital of {country}, in decimal degrees."
        rows.append(coord_row(q, lat, lon, "capital"))
    for city, country, lat, lon in rng.sample(CITIES, 14):
        q = f"Give the latitude and longitude of {city}, {country.removeprefix('the ')}, in decimal degrees."
        rows.append(coord_row(q, lat, lon, "city"))
    for name, lat, lon in rng.sample(LANDMARKS, 10):
        q = f"Give the latitude and longitude of {name} in decimal degrees."
        rows.append(coord_row(q, lat, lon, "landmark"))
    pool = [(c, la, lo) for _, c, la, lo in CAPITALS] + [(c, la, lo) for c, _, la, lo in CITIES]
    for _, lat, lon in rng.sample(pool, 8):
        q = f"Convert the position {dms_text(lat, lon)} to decimal degrees."
        rows.append(coord_row(q, dms_value(lat), dms_value(lon), "dms"))
    for _, lat, lon in rng.sample(pool, 8):
        ns = "N" if lat >= 0 else "S"
        ew = "E" if lon >= 0 else "W"
        q = f"Write the position {abs(lat):.4f}° {ns}, {abs(lon):.4f}° {ew} as signed decimal degrees."
        rows.append(coord_row(q, lat, lon, "signed"))
    rows = dedupe_by(rows, "question")
    rng.shuffle(rows)
    fewshot = [
        coord_row("Give the latitude and longitude of Porto, Portugal, in decimal degrees.", 41.1579, -8.6291, "city"),
        coord_row("Give the latitude and longitude of Big Ben in London in decimal degrees.", 51.5007, -0.1246, "landmark"),
        # Valparaíso, Chile (not in the tables above, so not in the test split).
        coord_row(f"Convert the position {dms_text(-33.0472, -71.6127)} to decimal degrees.",
                  dms_value(-33.0472), dms_value(-71.6127), "dms"),
        coord_row("Give the latitude and longitude of the capital of Kazakhstan in decimal degrees.", 51.1694, 71.4491, "capital"),
    ]
    return rows, fewshot


# --------------------------------------------------------------------------------------------
# address_parsing: made-up street addresses in each country's national format
# --------------------------------------------------------------------------------------------

UK_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # letters used in the inward code
NL_LETTERS = "ABCDEGHJKLMNPRTVWXZ"
CA_LETTERS = "ABCEGHJKLMNPRSTVWXYZ"  # Canadian postal codes never use D, F, I, O, Q, U


def addr_us(rng):
    city, state, zipc = rng.choice([
        ("Springfield", "IL", "62701"), ("Austin", "TX", "78701"), ("Denver", "CO", "80202"),
        ("Seattle", "WA", "98101"), ("Boston", "MA", "02108"), ("Portland", "OR", "97204"),
        ("Madison", "WI", "53703"),
    ])
    street = rng.choice(["Maple Avenue", "Cedar Street", "Oak Ridge Drive", "Willow Lane", "Harbor View Road"])
    lines = [f"{rng.randint(10, 9899)} {street}"]
    if rng.random() < 0.4:
        lines.append(f"Apt {rng.randint(1, 12)}{rng.choice('ABCD')}")
    lines += [f"{city}, {state} {zipc}", "USA"]
    return lines, {"postal_code": zipc, "city": city, "country": "USA"}, "ZIP code", "city"


def addr_uk(rng):
    town, outward = rng.choice([
        ("LEEDS", "LS1"), ("MANCHESTER", "M1"), ("BRISTOL", "BS1"), ("EDINBURGH", "EH1"),
        ("CARDIFF", "CF10"), ("OXFORD", "OX1"), ("YORK", "YO1"),
    ])
    inward = f"{rng.randint(1, 9)}{rng.choice(UK_INWARD_LETTERS)}{rng.choice(UK_INWARD_LETTERS)}"
    pc = f"{outward} {inward}"
    street = rng.choice(["Station Road", "Church Street", "Mill Close", "Orchard Way", "Victoria Terrace"])
    lines = []
    if rng.random() < 0.4:
        lines.append(f"Flat {rng.randint(1, 20)}")
    lines += [f"{rng.randint(1, 180)} {street}", town, pc, "United Kingdom"]
    return lines, {"postal_code": pc, "city": town, "country": "United Kingdom"}, "postcode", "post town"


def addr_de(rng):
    city, plz = rng.choice([
        ("Berlin", "10115"), ("München", "80331"), ("Hamburg", "20095"), ("Köln", "50667"),
        ("Frankfurt am Main", "60311"), ("Leipzig", "04109"), ("Dresden", "01067"), ("Stuttgart", "70173"),
    ])
    street = rng.choice(["Lindenstraße", "Gartenweg", "Birkenallee", "Schillerstraße", "Am Mühlbach"])
    lines = [f"{street} {rng.randint(1, 140)}", f"{plz} {city}", "Germany"]
    return lines, {"postal_code": plz, "city": city, "country": "Germany"}, "postal code", "city"


def addr_fr(rng):
    city, cp = rng.choice([
        ("PARIS", f"750{rng.randint(1, 20):02d}"), ("LYON", f"6900{rng.randint(1, 9)}"),
        ("MARSEILLE", f"130{rng.randint(1, 16):02d}"), ("TOULOUSE", "31000"), ("BORDEAUX", "33000"),
        ("NANTES", "44000"), ("LILLE", "59000"), ("STRASBOURG", "67000"),
    ])
    street = rng.choice(["rue des Lilas", "avenue Victor Hugo", "rue du Moulin", "boulevard des Pins", "impasse des Tilleuls"])
    lines = [f"{rng.randint(1, 120)} {street}", f"{cp} {city}", "France"]
    return lines, {"postal_code": cp, "city": city, "country": "France"}, "postal code", "city"


def addr_it(rng):
    city, prov, cap = rng.choice([
        ("Roma", "RM", "00184"), ("Milano", "MI", "20121"), ("Napoli", "NA", "80133"),
        ("Torino", "TO", "10121"), ("Firenze", "FI", "50122"), ("Bologna", "BO", "40121"),
    ])
    street = rng.choice(["Via Garibaldi", "Via dei Mille", "Corso Italia", "Via delle Rose", "Viale dei Pini"])
    lines = [f"{street} {rng.randint(1, 90)}", f"{cap} {city} {prov}", "Italy"]
    return lines, {"postal_code": cap, "city": city, "country": "Italy"}, "postal code", "city"


def addr_es(rng):
    city, cp = rng.choice([
        ("Madrid", "28013"), ("Barcelona", "08002"), ("Valencia", "46002"), ("Sevilla", "41004"), ("Bilbao", "48005"),
    ])
    street = rng.choice(["Calle del Olmo", "Calle de la Luna", "Avenida de la Paz", "Calle Mayor", "Calle de los Almendros"])
    lines = [f"{street}, {rng.randint(1, 80)}, {rng.randint(1, 6)}º {rng.choice('ABCD')}", f"{cp} {city}", "Spain"]
    return lines, {"postal_code": cp, "city": city, "country": "Spain"}, "postal code", "city"


def addr_nl(rng):
    city, digits = rng.choice([
        ("Amsterdam", "1015"), ("Rotterdam", "3011"), ("Utrecht", "3511"), ("Den Haag", "2511"), ("Eindhoven", "5611"),
    ])
    pc = f"{digits} {rng.choice(NL_LETTERS)}{rng.choice(NL_LETTERS)}"
    street = rng.choice(["Tulpstraat", "Molenweg", "Lindengracht", "Dorpsstraat", "Kastanjelaan"])
    lines = [f"{street} {rng.randint(1, 200)}", f"{pc} {city}", "Netherlands"]
    return lines, {"postal_code": pc, "city": city, "country": "Netherlands"}, "postal code", "city"


def addr_se(rng):
    city, first = rng.choice([
        ("Stockholm", f"11{rng.randint(1, 8)}"), ("Göteborg", "411"), ("Malmö", "211"), ("Uppsala", "753"),
    ])
    pc = f"{first} {rng.randint(10, 99)}"
    street = rng.choice(["Storgatan", "Björkvägen", "Ekvägen", "Kyrkogatan", "Skolgatan"])
    lines = [f"{street} {rng.randint(1, 60)}", f"{pc} {city}", "Sweden"]
    return lines, {"postal_code": pc, "city": city, "country": "Sweden"}, "postal code", "city"


def addr_pl(rng):
    city, first = rng.choice([
        ("Warszawa", "00"), ("Kraków", "31"), ("Gdańsk", "80"), ("Wrocław", "50"), ("Poznań", "61"),
    ])
    pc = f"{first}-{rng.randint(100, 999)}"
    street = rng.choice(["ul. Lipowa", "ul. Ogrodowa", "ul. Polna", "ul. Słoneczna", "ul. Kwiatowa"])
    lines = [f"{street} {rng.randint(1, 90)} m. {rng.randint(1, 40)}", f"{pc} {city}", "Poland"]
    return lines, {"postal_code": pc, "city": city, "country": "Poland"}, "postal code", "city"


def addr_ch(rng):
    city, npa = rng.choice([
        ("Zürich", "8001"), ("Bern", "3011"), ("Genève", "1204"), ("Basel", "4051"), ("Lausanne", "1003"),
    ])
    street = rng.choice(["Seestrasse", "Dorfstrasse", "Kirchweg", "Gartenstrasse", "Rosenweg"])
    lines = [f"{street} {rng.randint(1, 70)}", f"{npa} {city}", "Switzerland"]
    return lines, {"postal_code": npa, "city": city, "country": "Switzerland"}, "postal code", "city"


def addr_br(rng):
    city, uf, first = rng.choice([
        ("São Paulo", "SP", "01"), ("Rio de Janeiro", "RJ", "20"), ("Belo Horizonte", "MG", "30"),
        ("Curitiba", "PR", "80"), ("Porto Alegre", "RS", "90"), ("Salvador", "BA", "40"),
    ])
    cep = f"{first}{rng.randint(0, 999):03d}-{rng.randint(0, 99) * 10:03d}"
    street = rng.choice(["Rua das Flores", "Rua das Palmeiras", "Avenida Sete de Setembro", "Rua do Comércio", "Rua Bela Vista"])
    lines = [f"{street}, {rng.randint(10, 1999)} - Apto {rng.randint(11, 94)}", "Centro", f"{city} - {uf}", cep, "Brazil"]
    return lines, {"postal_code": cep, "city": city, "country": "Brazil"}, "postal code (CEP)", "city"


def addr_in(rng):
    city, state, pin = rng.choice([
        ("Bengaluru", "Karnataka", "560001"), ("Mumbai", "Maharashtra", "400001"), ("New Delhi", "Delhi", "110001"),
        ("Chennai", "Tamil Nadu", "600001"), ("Kolkata", "West Bengal", "700001"), ("Hyderabad", "Telangana", "500001"),
    ])
    bldg = rng.choice(["Lotus Apartments", "Green Park Residency", "Sunrise Towers", "Shanti Niketan Apartments"])
    street = rng.choice(["Station Road", "Temple Street", "Lake View Road", "Market Road"])
    lines = [f"Flat {rng.randint(1, 40)}, {bldg}", f"{rng.randint(1, 120)} {street}", f"{city} - {pin}", state, "India"]
    return lines, {"postal_code": pin, "city": city, "country": "India"}, "PIN code", "city"


def addr_au(rng):
    suburb, state, pc = rng.choice([
        ("SURRY HILLS", "NSW", "2010"), ("FITZROY", "VIC", "3065"), ("SOUTH BRISBANE", "QLD", "4101"),
        ("FREMANTLE", "WA", "6160"), ("GLENELG", "SA", "5045"), ("SANDY BAY", "TAS", "7005"),
    ])
    street = rng.choice(["Banksia Street", "Wattle Avenue", "Ocean Parade", "Jacaranda Crescent"])
    lines = [f"Unit {rng.randint(1, 20)}, {rng.randint(1, 150)} {street}", f"{suburb} {state} {pc}", "Australia"]
    return lines, {"postal_code": pc, "city": suburb, "country": "Australia"}, "postcode", "suburb"


def addr_jp(rng):
    city, district, ward, pc, chome = rng.choice([
        ("Tokyo", "Shibuya", "Shibuya-ku", "150-0002", 4), ("Tokyo", "Shinjuku", "Shinjuku-ku", "160-0022", 7),
        ("Tokyo", "Marunouchi", "Chiyoda-ku", "100-0005", 3), ("Osaka", "Umeda", "Kita-ku", "530-0001", 3),
    ])
    num = f"{rng.randint(1, chome)}-{rng.randint(1, 25)}-{rng.randint(1, 20)}"
    lines = [f"{num} {district}, {ward}", f"{city} {pc}", "Japan"]
    return lines, {"postal_code": pc, "city": city, "country": "Japan"}, "postal code", "city"


def addr_ca(rng):
    city, prov, fsa = rng.choice([
        ("TORONTO", "ON", "M5V"), ("VANCOUVER", "BC", "V6B"), ("OTTAWA", "ON", "K1P"),
        ("CALGARY", "AB", "T2P"), ("MONTRÉAL", "QC", "H3B"), ("HALIFAX", "NS", "B3J"),
    ])
    pc = f"{fsa} {rng.randint(0, 9)}{rng.choice(CA_LETTERS)}{rng.randint(0, 9)}"
    street = rng.choice(["MAPLE STREET", "SPRUCE AVENUE", "LAKESHORE ROAD", "BIRCH CRESCENT"])
    lines = [f"{rng.randint(10, 2999)} {street}", f"{city} {prov}  {pc}", "Canada"]
    return lines, {"postal_code": pc, "city": city, "country": "Canada"}, "postal code", "city"


ADDRESS_MAKERS = [addr_us, addr_uk, addr_de, addr_fr, addr_it, addr_es, addr_nl, addr_se,
                  addr_pl, addr_ch, addr_br, addr_in, addr_au, addr_jp, addr_ca]


def address_row(rng, maker, field):
    lines, fields, postal_label, city_label = maker(rng)
    question = {
        "postal_code": f"What is the {postal_label}?",
        "city": f"What is the {city_label}?",
        "country": "What is the country?",
    }[field]
    return {"address": "\n".join(lines), "question": question, "answer": fields[field], "field": field,
            "format": maker.__name__.removeprefix("addr_")}


def build_addresses(rng):
    fields = ["postal_code", "city", "postal_code", "country", "city"]
    rows = []
    for rnd in range(5):
        for i, maker in enumerate(ADDRESS_MAKERS):
            rows.append(address_row(rng, maker, fields[(i + rnd) % len(fields)]))
    rows = dedupe_by(rows, "address")
    rng.shuffle(rows)
    few_rng = random.Random(SEED + 1)
    fewshot = [address_row(few_rng, addr_de, "postal_code"), address_row(few_rng, addr_uk, "city"),
               address_row(few_rng, addr_br, "country"), address_row(few_rng, addr_us, "postal_code")]
    test_addresses = {r["address"] for r in rows}
    assert not any(f["address"] in test_addresses for f in fewshot)
    return rows, fewshot


def dedupe_by(rows, key):
    seen, out = set(), []
    for r in rows:
        if r[key] not in seen:
            seen.add(r[key])
            out.append(r)
    return out


# --------------------------------------------------------------------------------------------
# Place names for the two sentence tasks, by kind (`surface` adds "the" where English needs it)
# --------------------------------------------------------------------------------------------

NER_CITIES = ["Lyon", "Osaka", "Nairobi", "Toronto", "Kraków", "Seville", "Porto", "Mumbai", "Melbourne",
              "Cusco", "Marrakesh", "Hanoi", "Bergen", "Valparaíso", "Edinburgh", "Rio de Janeiro",
              "Buenos Aires", "Cape Town", "Kyoto", "Istanbul", "Hamburg", "Chicago", "Montreal", "Dubai"]
NER_COUNTRIES = ["Peru", "Norway", "Kenya", "Vietnam", "Portugal", "Chile", "Egypt", "Canada", "Japan",
                 "Morocco", "Argentina", "Finland", "India", "New Zealand", "Iceland", "Ghana", "Mongolia",
                 "Greece", "Poland", "South Korea"]
NER_RIVERS = ["Danube", "Rhine", "Mekong", "Volga", "Zambezi", "Yangtze", "Ganges", "Thames", "Seine",
              "Loire", "Elbe", "Orinoco", "Nile", "Amazon"]
NER_MOUNTAINS = ["Mount Kilimanjaro", "Mont Blanc", "Aconcagua", "Denali", "Matterhorn", "Mount Fuji",
                 "Mount Elbrus", "K2", "Mount Rainier", "Ben Nevis", "Mount Everest"]
NER_LAKES = ["Lake Baikal", "Lake Titicaca", "Lake Victoria", "Lake Como", "Loch Ness", "Lake Tahoe",
             "Lake Geneva", "Lake Superior", "Lake Malawi", "Lake Bled"]
NER_CONTINENTS = ["Africa", "Asia", "Europe", "South America", "Antarctica", "North America"]

PLACE_TYPES = {
    "city": NER_CITIES, "country": NER_COUNTRIES, "river": NER_RIVERS,
    "mountain": NER_MOUNTAINS, "lake": NER_LAKES, "continent": NER_CONTINENTS,
}


def surface(kind, name):
    if kind == "river" or name == "Matterhorn":
        return f"the {name}"
    return name


# People and organisations, which are not places. Some first names (Florence, Jordan, Austin) are
# also place names on purpose: they must not be listed as locations.
PEOPLE = ["Maria Lopez", "Kenji Watanabe", "Amara Okafor", "Lars Nilsson", "Priya Sharma", "Tom Becker",
          "Elena Petrova", "Omar Haddad", "Florence Adams", "Jordan Reyes", "Austin Clarke", "Sofia Rossi"]
ORGS = ["Brightline Logistics", "the Northfield Water Board", "Kestrel Analytics", "the city council",
        "the national statistics office", "Harbour & Pine Publishing"]

# Sentence templates for location_ner: slots are {city}, {city2}, {country}, ... {person}, {org}.
NER_TEMPLATES = [
    "{person} spent a week in {city} before travelling on to {country}.",
    "Cargo barges moved slowly along {river} all summer.",
    "The expedition reached the summit of {mountain} after nine days.",
    "Our ferry crossed {lake} early in the morning.",
    "{person} and {person2} signed the agreement in {city}.",
    "Exports from {country} to {country2} rose sharply last year.",
    "The report compares rainfall in {continent} with rainfall in {country}.",
    "{person} grew up near {river} and later moved to {city}.",
    "The conference in {city} discussed climate research in {continent} and {continent2}.",
    "{org} opened offices in {city}, {city2} and {city3}.",
    "The documentary follows {river} from its source to the sea.",
    "After retiring, {person} sailed from {city} to {city2}.",
    "Students in {country} are studying the geography of {continent}.",
    "The calendar pairs photographs of {lake} with photographs of {mountain}.",
    "{person} thanked the committee for its patience.",
    "The quarterly report from {org} was delayed again.",
    "Bus fares rose by ten percent after the holidays.",
    "{person} finished the marathon in just over three hours.",
    "{org} hired {person} as its new director.",
    "A delegation from {country} visited {city} and then {city2}.",
    "Hikers compared the trails around {mountain} with those near {lake}.",
    "The museum in {city} is showing maps of {river} and {river2}.",
    "{person} has written three novels set in {country}.",
    "The new library opens on Monday at nine.",
]


def fill(template, rng):
    """Fills a template; returns the sentence and its location spans in order of appearance."""
    used = {}
    spans = []
    sentence = template
    for slot in re.findall(r"\{(\w+)\}", template):
        base = slot.rstrip("0123456789")
        if base == "person":
            pool, kind = PEOPLE, None
        elif base == "org":
            pool, kind = ORGS, None
        else:
            pool, kind = PLACE_TYPES[base], base
        taken = used.setdefault(base, set())
        name = rng.choice([p for p in pool if p not in taken])
        taken.add(name)
        text = surface(kind, name) if kind else name
        sentence = sentence.replace("{" + slot + "}", text, 1)
        if kind:
            spans.append(name)
    # Slots are filled left to right, so spans are already in order of appearance.
    return sentence[0].upper() + sentence[1:], spans


def build_location_ner(rng):
    rows = []
    seen = set()
    for rnd in range(3):
        for t in NER_TEMPLATES:
            for _ in range(50):
                sentence, spans = fill(t, rng)
                if sentence not in seen:
                    break
            seen.add(sentence)
            rows.append({"sentence": sentence, "answer": "; ".join(spans) if spans else "none", "spans": spans})
    rows = dedupe_by(rows, "sentence")
    rng.shuffle(rows)
    fewshot = [
        {"sentence": "Flights from Lisbon to Nairobi were cancelled because of the storm.",
         "answer": "Lisbon; Nairobi", "spans": ["Lisbon", "Nairobi"]},
        {"sentence": "Florence Adams painted the Danube at dawn near Vienna.",
         "answer": "Danube; Vienna", "spans": ["Danube", "Vienna"]},
        {"sentence": "The committee will meet again next Thursday.", "answer": "none", "spans": []},
        {"sentence": "Scientists drilled through the ice of Antarctica and sampled Lake Vostok.",
         "answer": "Antarctica; Lake Vostok", "spans": ["Antarctica", "Lake Vostok"]},
    ]
    return rows[:66], fewshot


# --------------------------------------------------------------------------------------------
# ner_locations: what kind of place a name is
# --------------------------------------------------------------------------------------------

NEUTRAL_TEMPLATES = [
    "She keeps a postcard of {x} on her fridge.",
    "The guidebook devotes a whole chapter to {x}.",
    "{person} wrote a short essay about {x}.",
    "The photograph of {x} won first prize.",
    "This week's podcast episode is about {x}.",
]
CONTEXT_TEMPLATES = {
    "city": ["The mayor of {x} announced a new tram line.", "Rush-hour traffic in {x} was slower than usual.",
             "The old town of {x} was busy with visitors."],
    "country": ["The government of {x} announced new visa rules.", "The national football team of {x} won on Sunday.",
                "Exports from {x} rose last year."],
    "river": ["Heavy rain raised the level of {x} overnight.", "A new bridge will span {x}.",
              "Barges carried grain down {x}."],
    "mountain": ["Climbers set up camp below the summit of {x}.", "Fresh snow covered the slopes of {x}.",
                 "Clouds hid the summit of {x} all afternoon."],
    "lake": ["Sailboats drifted across {x} in the afternoon.", "The water of {x} was calm that morning.",
             "They camped on the shore of {x}."],
    "continent": ["The tour visits six countries across {x}.", "Researchers mapped rainfall across {x}.",
                  "The documentary series travels across {x}."],
}
# Names whose type depends on the sentence or is easy to confuse; each fact checked by hand.
# (sentence, entity, gold, distractors that must be offered)
HARD_NER = [
    ("The lower Jordan flows south into the Dead Sea.", "Jordan", "river", ["country"]),
    ("Jordan shares its longest border with Saudi Arabia.", "Jordan", "country", ["river"]),
    ("Mopti is a busy port on the Niger.", "Niger", "river", ["country"]),
    ("Niger shares a long border with Nigeria.", "Niger", "country", ["river"]),
    ("Chad has borders with six countries.", "Chad", "country", ["lake"]),
    ("The Congo is the deepest river in the world.", "Congo", "river", ["country"]),
    ("Victoria is the capital of British Columbia.", "Victoria", "city", ["lake"]),
    ("Geneva hosts the European headquarters of the United Nations.", "Geneva", "city", ["lake", "country"]),
    ("Ferries cross Lake Geneva between Lausanne and Évian.", "Lake Geneva", "lake", ["city"]),
    ("The Amazon carries more water than any other river.", "Amazon", "river", ["continent"]),
    ("Mexico has thirty-one states and a federal capital.", "Mexico", "country", ["city"]),
    ("Mexico City sits at an altitude of about 2,240 metres.", "Mexico City", "city", ["country"]),
    ("The first confirmed ascent of Everest was made in 1953.", "Everest", "mountain", []),
    ("Antarctica has no permanent residents.", "Antarctica", "continent", ["country"]),
    ("Baikal holds about a fifth of the world's unfrozen fresh surface water.", "Baikal", "lake", ["river"]),
    ("Titicaca lies on the border between Peru and Bolivia.", "Titicaca", "lake", ["mountain"]),
    ("Superior is the largest of the Great Lakes.", "Superior", "lake", []),
    ("The Mississippi drains much of the central United States.", "Mississippi", "river", []),
    ("Cusco was the capital of the Inca Empire.", "Cusco", "city", ["country"]),
    ("Elbrus is the highest peak in the Caucasus.", "Elbrus", "mountain", []),
    ("Aconcagua is the highest mountain outside Asia.", "Aconcagua", "mountain", ["continent"]),
    ("Luxembourg is one of the smallest countries in Europe.", "Luxembourg", "country", ["continent"]),
]
KINDS = ["city", "country", "river", "mountain", "continent", "lake"]


def type_choices(rng, gold, required):
    n = rng.randint(2, 6)
    others = [k for k in KINDS if k != gold and k not in required]
    rng.shuffle(others)
    pick = [gold] + list(required) + others
    pick = pick[:max(n, 1 + len(required))]
    rng.shuffle(pick)
    return pick


def ner_type_row(rng, sentence, entity, gold, required):
    choices = type_choices(rng, gold, required)
    return {"sentence": sentence, "entity": entity, "choices": choices, "answer": choices.index(gold)}


def build_ner_locations(rng):
    rows = [ner_type_row(rng, s, e, g, req) for s, e, g, req in HARD_NER]
    hard = {e for _, e, _, _ in HARD_NER} | {"Lake " + e for _, e, _, _ in HARD_NER}
    hard |= {"Mount " + e for _, e, _, _ in HARD_NER}
    for kind in KINDS:
        names = [n for n in PLACE_TYPES[kind] if n not in hard]
        for i, name in enumerate(rng.sample(names, min(7, len(names)))):
            # Alternate sentences that give the type away with neutral ones that need knowledge.
            pool = CONTEXT_TEMPLATES[kind] if i % 2 else NEUTRAL_TEMPLATES
            sentence = rng.choice(pool).replace("{x}", surface(kind, name)).replace("{person}", rng.choice(PEOPLE))
            rows.append(ner_type_row(rng, sentence[0].upper() + sentence[1:], name, kind, []))
    rows = dedupe_by(rows, "sentence")
    rng.shuffle(rows)
    few_rng = random.Random(SEED + 2)
    fewshot = [
        ner_type_row(few_rng, "Tourists queued for hours to see the Rialto Bridge in Venice.", "Venice", "city", []),
        ner_type_row(few_rng, "The Volta flows south into the Gulf of Guinea.", "Volta", "river", ["country"]),
        ner_type_row(few_rng, "Mount Olympus is the highest mountain in Greece.", "Mount Olympus", "mountain", []),
        ner_type_row(few_rng, "Bolivia has two capital cities.", "Bolivia", "country", ["city"]),
    ]
    return rows, fewshot


# --------------------------------------------------------------------------------------------
# Manifests (lm-evaluation-harness field names; see orchestrator/src/catalog/raw.rs)
# --------------------------------------------------------------------------------------------

SPLITS = {"test": "test.jsonl", "fewshot": "fewshot.jsonl"}


def gen_kwargs(max_tokens):
    return {"until": ["\n"], "max_gen_toks": max_tokens, "do_sample": False, "temperature": 0.0}


def metric(name, **options):
    return {"metric": name, "aggregation": "mean", "higher_is_better": True, **options}


COORD_PATTERN = r"-?\d{1,3}(?:\.\d+)?\s*,\s*-?\d{1,3}(?:\.\d+)?"

MANIFESTS = {
    "spatial_reasoning": {
        "task": "spatial_reasoning",
        "description": "The following are multiple choice questions about the relative positions of places on Earth.\n\n",
        "data_files": SPLITS,
        "test_split": "test",
        "fewshot_split": "fewshot",
        "output_type": "multiple_choice",
        "doc_to_text": "Question: {{ question }}\nAnswer:",
        "doc_to_target": "{{ answer }}",
        "doc_to_choice": "{{ choices }}",
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "num_fewshot": 3,
        "metric_list": [metric("acc"), metric("acc_norm")],
        "chat": False,
        "version": "1.0",
    },
    "coordinate_processing": {
        "task": "coordinate_processing",
        "description": (
            "Answer each question with a position in decimal degrees, written as \"latitude, longitude\" "
            "with south latitudes and west longitudes negative.\n\n"
        ),
        "data_files": SPLITS,
        "test_split": "test",
        "fewshot_split": "fewshot",
        "output_type": "generate_until",
        "doc_to_text": "Question: {{ question }}\nAnswer:",
        "doc_to_target": "{{ answer }}",
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "num_fewshot": 3,
        "generation_kwargs": gen_kwargs(32),
        "metric_list": [metric("distance_accuracy", threshold_km=50)],
        "filter_list": [
            {"name": "first-coordinate-pair", "filter": [
                {"function": "regex", "regex_pattern": COORD_PATTERN, "group_select": 0},
                {"function": "take_first"},
            ]},
        ],
        "chat": False,
        "version": "1.0",
    },
    "address_parsing": {
        "task": "address_parsing",
        "description": (
            "Each postal address is followed by a question about one of its fields. "
            "Answer with that field copied exactly as it is written in the address.\n\n"
        ),
        "data_files": SPLITS,
        "test_split": "test",
        "fewshot_split": "fewshot",
        "output_type": "generate_until",
        "doc_to_text": "Address:\n{{ address }}\nQuestion: {{ question }}\nAnswer:",
        "doc_to_target": "{{ answer }}",
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "num_fewshot": 3,
        "generation_kwargs": gen_kwargs(24),
        "metric_list": [metric("exact_match", ignore_case=True, ignore_punctuation=True)],
        "filter_list": [{"name": "strip", "filter": [{"function": "strip"}, {"function": "take_first"}]}],
        "chat": False,
        "version": "1.0",
    },
    "location_ner": {
        "task": "location_ner",
        "description": (
            "List every place name (city, country, river, mountain, lake or continent) in the sentence, "
            "in the order they appear, separated by \"; \" and without a leading \"the\". "
            "Write \"none\" if the sentence names no place. People and organisations are not places.\n\n"
        ),
        "data_files": SPLITS,
        "test_split": "test",
        "fewshot_split": "fewshot",
        "output_type": "generate_until",
        "doc_to_text": "Sentence: {{ sentence }}\nPlaces:",
        "doc_to_target": "{{ answer }}",
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "num_fewshot": 3,
        "generation_kwargs": gen_kwargs(48),
        "metric_list": [metric("span_f1")],
        "filter_list": [{"name": "strip", "filter": [{"function": "strip"}, {"function": "take_first"}]}],
        "chat": False,
        "version": "1.0",
    },
    "ner_locations": {
        "task": "ner_locations",
        "description": "Each question asks what kind of place a name in a sentence refers to.\n\n",
        "data_files": SPLITS,
        "test_split": "test",
        "fewshot_split": "fewshot",
        "output_type": "multiple_choice",
        "doc_to_text": "Sentence: {{ sentence }}\nQuestion: In this sentence, what kind of place is \"{{ entity }}\"?\nAnswer:",
        "doc_to_target": "{{ answer }}",
        "doc_to_choice": "{{ choices }}",
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "num_fewshot": 3,
        "metric_list": [metric("acc")],
        "chat": False,
        "version": "1.0",
    },
    "satellite_scene_qa": {
        "task": "satellite_scene_qa",
        "description": "Each question is about the satellite or aerial image shown with it.\n\n",
        "data_files": {"test": "test.jsonl"},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "Question: {{ question }}\nAnswer:",
        "doc_to_target": "{{ answer }}",
        "doc_to_choice": "{{ choices }}",
        "target_delimiter": " ",
        "num_fewshot": 0,
        "metric_list": [metric("acc")],
        "chat": True,
        "version": "0.1",
    },
    "spoken_directions": {
        "task": "spoken_directions",
        "description": "Each question is about the spoken route directions in the audio clip given with it.\n\n",
        "data_files": {"test": "test.jsonl"},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "Question: {{ question }}\nAnswer:",
        "doc_to_target": "{{ answer }}",
        "doc_to_choice": "{{ choices }}",
        "target_delimiter": " ",
        "num_fewshot": 0,
        "metric_list": [metric("acc")],
        "chat": True,
        "version": "0.1",
    },
}


# --------------------------------------------------------------------------------------------
# Dataset cards
# --------------------------------------------------------------------------------------------


def kind_counts(rows, key):
    counts = {}
    for r in rows:
        counts[r[key]] = counts.get(r[key], 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def card(name, body):
    return f"# {name}\n\n{body}\n\nGenerated by `datasets/_generators/geo.py` (fixed seed; `--check` verifies the files).\n"


def cards(data):
    sp_t, sp_f = data["spatial_reasoning"]
    co_t, co_f = data["coordinate_processing"]
    ad_t, ad_f = data["address_parsing"]
    ln_t, ln_f = data["location_ner"]
    nl_t, nl_f = data["ner_locations"]
    none_count = sum(1 for r in ln_t if not r["spans"])
    return {
        "spatial_reasoning": card("spatial_reasoning", (
            f"Measures reasoning about where places are relative to each other: which of two or more cities lies "
            f"farther north, south, east or west, the compass direction from one city to another (4 or 8 directions), "
            f"which city is closest to or farther from another, and which side of the equator or prime meridian a city "
            f"is on. Multiple choice with 2 to 8 options, scored by log-likelihood (`acc`, `acc_norm`). The "
            f"{len(sp_t)} test items and {len(sp_f)} few-shot items ({kind_counts(sp_t, 'kind')}) were generated from a "
            f"table of {len(CAPITALS) + len(CITIES)} capitals and large cities with their public coordinates; every answer is computed from those "
            f"coordinates, keeping only clear cases (at least 3 degrees between the compared latitudes or longitudes, "
            f"a nearest city at most 0.6 times as far as the runner-up, and compass directions only for cities 300 to "
            f"2,500 km apart whose great-circle and constant-heading bearings fall in the same sector, well inside it). "
            f"Known limits: city-centre coordinates stand for whole cities, and the questions cover well-known cities only."
        )),
        "coordinate_processing": card("coordinate_processing", (
            f"Measures knowledge and handling of geographic coordinates: the latitude and longitude of capitals, large "
            f"cities and landmarks, converting degrees-minutes-seconds to decimal degrees, and writing hemisphere "
            f"letters as signed decimals. The model answers in free text; the first `lat, lon` pair in the answer is "
            f"extracted and counted correct when it lies within 50 km of the reference (`distance_accuracy`, haversine). "
            f"{len(co_t)} test items ({kind_counts(co_t, 'kind')}) and {len(co_f)} few-shot items, generated from "
            f"public city-centre and landmark coordinates to four decimals. Known limits: answers in other notations "
            f"(degree signs, N/S letters) are not parsed and score as wrong; a 50 km radius is generous for landmarks."
        )),
        "address_parsing": card("address_parsing", (
            f"Measures reading of postal addresses in national formats: the model copies one field (postal code, city "
            f"or equivalent such as the UK post town or Australian suburb, or country) from a multi-line address. "
            f"Scored by exact match ignoring case and punctuation. {len(ad_t)} test items ({kind_counts(ad_t, 'field')}) "
            f"and {len(ad_f)} few-shot items across 15 formats (United States, United Kingdom, Germany, France, Italy, "
            f"Spain, Netherlands, Sweden, Poland, Switzerland, Brazil, India, Australia, Japan in romanised form, "
            f"Canada). Streets and house numbers are made up; city names, region codes and postal codes are real for the "
            f"named city (where a code narrows down to a street or building, only its real prefix is kept and the rest "
            f"is made up), and no item is meant to be the address of a real household or business. Known limits: "
            f"one layout per country, English country names, and the answer is always printed in the address, so the "
            f"task tests field recognition rather than knowledge."
        )),
        "location_ner": card("location_ner", (
            f"Measures recognition of place names in running text: the model lists every city, country, river, "
            f"mountain, lake and continent named in a sentence, in order, separated by `; `, or `none`. Scored by "
            f"span F1 against the reference list. {len(ln_t)} test sentences ({none_count} without any place) and "
            f"{len(ln_f)} few-shot sentences, generated from templates filled with real place names, personal names "
            f"and organisation names; some personal names (Florence, Jordan, Austin) double as place names and must "
            f"not be listed. Rivers are written with \"the\" in the sentence and listed without it. Known limits: "
            f"template sentences are short and regular, and they make no claims about how the places relate."
        )),
        "ner_locations": card("ner_locations", (
            f"Measures typing of place names: given a sentence and a name in it, the model picks what kind of place "
            f"it is (city, country, river, mountain, continent or lake; 2 to 6 options per item), scored by "
            f"log-likelihood accuracy. {len(nl_t)} test items and {len(nl_f)} few-shot items: {len(HARD_NER)} "
            f"hand-checked factual sentences in which the name is ambiguous or easily confused (the Jordan and Niger "
            f"rivers against the countries, Victoria and Geneva against the lakes, Mexico against Mexico City, bare "
            f"lake and mountain names), and the rest generated from templates that either give the type away or are "
            f"neutral, so that the answer rests on knowing the name. Known limits: one correct type per item; names "
            f"such as Luxembourg that are both a country and a city appear only where the sentence decides."
        )),
        "satellite_scene_qa": card("satellite_scene_qa", (
            "Measures understanding of overhead imagery: multiple-choice questions about land cover, objects and "
            "layout in satellite and aerial scenes, each row carrying an `image` path (relative to this directory) "
            "beside `question`, `choices` and `answer`, scored by accuracy. No data is shipped yet: the "
            "vision_geospatial category is marked not ready because image inputs need a vision encoder, which no "
            "engine has yet. The manifest validates and the dataset is listed with its data missing until imagery "
            "with a suitable licence is added."
        )),
        "spoken_directions": card("spoken_directions", (
            "Measures understanding of speech: multiple-choice questions about spoken route directions (which way to "
            "turn first, which landmark comes after which), each row carrying an `audio` path (relative to this "
            "directory) beside `question`, `choices` and `answer`, scored by accuracy. No data is shipped yet: the "
            "audio_understanding category is marked not ready because audio inputs need an audio encoder, which no "
            "engine has yet. The manifest validates and the dataset is listed with its data missing until recordings "
            "are added."
        )),
    }


# --------------------------------------------------------------------------------------------
# Assembly, validation, entry point
# --------------------------------------------------------------------------------------------


def build_all():
    """Every file this generator owns: {path under datasets/: text}, plus the rows."""
    rng = random.Random(SEED)
    data = {
        "spatial_reasoning": build_spatial(rng),
        "coordinate_processing": build_coordinates(rng),
        "address_parsing": build_addresses(rng),
        "location_ner": build_location_ner(rng),
        "ner_locations": build_ner_locations(rng),
    }
    files = {}
    texts = cards(data)
    for name, manifest in MANIFESTS.items():
        files[f"{name}/manifest.yaml"] = to_yaml(manifest)
        files[f"{name}/README.md"] = texts[name]
        if name in data:
            test, fewshot = data[name]
            files[f"{name}/test.jsonl"] = to_jsonl(test)
            files[f"{name}/fewshot.jsonl"] = to_jsonl(fewshot)
    return files, data


def coordinate_check(row):
    pattern = MANIFESTS["coordinate_processing"]["filter_list"][0]["filter"][0]["regex_pattern"]
    m = re.search(pattern, row["answer"])
    if not m or m.group(0) != row["answer"]:
        return ["answer is not one `lat, lon` pair the filter extracts"]
    if not (-90 <= row["lat"] <= 90 and -180 <= row["lon"] <= 180):
        return ["coordinates out of range"]
    if row["answer"] != fmt_pair(row["lat"], row["lon"]):
        return ["answer differs from lat/lon"]
    return []


def address_check(row):
    return [] if row["answer"] in row["address"] else [f"answer `{row['answer']}` does not occur in the address"]


def location_ner_check(row):
    problems = []
    if row["answer"] != ("; ".join(row["spans"]) if row["spans"] else "none"):
        problems.append("answer differs from spans")
    pos = 0
    for span in row["spans"]:
        at = row["sentence"].find(span, pos)
        if at < 0:
            problems.append(f"span `{span}` not found, in order, in the sentence")
            break
        pos = at + len(span)
    return problems


def ner_locations_check(row):
    problems = [] if row["entity"] in row["sentence"] else [f"entity `{row['entity']}` not in the sentence"]
    if any(c not in KINDS for c in row["choices"]):
        problems.append("unknown place type in choices")
    return problems


ROW_CHECKS = {
    "coordinate_processing": coordinate_check,
    "address_parsing": address_check,
    "location_ner": location_ner_check,
    "ner_locations": ner_locations_check,
}


def validate(data):
    try:
        schema = load_schema()
    except (OSError, ValueError) as e:
        return [f"cannot read the manifest schema: {e}"]
    problems = []
    for name, man in MANIFESTS.items():
        problems += manifest_problems(name, man, schema)
        if name in data:
            test, fewshot = data[name]
            problems += rows_problems(name, man, test, fewshot, ROW_CHECKS.get(name))
    return problems


def main():
    files, data = build_all()
    status = run("geo.py", __doc__.split("\n\n")[0], files, validate(data), list(MANIFESTS))
    if status == 0:
        print("rows (test+fewshot): " + ", ".join(f"{n} {len(t)}+{len(f)}" for n, (t, f) in data.items()))
    return status


if __name__ == "__main__":
    sys.exit(main())
