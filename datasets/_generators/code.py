#!/usr/bin/env python3
"""Generates the coding datasets: code_generation, code_output_prediction, code_concepts.

Every problem, snippet and question below was written for this project. The generator
checks each canonical solution against its tests in a separate Python process, checks that
an empty body fails those tests, and computes every expected output by running the snippet.

Usage: python3 datasets/_generators/code.py          (rewrite the files)
       python3 datasets/_generators/code.py --check  (exit 1 if the files on disk differ)
"""

import random
import subprocess
import sys

from common import dataset_files, emit, mc_manifest, mc_rows

SEED = 20261123
TIMEOUT_S = 10


def run_python(source):
    proc = subprocess.run(
        [sys.executable, "-I", "-c", source],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    return proc.returncode, proc.stdout


# ---------------------------------------------------------------- code_generation

# (entry_point, signature, docstring, body, asserts)
PROBLEMS = [
    ("reverse_words", "s: str) -> str",
     "Return the words of s in reverse order, joined by single spaces.\n\n>>> reverse_words('hello big world')\n'world big hello'",
     "return ' '.join(reversed(s.split()))",
     ["candidate('hello big world') == 'world big hello'", "candidate('  a  b c ') == 'c b a'",
      "candidate('') == ''", "candidate('one') == 'one'"]),
    ("factorial", "n: int) -> int",
     "Return n! for a non-negative integer n (0! is 1).\n\n>>> factorial(5)\n120",
     "result = 1\nfor i in range(2, n + 1):\n    result *= i\nreturn result",
     ["candidate(0) == 1", "candidate(1) == 1", "candidate(5) == 120", "candidate(10) == 3628800"]),
    ("count_vowels", "s: str) -> int",
     "Count the vowels (a, e, i, o, u) in s, ignoring case.\n\n>>> count_vowels('Education')\n5",
     "return sum(1 for c in s.lower() if c in 'aeiou')",
     ["candidate('Education') == 5", "candidate('rhythm') == 0", "candidate('AEIOU aeiou') == 10",
      "candidate('') == 0"]),
    # ---- test problems from here on
    ("is_palindrome", "s: str) -> bool",
     "Return True if s reads the same forwards and backwards, considering only letters and\ndigits and ignoring case.\n\n>>> is_palindrome('A man, a plan, a canal: Panama')\nTrue",
     "t = [c.lower() for c in s if c.isalnum()]\nreturn t == t[::-1]",
     ["candidate('A man, a plan, a canal: Panama') is True", "candidate('race a car') is False",
      "candidate('') is True", "candidate('No lemon, no melon') is True", "candidate('ab') is False"]),
    ("running_sum", "nums: list[int]) -> list[int]",
     "Return the running totals of nums: element i is the sum of nums[0..i].\n\n>>> running_sum([1, 2, 3])\n[1, 3, 6]",
     "out = []\ntotal = 0\nfor x in nums:\n    total += x\n    out.append(total)\nreturn out",
     ["candidate([1, 2, 3]) == [1, 3, 6]", "candidate([]) == []", "candidate([5, -5, 5]) == [5, 0, 5]",
      "candidate([0, 0]) == [0, 0]"]),
    ("second_largest", "nums: list[int]) -> int | None",
     "Return the second largest distinct value in nums, or None if there are fewer than two\ndistinct values.\n\n>>> second_largest([4, 1, 4, 3])\n3",
     "values = sorted(set(nums))\nreturn values[-2] if len(values) >= 2 else None",
     ["candidate([4, 1, 4, 3]) == 3", "candidate([7, 7]) is None", "candidate([]) is None",
      "candidate([-1, -5, -3]) == -3", "candidate([2, 9]) == 2"]),
    ("flatten", "nested: list) -> list",
     "Flatten an arbitrarily nested list of lists into a flat list, keeping the order.\n\n>>> flatten([1, [2, [3, 4]], 5])\n[1, 2, 3, 4, 5]",
     "out = []\nfor item in nested:\n    if isinstance(item, list):\n        out.extend(flatten(item))\n    else:\n        out.append(item)\nreturn out",
     ["candidate([1, [2, [3, 4]], 5]) == [1, 2, 3, 4, 5]", "candidate([]) == []",
      "candidate([[[]], [1]]) == [1]", "candidate(['a', ['b']]) == ['a', 'b']"]),
    ("gcd_list", "nums: list[int]) -> int",
     "Return the greatest common divisor of a non-empty list of positive integers.\n\n>>> gcd_list([12, 18, 30])\n6",
     "def g(a, b):\n    while b:\n        a, b = b, a % b\n    return a\nresult = nums[0]\nfor x in nums[1:]:\n    result = g(result, x)\nreturn result",
     ["candidate([12, 18, 30]) == 6", "candidate([7]) == 7", "candidate([8, 9]) == 1",
      "candidate([100, 75, 50]) == 25"]),
    ("is_prime", "n: int) -> bool",
     "Return True if n is a prime number. Numbers below 2 are not prime.\n\n>>> is_prime(13)\nTrue",
     "if n < 2:\n    return False\ni = 2\nwhile i * i <= n:\n    if n % i == 0:\n        return False\n    i += 1\nreturn True",
     ["candidate(13) is True", "candidate(1) is False", "candidate(0) is False", "candidate(2) is True",
      "candidate(91) is False", "candidate(97) is True", "candidate(-7) is False"]),
    ("primes_below", "n: int) -> list[int]",
     "Return all prime numbers smaller than n in increasing order.\n\n>>> primes_below(12)\n[2, 3, 5, 7, 11]",
     "if n < 3:\n    return []\nsieve = [True] * n\nsieve[0] = sieve[1] = False\nfor i in range(2, int(n ** 0.5) + 1):\n    if sieve[i]:\n        for j in range(i * i, n, i):\n            sieve[j] = False\nreturn [i for i in range(n) if sieve[i]]",
     ["candidate(12) == [2, 3, 5, 7, 11]", "candidate(2) == []", "candidate(3) == [2]",
      "len(candidate(100)) == 25", "candidate(30)[-1] == 29"]),
    ("fizzbuzz", "n: int) -> list[str]",
     "Return the FizzBuzz sequence for 1..n: 'Fizz' for multiples of 3, 'Buzz' for multiples\nof 5, 'FizzBuzz' for multiples of both, otherwise the number as a string.\n\n>>> fizzbuzz(5)\n['1', '2', 'Fizz', '4', 'Buzz']",
     "out = []\nfor i in range(1, n + 1):\n    s = ''\n    if i % 3 == 0:\n        s += 'Fizz'\n    if i % 5 == 0:\n        s += 'Buzz'\n    out.append(s or str(i))\nreturn out",
     ["candidate(5) == ['1', '2', 'Fizz', '4', 'Buzz']", "candidate(0) == []",
      "candidate(15)[-1] == 'FizzBuzz'", "len(candidate(30)) == 30"]),
    ("caesar_shift", "s: str, k: int) -> str",
     "Shift every ASCII letter of s by k positions in the alphabet, wrapping around and\nkeeping its case. Other characters are unchanged. k may be negative.\n\n>>> caesar_shift('Hello, World!', 3)\n'Khoor, Zruog!'",
     "out = []\nfor c in s:\n    if 'a' <= c <= 'z':\n        out.append(chr((ord(c) - 97 + k) % 26 + 97))\n    elif 'A' <= c <= 'Z':\n        out.append(chr((ord(c) - 65 + k) % 26 + 65))\n    else:\n        out.append(c)\nreturn ''.join(out)",
     ["candidate('Hello, World!', 3) == 'Khoor, Zruog!'", "candidate('xyz', 2) == 'zab'",
      "candidate('abc', -1) == 'zab'", "candidate('Same', 26) == 'Same'", "candidate('', 5) == ''"]),
    ("run_length_encode", "s: str) -> str",
     "Run-length encode s: each run of a repeated character becomes the character followed\nby the run length.\n\n>>> run_length_encode('aaabcc')\n'a3b1c2'",
     "out = []\ni = 0\nwhile i < len(s):\n    j = i\n    while j < len(s) and s[j] == s[i]:\n        j += 1\n    out.append(f'{s[i]}{j - i}')\n    i = j\nreturn ''.join(out)",
     ["candidate('aaabcc') == 'a3b1c2'", "candidate('') == ''", "candidate('x') == 'x1'",
      "candidate('aaaaaaaaaaaa') == 'a12'", "candidate('abab') == 'a1b1a1b1'"]),
    ("run_length_decode", "s: str) -> str",
     "Decode a run-length encoded string made of letters, each followed by a count of one or\nmore digits.\n\n>>> run_length_decode('a3b1c2')\n'aaabcc'",
     "out = []\ni = 0\nwhile i < len(s):\n    c = s[i]\n    j = i + 1\n    while j < len(s) and s[j].isdigit():\n        j += 1\n    out.append(c * int(s[i + 1:j]))\n    i = j\nreturn ''.join(out)",
     ["candidate('a3b1c2') == 'aaabcc'", "candidate('') == ''", "candidate('z10') == 'z' * 10",
      "candidate('a1b1a1') == 'aba'"]),
    ("digit_sum", "n: int) -> int",
     "Return the sum of the decimal digits of n. The sign of n is ignored.\n\n>>> digit_sum(-472)\n13",
     "return sum(int(c) for c in str(abs(n)))",
     ["candidate(-472) == 13", "candidate(0) == 0", "candidate(999) == 27", "candidate(1000001) == 2"]),
    ("chunk", "items: list, size: int) -> list[list]",
     "Split items into consecutive chunks of length size; the last chunk may be shorter.\nsize is at least 1.\n\n>>> chunk([1, 2, 3, 4, 5], 2)\n[[1, 2], [3, 4], [5]]",
     "return [items[i:i + size] for i in range(0, len(items), size)]",
     ["candidate([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]", "candidate([], 3) == []",
      "candidate([1, 2], 5) == [[1, 2]]", "candidate(list('abcdef'), 3) == [['a', 'b', 'c'], ['d', 'e', 'f']]"]),
    ("merge_sorted", "a: list[int], b: list[int]) -> list[int]",
     "Merge two lists that are each sorted in ascending order into one sorted list.\n\n>>> merge_sorted([1, 4, 9], [2, 3, 10])\n[1, 2, 3, 4, 9, 10]",
     "out = []\ni = j = 0\nwhile i < len(a) and j < len(b):\n    if a[i] <= b[j]:\n        out.append(a[i])\n        i += 1\n    else:\n        out.append(b[j])\n        j += 1\nreturn out + a[i:] + b[j:]",
     ["candidate([1, 4, 9], [2, 3, 10]) == [1, 2, 3, 4, 9, 10]", "candidate([], [1]) == [1]",
      "candidate([], []) == []", "candidate([1, 1], [1]) == [1, 1, 1]", "candidate([5], [-2, 7]) == [-2, 5, 7]"]),
    ("unique_in_order", "items: list) -> list",
     "Return items without repeated values, keeping the first occurrence of each value in its\noriginal position.\n\n>>> unique_in_order([3, 1, 3, 2, 1])\n[3, 1, 2]",
     "seen = set()\nout = []\nfor x in items:\n    if x not in seen:\n        seen.add(x)\n        out.append(x)\nreturn out",
     ["candidate([3, 1, 3, 2, 1]) == [3, 1, 2]", "candidate([]) == []", "candidate(['b', 'a', 'b']) == ['b', 'a']",
      "candidate([1, 1, 1]) == [1]"]),
    ("most_common_char", "s: str) -> str",
     "Return the character that occurs most often in the non-empty string s. When several\ncharacters tie, return the one that appears first in s.\n\n>>> most_common_char('abracadabra')\n'a'",
     "counts = {}\nfor c in s:\n    counts[c] = counts.get(c, 0) + 1\nbest = max(counts.values())\nfor c in s:\n    if counts[c] == best:\n        return c",
     ["candidate('abracadabra') == 'a'", "candidate('xyz') == 'x'", "candidate('bbaa') == 'b'",
      "candidate('aabbb') == 'b'"]),
    ("title_case", "s: str) -> str",
     "Return s with the first letter of every space-separated word upper-cased and the rest\nof each word lower-cased. Spacing is kept as it is.\n\n>>> title_case('hELLO there  friend')\n'Hello There  Friend'",
     "return ' '.join(w[:1].upper() + w[1:].lower() for w in s.split(' '))",
     ["candidate('hELLO there  friend') == 'Hello There  Friend'", "candidate('') == ''",
      "candidate('a') == 'A'", "candidate('123abc DEF') == '123abc Def'"]),
    ("are_anagrams", "a: str, b: str) -> bool",
     "Return True if a and b contain the same letters with the same counts, ignoring spaces\nand case.\n\n>>> are_anagrams('Dormitory', 'dirty room')\nTrue",
     "norm = lambda s: sorted(s.replace(' ', '').lower())\nreturn norm(a) == norm(b)",
     ["candidate('Dormitory', 'dirty room') is True", "candidate('abc', 'abd') is False",
      "candidate('', '') is True", "candidate('aab', 'abb') is False", "candidate('Listen', 'Silent') is True"]),
    ("transpose", "matrix: list[list[int]]) -> list[list[int]]",
     "Return the transpose of a rectangular matrix given as a list of rows. An empty matrix\ntransposes to an empty list.\n\n>>> transpose([[1, 2, 3], [4, 5, 6]])\n[[1, 4], [2, 5], [3, 6]]",
     "if not matrix:\n    return []\nreturn [[row[j] for row in matrix] for j in range(len(matrix[0]))]",
     ["candidate([[1, 2, 3], [4, 5, 6]]) == [[1, 4], [2, 5], [3, 6]]", "candidate([]) == []",
      "candidate([[7]]) == [[7]]", "candidate([[1], [2]]) == [[1, 2]]"]),
    ("binary_search", "items: list[int], target: int) -> int",
     "Return the index of target in the ascending list items of distinct values, or -1 if it\nis absent.\n\n>>> binary_search([1, 3, 5, 7], 5)\n2",
     "lo, hi = 0, len(items) - 1\nwhile lo <= hi:\n    mid = (lo + hi) // 2\n    if items[mid] == target:\n        return mid\n    if items[mid] < target:\n        lo = mid + 1\n    else:\n        hi = mid - 1\nreturn -1",
     ["candidate([1, 3, 5, 7], 5) == 2", "candidate([1, 3, 5, 7], 4) == -1", "candidate([], 1) == -1",
      "candidate([2], 2) == 0", "candidate(list(range(0, 1000, 2)), 998) == 499"]),
    ("to_binary", "n: int) -> str",
     "Return the binary representation of a non-negative integer n without a prefix.\n\n>>> to_binary(10)\n'1010'",
     "if n == 0:\n    return '0'\nbits = []\nwhile n:\n    bits.append(str(n % 2))\n    n //= 2\nreturn ''.join(reversed(bits))",
     ["candidate(10) == '1010'", "candidate(0) == '0'", "candidate(1) == '1'", "candidate(255) == '11111111'"]),
    ("from_roman", "s: str) -> int",
     "Convert a valid Roman numeral (I, V, X, L, C, D, M, with subtractive forms such as IV\nand CM) to an integer.\n\n>>> from_roman('MCMXCIV')\n1994",
     "values = {'I': 1, 'V': 5, 'X': 10, 'L': 50, 'C': 100, 'D': 500, 'M': 1000}\ntotal = 0\nfor i, c in enumerate(s):\n    v = values[c]\n    if i + 1 < len(s) and values[s[i + 1]] > v:\n        total -= v\n    else:\n        total += v\nreturn total",
     ["candidate('MCMXCIV') == 1994", "candidate('III') == 3", "candidate('XLII') == 42",
      "candidate('MMMCMXCIX') == 3999", "candidate('IX') == 9"]),
    ("to_roman", "n: int) -> str",
     "Convert an integer from 1 to 3999 to a Roman numeral using subtractive forms (IV, IX,\nXL, XC, CD, CM).\n\n>>> to_roman(1994)\n'MCMXCIV'",
     "pairs = [(1000, 'M'), (900, 'CM'), (500, 'D'), (400, 'CD'), (100, 'C'), (90, 'XC'),\n         (50, 'L'), (40, 'XL'), (10, 'X'), (9, 'IX'), (5, 'V'), (4, 'IV'), (1, 'I')]\nout = []\nfor value, sym in pairs:\n    while n >= value:\n        out.append(sym)\n        n -= value\nreturn ''.join(out)",
     ["candidate(1994) == 'MCMXCIV'", "candidate(4) == 'IV'", "candidate(3999) == 'MMMCMXCIX'",
      "candidate(58) == 'LVIII'", "candidate(1) == 'I'"]),
    ("word_counts", "s: str) -> dict[str, int]",
     "Count the whitespace-separated words of s, case-insensitively. Keys are lower-case.\n\n>>> word_counts('The cat and the hat')\n{'the': 2, 'cat': 1, 'and': 1, 'hat': 1}",
     "counts = {}\nfor w in s.lower().split():\n    counts[w] = counts.get(w, 0) + 1\nreturn counts",
     ["candidate('The cat and the hat') == {'the': 2, 'cat': 1, 'and': 1, 'hat': 1}", "candidate('') == {}",
      "candidate('a A a') == {'a': 3}"]),
    ("balanced_brackets", "s: str) -> bool",
     "Return True if the brackets (), [] and {} in s are balanced and properly nested. Other\ncharacters are ignored.\n\n>>> balanced_brackets('f(a[1], {b: 2})')\nTrue",
     "pairs = {')': '(', ']': '[', '}': '{'}\nstack = []\nfor c in s:\n    if c in '([{':\n        stack.append(c)\n    elif c in pairs:\n        if not stack or stack.pop() != pairs[c]:\n            return False\nreturn not stack",
     ["candidate('f(a[1], {b: 2})') is True", "candidate('([)]') is False", "candidate('') is True",
      "candidate('((') is False", "candidate('}') is False"]),
    ("rotate_right", "items: list, k: int) -> list",
     "Return a new list with items rotated k positions to the right. k is non-negative and may\nexceed the length.\n\n>>> rotate_right([1, 2, 3, 4, 5], 2)\n[4, 5, 1, 2, 3]",
     "if not items:\n    return []\nk %= len(items)\nreturn items[-k:] + items[:-k] if k else list(items)",
     ["candidate([1, 2, 3, 4, 5], 2) == [4, 5, 1, 2, 3]", "candidate([], 3) == []",
      "candidate([1, 2, 3], 3) == [1, 2, 3]", "candidate([1, 2, 3], 4) == [3, 1, 2]"]),
    ("differences", "nums: list[int]) -> list[int]",
     "Return the differences between consecutive elements: element i is nums[i+1] - nums[i].\n\n>>> differences([1, 4, 9, 16])\n[3, 5, 7]",
     "return [b - a for a, b in zip(nums, nums[1:])]",
     ["candidate([1, 4, 9, 16]) == [3, 5, 7]", "candidate([5]) == []", "candidate([]) == []",
      "candidate([3, 1]) == [-2]"]),
    ("max_subarray_sum", "nums: list[int]) -> int",
     "Return the largest sum of a non-empty contiguous sub-list of the non-empty list nums.\n\n>>> max_subarray_sum([-2, 1, -3, 4, -1, 2, 1, -5, 4])\n6",
     "best = current = nums[0]\nfor x in nums[1:]:\n    current = max(x, current + x)\n    best = max(best, current)\nreturn best",
     ["candidate([-2, 1, -3, 4, -1, 2, 1, -5, 4]) == 6", "candidate([-3, -1, -2]) == -1", "candidate([5]) == 5",
      "candidate([1, 2, 3]) == 6"]),
    ("fibonacci", "n: int) -> int",
     "Return the n-th Fibonacci number, with fibonacci(0) == 0 and fibonacci(1) == 1.\n\n>>> fibonacci(10)\n55",
     "a, b = 0, 1\nfor _ in range(n):\n    a, b = b, a + b\nreturn a",
     ["candidate(0) == 0", "candidate(1) == 1", "candidate(10) == 55", "candidate(90) == 2880067194370816120"]),
    ("collatz_steps", "n: int) -> int",
     "Return how many steps the Collatz rule (n -> n/2 if n is even, else 3n+1) needs to bring\nthe positive integer n down to 1.\n\n>>> collatz_steps(6)\n8",
     "steps = 0\nwhile n != 1:\n    n = n // 2 if n % 2 == 0 else 3 * n + 1\n    steps += 1\nreturn steps",
     ["candidate(6) == 8", "candidate(1) == 0", "candidate(27) == 111", "candidate(16) == 4"]),
    ("snake_to_camel", "s: str) -> str",
     "Convert a snake_case identifier to camelCase.\n\n>>> snake_to_camel('max_retry_count')\n'maxRetryCount'",
     "head, *rest = s.split('_')\nreturn head + ''.join(w[:1].upper() + w[1:] for w in rest)",
     ["candidate('max_retry_count') == 'maxRetryCount'", "candidate('name') == 'name'",
      "candidate('a_b_c') == 'aBC'"]),
    ("camel_to_snake", "s: str) -> str",
     "Convert a camelCase identifier to snake_case: every upper-case letter becomes an\nunderscore followed by its lower-case form.\n\n>>> camel_to_snake('maxRetryCount')\n'max_retry_count'",
     "return ''.join('_' + c.lower() if c.isupper() else c for c in s)",
     ["candidate('maxRetryCount') == 'max_retry_count'", "candidate('name') == 'name'",
      "candidate('aBC') == 'a_b_c'"]),
    ("longest_common_prefix", "words: list[str]) -> str",
     "Return the longest string that is a prefix of every word in words ('' for an empty list).\n\n>>> longest_common_prefix(['flower', 'flow', 'flight'])\n'fl'",
     "if not words:\n    return ''\nprefix = words[0]\nfor w in words[1:]:\n    while not w.startswith(prefix):\n        prefix = prefix[:-1]\nreturn prefix",
     ["candidate(['flower', 'flow', 'flight']) == 'fl'", "candidate([]) == ''", "candidate(['dog', 'car']) == ''",
      "candidate(['same', 'same']) == 'same'", "candidate(['a']) == 'a'"]),
    ("squeeze_spaces", "s: str) -> str",
     "Collapse every run of whitespace in s into a single space and remove leading and trailing\nwhitespace.\n\n>>> squeeze_spaces('  a  b\\t\\tc ')\n'a b c'",
     "return ' '.join(s.split())",
     ["candidate('  a  b\\t\\tc ') == 'a b c'", "candidate('') == ''", "candidate('x') == 'x'",
      "candidate('one\\n two') == 'one two'"]),
    ("mean_and_median", "nums: list[float]) -> tuple[float, float]",
     "Return (mean, median) of a non-empty list of numbers. For an even count the median is the\nmean of the two middle values.\n\n>>> mean_and_median([3, 1, 2, 10])\n(4.0, 2.5)",
     "s = sorted(nums)\nn = len(s)\nmid = n // 2\nmedian = s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2\nreturn (sum(s) / n, float(median))",
     ["candidate([3, 1, 2, 10]) == (4.0, 2.5)", "candidate([5]) == (5.0, 5.0)", "candidate([1, 2, 3]) == (2.0, 2.0)"]),
    ("invert_dict", "d: dict) -> dict",
     "Invert a mapping: return a dict from each value of d to the sorted list of keys that map\nto it.\n\n>>> invert_dict({'a': 1, 'b': 2, 'c': 1})\n{1: ['a', 'c'], 2: ['b']}",
     "out = {}\nfor k, v in d.items():\n    out.setdefault(v, []).append(k)\nreturn {v: sorted(ks) for v, ks in out.items()}",
     ["candidate({'a': 1, 'b': 2, 'c': 1}) == {1: ['a', 'c'], 2: ['b']}", "candidate({}) == {}",
      "candidate({'z': 0, 'y': 0}) == {0: ['y', 'z']}"]),
    ("is_leap_year", "year: int) -> bool",
     "Return True if year is a leap year in the Gregorian calendar.\n\n>>> is_leap_year(2024)\nTrue",
     "return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)",
     ["candidate(2024) is True", "candidate(1900) is False", "candidate(2000) is True", "candidate(2023) is False"]),
    ("day_of_year", "year: int, month: int, day: int) -> int",
     "Return the day number within the year (1 for 1 January) of a valid Gregorian date.\n\n>>> day_of_year(2024, 3, 1)\n61",
     "days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]\nif year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):\n    days[1] = 29\nreturn sum(days[:month - 1]) + day",
     ["candidate(2024, 3, 1) == 61", "candidate(2023, 3, 1) == 60", "candidate(2023, 1, 1) == 1",
      "candidate(2023, 12, 31) == 365", "candidate(2000, 12, 31) == 366"]),
    ("is_valid_ipv4", "s: str) -> bool",
     "Return True if s is a dotted IPv4 address: four decimal numbers from 0 to 255 separated\nby dots, digits only, and no leading zeros (a single '0' is allowed).\n\n>>> is_valid_ipv4('192.168.0.1')\nTrue",
     "parts = s.split('.')\nif len(parts) != 4:\n    return False\nfor p in parts:\n    if not p.isdigit() or not p.isascii():\n        return False\n    if len(p) > 1 and p[0] == '0':\n        return False\n    if int(p) > 255:\n        return False\nreturn True",
     ["candidate('192.168.0.1') is True", "candidate('256.1.1.1') is False", "candidate('1.2.3') is False",
      "candidate('01.2.3.4') is False", "candidate('0.0.0.0') is True", "candidate('1.2.3.-4') is False"]),
    ("interleave", "a: list, b: list) -> list",
     "Alternate the elements of a and b, starting with a; the leftover tail of the longer list\nis appended.\n\n>>> interleave([1, 2, 3], ['x'])\n[1, 'x', 2, 3]",
     "out = []\nfor i in range(max(len(a), len(b))):\n    if i < len(a):\n        out.append(a[i])\n    if i < len(b):\n        out.append(b[i])\nreturn out",
     ["candidate([1, 2, 3], ['x']) == [1, 'x', 2, 3]", "candidate([], [1, 2]) == [1, 2]",
      "candidate([1], [2]) == [1, 2]", "candidate([], []) == []"]),
    ("sum_of_multiples", "n: int) -> int",
     "Return the sum of all positive integers below n that are multiples of 3 or 5.\n\n>>> sum_of_multiples(10)\n23",
     "return sum(i for i in range(1, n) if i % 3 == 0 or i % 5 == 0)",
     ["candidate(10) == 23", "candidate(1) == 0", "candidate(16) == 60", "candidate(1000) == 233168"]),
    ("count_islands", "grid: list[str]) -> int",
     "grid is a list of equal-length strings of '1' (land) and '0' (water). Return the number\nof islands: groups of land cells connected horizontally or vertically.\n\n>>> count_islands(['110', '010', '001'])\n2",
     "rows = len(grid)\ncols = len(grid[0]) if rows else 0\nseen = set()\ncount = 0\nfor r in range(rows):\n    for c in range(cols):\n        if grid[r][c] == '1' and (r, c) not in seen:\n            count += 1\n            stack = [(r, c)]\n            seen.add((r, c))\n            while stack:\n                y, x = stack.pop()\n                for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):\n                    if 0 <= ny < rows and 0 <= nx < cols and grid[ny][nx] == '1' and (ny, nx) not in seen:\n                        seen.add((ny, nx))\n                        stack.append((ny, nx))\nreturn count",
     ["candidate(['110', '010', '001']) == 2", "candidate([]) == 0", "candidate(['000']) == 0",
      "candidate(['101', '010', '101']) == 5", "candidate(['111', '101', '111']) == 1"]),
    ("parse_duration", "text: str) -> int",
     "Parse a duration such as '1h30m15s' into seconds. Each of the units h, m and s appears at\nmost once, in that order, and any of them may be missing.\n\n>>> parse_duration('1h30m15s')\n5415",
     "total = 0\nnumber = ''\nfor c in text:\n    if c.isdigit():\n        number += c\n    else:\n        total += int(number) * {'h': 3600, 'm': 60, 's': 1}[c]\n        number = ''\nreturn total",
     ["candidate('1h30m15s') == 5415", "candidate('45s') == 45", "candidate('2h') == 7200",
      "candidate('10m5s') == 605", "candidate('') == 0"]),
    ("spiral_order", "matrix: list[list[int]]) -> list[int]",
     "Return the elements of a rectangular matrix in clockwise spiral order, starting at the\ntop-left corner.\n\n>>> spiral_order([[1, 2, 3], [4, 5, 6], [7, 8, 9]])\n[1, 2, 3, 6, 9, 8, 7, 4, 5]",
     "out = []\nm = [list(row) for row in matrix]\nwhile m:\n    out.extend(m.pop(0))\n    m = [list(row) for row in zip(*m)][::-1]\nreturn out",
     ["candidate([[1, 2, 3], [4, 5, 6], [7, 8, 9]]) == [1, 2, 3, 6, 9, 8, 7, 4, 5]", "candidate([]) == []",
      "candidate([[1, 2], [3, 4], [5, 6]]) == [1, 2, 4, 6, 5, 3]", "candidate([[7]]) == [7]"]),
    ("digits_to_words", "n: int) -> str",
     "Spell out each decimal digit of the non-negative integer n in English, separated by\nhyphens.\n\n>>> digits_to_words(407)\n'four-zero-seven'",
     "names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']\nreturn '-'.join(names[int(c)] for c in str(n))",
     ["candidate(407) == 'four-zero-seven'", "candidate(0) == 'zero'", "candidate(19) == 'one-nine'"]),
    ("count_inversions", "nums: list[int]) -> int",
     "Return the number of pairs (i, j) with i < j and nums[i] > nums[j].\n\n>>> count_inversions([3, 1, 2])\n2",
     "return sum(1 for i in range(len(nums)) for j in range(i + 1, len(nums)) if nums[i] > nums[j])",
     ["candidate([3, 1, 2]) == 2", "candidate([]) == 0", "candidate([1, 2, 3]) == 0",
      "candidate([4, 3, 2, 1]) == 6", "candidate([2, 2]) == 0"]),
    ("group_by_length", "words: list[str]) -> dict[int, list[str]]",
     "Group words by their length: return a dict from length to the words of that length, in\ntheir original order.\n\n>>> group_by_length(['hi', 'cat', 'ox', 'dog'])\n{2: ['hi', 'ox'], 3: ['cat', 'dog']}",
     "out = {}\nfor w in words:\n    out.setdefault(len(w), []).append(w)\nreturn out",
     ["candidate(['hi', 'cat', 'ox', 'dog']) == {2: ['hi', 'ox'], 3: ['cat', 'dog']}", "candidate([]) == {}",
      "candidate(['', 'a']) == {0: [''], 1: ['a']}"]),
    ("nth_word", "s: str, n: int) -> str",
     "Return the n-th whitespace-separated word of s, counting from 1, or '' if there are\nfewer than n words.\n\n>>> nth_word('alpha beta gamma', 2)\n'beta'",
     "words = s.split()\nreturn words[n - 1] if 1 <= n <= len(words) else ''",
     ["candidate('alpha beta gamma', 2) == 'beta'", "candidate('alpha', 3) == ''", "candidate('', 1) == ''",
      "candidate(' a  b ', 1) == 'a'"]),
]

FEWSHOT_CODE = 3


def code_generation():
    rows = []
    for i, (name, sig, doc, body, asserts) in enumerate(PROBLEMS):
        doc_lines = doc.split("\n")
        doc_text = "\n".join(("    " + l) if l else "" for l in doc_lines)
        prompt = f'def {name}({sig}:\n    """{doc_text[4:]}\n    """\n'
        solution = "".join(("    " + l + "\n") if l else "\n" for l in body.split("\n"))
        test = "def check(candidate):\n" + "".join(f"    assert {a}\n" for a in asserts)
        rows.append({"task_id": f"assay/{i}", "prompt": prompt, "entry_point": name,
                     "canonical_solution": solution, "test": test})
    for row in rows:
        program = row["prompt"] + row["canonical_solution"] + "\n\n" + row["test"] + f"\ncheck({row['entry_point']})\n"
        code, _ = run_python(program)
        assert code == 0, f"canonical solution fails: {row['entry_point']}"
        empty = row["prompt"] + "    pass\n\n\n" + row["test"] + f"\ncheck({row['entry_point']})\n"
        code, _ = run_python(empty)
        assert code != 0, f"empty body passes: {row['entry_point']}"
    fewshot, test = rows[:FEWSHOT_CODE], rows[FEWSHOT_CODE:]
    for i, row in enumerate(fewshot):
        row["task_id"] = f"assay/fewshot/{i}"
    for i, row in enumerate(test):
        row["task_id"] = f"assay/{i}"
    manifest = {
        "task": "code_generation",
        "description": "Complete the body of each Python function so that it does what its docstring says.\n\n",
        "data_files": {"test": "test.jsonl", "fewshot": "fewshot.jsonl"},
        "test_split": "test",
        "fewshot_split": "fewshot",
        "output_type": "generate_until",
        "doc_to_text": "{{ prompt }}",
        "doc_to_target": "{{ canonical_solution }}",
        "target_delimiter": "",
        "fewshot_delimiter": "\n\n",
        "num_fewshot": 0,
        "generation_kwargs": {"until": ["\ndef ", "\nclass ", "\nif __name__", "\nprint("],
                              "max_gen_toks": 384, "do_sample": False, "temperature": 0.0},
        "metric_list": [{"metric": "pass_at_k", "k": [1], "aggregation": "mean", "higher_is_better": True}],
        "repeats": 1,
        "chat": False,
        "version": "1.0",
    }
    card = f"""# code_generation

Measures whether a model can write a short, correct Python function from its signature and docstring, scored by running hidden tests (pass@1 with greedy decoding). The {len(test)} test problems and {len(fewshot)} few-shot problems are string, list, number and date utilities of varied difficulty (from counting vowels to counting islands in a grid or printing a matrix in spiral order), written for this project in the HumanEval row shape (`task_id`, `prompt`, `entry_point`, `canonical_solution`, `test` with `def check(candidate)`); `datasets/_generators/code.py` writes them and, before writing, runs every canonical solution against its tests in a separate Python process and checks that an empty body (`pass`) fails them. Known limits: the problems are small and self-contained, so they say little about larger programs, APIs or repositories; the tests are a few asserts each and cannot rule out every wrong solution; the prompt is a bare function header, so chat models that answer with prose or a fenced block instead of continuing the body are penalised, and the completion is cut at the next top-level `def`, `class`, `if __name__` or `print(`.
"""
    return dataset_files("code_generation", manifest, test, fewshot, card, min_items=40)


# ---------------------------------------------------------------- code_output_prediction


def snippet(rng, kind):
    r = rng.randint
    if kind == 0:
        xs = [r(0, 20) for _ in range(6)]
        i, j = sorted(rng.sample(range(-6, 7), 2))
        return f"xs = {xs}\nprint(xs[{i}:{j}])"
    if kind == 1:
        word = rng.choice(["python", "kernel", "matrix", "orange", "galaxy", "window", "bridge", "silver"])
        op = rng.choice(["s.upper()[::-1]", "s[::2]", "s[1:-1]", "s.replace('a', '4')", "s.count('e')", "s.find('r')"])
        return f"s = '{word}'\nprint({op})"
    if kind == 2:
        a, b, m = r(1, 10), r(15, 40), r(2, 7)
        return f"total = 0\nfor i in range({a}, {b}):\n    if i % {m} == 0:\n        total += i\nprint(total)"
    if kind == 3:
        x, y = r(1, 9), r(1, 9)
        return f"d = {{'a': {x}, 'b': {y}}}\nd['c'] = d['a'] * d['b']\nd['a'] += 1\nprint(sorted(d.values()))"
    if kind == 4:
        a, b = r(-30, 30), rng.choice([-7, -4, -3, 3, 4, 5, 7])
        return f"print({a} // {b}, {a} % {b})"
    if kind == 5:
        n, k = r(5, 12), r(2, 5)
        return f"print([x * {k} for x in range({n}) if x % 2 == 1])"
    if kind == 6:
        n = r(20, 500)
        return f"n = {n}\nsteps = 0\nwhile n > 1:\n    n = n // 2\n    steps += 1\nprint(steps)"
    if kind == 7:
        k, m = r(4, 9), r(7, 100)
        return f"def f(n):\n    return 1 if n <= 1 else n * f(n - 1)\n\nprint(f({k}) % {m})"
    if kind == 8:
        a = sorted(rng.sample(range(1, 12), 5))
        b = sorted(rng.sample(range(1, 12), 5))
        return f"a = {set(a)}\nb = {set(b)}\nprint(sorted(a & b), len(a | b))"
    if kind == 9:
        xs = [r(1, 9) for _ in range(r(3, 6))]
        return f"xs = {xs}\nprint(sum(i * x for i, x in enumerate(xs)))"
    if kind == 10:
        vals = rng.sample(range(1, 10), 3)
        return (f"def add(x, acc=[]):\n    acc.append(x)\n    return acc\n\n"
                f"add({vals[0]})\nadd({vals[1]})\nprint(add({vals[2]}))")
    if kind == 11:
        words = rng.sample(["fig", "pear", "kiwi", "plum", "apple", "mango", "lime", "date", "cherry", "banana"], 5)
        return f"words = {words}\nprint(sorted(words, key=len))"
    if kind == 12:
        x, y, n = r(0, 5), r(1, 5), r(2, 5)
        return f"a, b = {x}, {y}\nfor _ in range({n}):\n    a, b = b, a + b\nprint(a, b)"
    if kind == 13:
        xs = [r(-9, 9) for _ in range(5)]
        return f"xs = {xs}\nprint(max(xs, key=abs), min(xs, key=lambda v: v * v))"
    if kind == 14:
        word = rng.choice(["banana", "letter", "mississippi", "bookkeeper", "committee", "balloon"])
        return f"counts = {{}}\nfor c in '{word}':\n    counts[c] = counts.get(c, 0) + 1\nprint(max(counts.values()), len(counts))"
    if kind == 15:
        a, b = r(2, 9), r(2, 9)
        return f"x = [{a}, {b}]\ny = x\ny.append(x[0] + x[1])\nz = x[:]\nz.append(0)\nprint(len(x), len(y), len(z))"
    if kind == 16:
        s = rng.choice(["a,b,,c", "1;2;3", "x--y--z", "one two  three"])
        sep = {"a,b,,c": "','", "1;2;3": "';'", "x--y--z": "'--'", "one two  three": "' '"}[s]
        return f"parts = '{s}'.split({sep})\nprint(len(parts), parts[-1])"
    n = r(3, 7)
    return f"out = []\nfor i in range({n}):\n    if i == 2:\n        continue\n    if i == {n - 1}:\n        break\n    out.append(i)\nprint(out)"


N_KINDS = 18


def code_output_prediction():
    rng = random.Random(SEED + 1)
    rows, seen = [], set()
    kind = 0
    while len(rows) < 64:
        code = snippet(rng, kind % N_KINDS)
        kind += 1
        if code in seen:
            continue
        seen.add(code)
        status, out = run_python(code)
        assert status == 0, code
        lines = out.strip("\n").split("\n")
        assert len(lines) == 1 and lines[0].strip(), code
        rows.append({"code": code, "output": lines[0].strip()})
    fewshot, test = rows[:4], rows[4:]
    manifest = {
        "task": "code_output_prediction",
        "description": "Predict the exact output of each Python snippet. Reply with the output only, on one line.\n\n",
        "data_files": {"test": "test.jsonl", "fewshot": "fewshot.jsonl"},
        "test_split": "test",
        "fewshot_split": "fewshot",
        "output_type": "generate_until",
        "doc_to_text": "What does this Python snippet print?\n\n```python\n{{ code }}\n```\nOutput:",
        "doc_to_target": "{{ output }}",
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "num_fewshot": 3,
        "generation_kwargs": {"until": ["\n"], "max_gen_toks": 48, "do_sample": False, "temperature": 0.0},
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
        "filter_list": [{"name": "strip", "filter": [{"function": "strip"}, {"function": "take_first"}]}],
        "version": "1.0",
    }
    card = f"""# code_output_prediction

Measures whether a model can trace short Python programs: each item shows a snippet of two to seven lines (slicing, string methods, loops with `continue`/`break`, floor division and modulo with negative numbers, set operations, sorting with a key, aliasing versus copying, the shared mutable default argument) and asks for the single line it prints; the answer is scored by exact match after stripping whitespace. The {len(test)} test and {len(fewshot)} few-shot snippets come from {N_KINDS} templates filled with seeded random values by `datasets/_generators/code.py`, and every expected output was produced by running the snippet with Python 3; nothing was written by hand or copied. Known limits: outputs use CPython's `repr` formatting (quotes, spacing, set and list printing), so an answer that is right in substance but spaced differently scores zero; templates repeat with different numbers, so the set tests a narrow band of language features; and a model that writes an explanation before the output fails because only the first line is kept.
"""
    return dataset_files("code_output_prediction", manifest, test, fewshot, card)


# ---------------------------------------------------------------- code_concepts

# (question, correct answer, three wrong answers)
CONCEPTS = [
    ("What is the average time complexity of looking up a key in a Python dict?", "O(1)", ["O(log n)", "O(n)", "O(n log n)"]),
    ("What is the amortised time complexity of list.append in CPython?", "O(1)", ["O(log n)", "O(n)", "O(n^2)"]),
    ("What does `7 // 2` evaluate to in Python 3?", "3", ["3.5", "4", "3.0"]),
    ("What does `-7 // 2` evaluate to in Python 3?", "-4", ["-3", "-3.5", "4"]),
    # ---- test questions from here on
    ("What is the time complexity of inserting an element at the front of a Python list of n elements?", "O(n)", ["O(1)", "O(log n)", "O(n^2)"]),
    ("What is the worst-case time complexity of binary search on a sorted array of n elements?", "O(log n)", ["O(1)", "O(n)", "O(n log n)"]),
    ("What is the average time complexity of the test `x in s` when s is a Python set?", "O(1)", ["O(log n)", "O(n)", "O(n^2)"]),
    ("What is the time complexity of the test `x in xs` when xs is a Python list of n elements?", "O(n)", ["O(1)", "O(log n)", "O(n log n)"]),
    ("What is the worst-case time complexity of quicksort with a naive pivot choice?", "O(n^2)", ["O(n)", "O(n log n)", "O(log n)"]),
    ("What is the worst-case time complexity of merge sort?", "O(n log n)", ["O(n)", "O(n^2)", "O(log n)"]),
    ("Which data structure does breadth-first search use to hold the nodes it will visit next?", "A queue", ["A stack", "A hash set only", "A binary heap"]),
    ("Which data structure does an iterative depth-first search use to hold the nodes it will visit next?", "A stack", ["A queue", "A priority queue", "A sorted list"]),
    ("Dijkstra's shortest-path algorithm gives correct results only when the graph has which property?", "No negative edge weights", ["No cycles", "All edge weights equal", "At most one edge per node"]),
    ("What kind of heap does Python's heapq module maintain?", "A min-heap", ["A max-heap", "A Fibonacci heap", "A balanced binary search tree"]),
    ("What is the time complexity of heapq.heappop on a heap of n items?", "O(log n)", ["O(1)", "O(n)", "O(n log n)"]),
    ("What is the time complexity of heapq.heapify on a list of n items?", "O(n)", ["O(log n)", "O(n log n)", "O(n^2)"]),
    ("What is the time complexity of len() on a Python list?", "O(1)", ["O(log n)", "O(n)", "It depends on the element types"]),
    ("Which sorting algorithm does CPython use for list.sort() and sorted()?", "Timsort, a hybrid of merge sort and insertion sort", ["Quicksort", "Heapsort", "Radix sort"]),
    ("Is Python's built-in sort stable?", "Yes, equal elements keep their original order", ["No, equal elements may be reordered", "Only for lists of integers", "Only when reverse=True"]),
    ("What does `0.1 + 0.2 == 0.3` evaluate to in Python?", "False", ["True", "None", "It raises an error"]),
    ("What does `bool([])` evaluate to?", "False", ["True", "None", "It raises a TypeError"]),
    ("What is the type of `3 / 2` in Python 3?", "float", ["int", "fractions.Fraction", "decimal.Decimal"]),
    ("What does `'ab' * 3` evaluate to?", "'ababab'", ["'ab3'", "['ab', 'ab', 'ab']", "It raises a TypeError"]),
    ("What does `list(range(2, 10, 3))` evaluate to?", "[2, 5, 8]", ["[2, 5, 8, 11]", "[3, 6, 9]", "[2, 3, 4]"]),
    ("What does `'a,b,,c'.split(',')` return?", "['a', 'b', '', 'c']", ["['a', 'b', 'c']", "['a', 'b', ',', 'c']", "['a,b,,c']"]),
    ("What does `round(2.5)` return in Python 3?", "2", ["3", "2.5", "3.0"]),
    ("What does `int('1A', 16)` return?", "26", ["16", "110", "It raises a ValueError"]),
    ("What does `[] is []` evaluate to?", "False", ["True", "None", "It raises a SyntaxError"]),
    ("Which of these Python built-in types is mutable?", "list", ["tuple", "str", "frozenset"]),
    ("When is the default value of a Python function parameter evaluated?", "Once, when the def statement is executed", ["Every time the function is called", "When the module is imported for the first time only if it is a constant", "Never; defaults are copied lazily"]),
    ("In Python, what does the `is` operator compare?", "Object identity", ["Value equality", "Type equality", "Hash values"]),
    ("What does a Python function that contains `yield` return when called?", "A generator object", ["The first yielded value", "None", "A list of all yielded values"]),
    ("Inside a function defined as `def f(*args)`, what is the type of args?", "tuple", ["list", "dict", "set"]),
    ("Inside a function defined as `def f(**kwargs)`, what is the type of kwargs?", "dict", ["tuple", "list", "set"]),
    ("Which methods does a `with` statement call on its context manager?", "__enter__ and __exit__", ["__init__ and __del__", "__open__ and __close__", "__iter__ and __next__"]),
    ("Which keyword lets a nested function rebind a variable of its enclosing function?", "nonlocal", ["global", "outer", "static"]),
    ("In what order does Python resolve a bare name?", "Local, enclosing, global, built-in", ["Global, local, enclosing, built-in", "Built-in, global, enclosing, local", "Local, global, built-in, enclosing"]),
    ("What does `xs.sort()` return for a Python list xs?", "None", ["The sorted list", "A new sorted copy", "The number of elements moved"]),
    ("What does `zip([1, 2, 3], ['a', 'b'])` produce when turned into a list?", "[(1, 'a'), (2, 'b')]", ["[(1, 'a'), (2, 'b'), (3, None)]", "[1, 'a', 2, 'b', 3]", "It raises a ValueError"]),
    ("After `x = [1, 2]; y = x; y.append(3)`, what is x?", "[1, 2, 3]", ["[1, 2]", "[3]", "[1, 2, [3]]"]),
    ("Which function makes an independent copy of a nested list, including its inner lists?", "copy.deepcopy", ["list.copy", "copy.copy", "slicing with [:]"]),
    ("What does `any([])` return?", "False", ["True", "None", "It raises a ValueError"]),
    ("What does `all([])` return?", "True", ["False", "None", "It raises a ValueError"]),
    ("What does `'Hello'[1:3]` evaluate to?", "'el'", ["'He'", "'ell'", "'ello'"]),
    ("What does `'abc'.find('z')` return?", "-1", ["None", "0", "It raises a ValueError"]),
    ("Which exception does `{}['missing']` raise?", "KeyError", ["IndexError", "ValueError", "LookupWarning"]),
    ("Which exception does `int('3.5')` raise?", "ValueError", ["TypeError", "ArithmeticError", "It returns 3"]),
    ("What does `divmod(17, 5)` return?", "(3, 2)", ["(2, 3)", "(3.4, 0)", "[3, 2]"]),
    ("What does `True + True` evaluate to in Python?", "2", ["True", "1", "It raises a TypeError"]),
    ("What does `{}` create in Python?", "An empty dict", ["An empty set", "An empty list", "None"]),
    ("How large can a Python int be?", "Limited only by available memory", ["64 bits", "32 bits", "128 bits"]),
    ("What is the time complexity of reading the k-th element of a singly linked list?", "O(k)", ["O(1)", "O(log k)", "O(k^2)"]),
    ("What is the worst-case time complexity of a lookup in a hash table with n entries?", "O(n)", ["O(1)", "O(log n)", "O(n log n)"]),
    ("What is the time complexity of searching a balanced binary search tree with n nodes?", "O(log n)", ["O(1)", "O(n)", "O(n log n)"]),
    ("How many edges does a tree with n nodes have?", "n - 1", ["n", "n + 1", "2n"]),
    ("A topological ordering exists only for which kind of graph?", "A directed acyclic graph", ["An undirected tree", "A complete graph", "Any directed graph"]),
    ("What is the time complexity of the Floyd-Warshall all-pairs shortest-path algorithm on V vertices?", "O(V^3)", ["O(V^2)", "O(V log V)", "O(2^V)"]),
    ("Which of these sorting algorithms is stable in its usual form?", "Merge sort", ["Heapsort", "Selection sort", "Quicksort with in-place partitioning"]),
    ("A last-in, first-out (LIFO) collection is called what?", "A stack", ["A queue", "A deque only", "A heap"]),
    ("Which two properties make a problem a good fit for dynamic programming?", "Overlapping subproblems and optimal substructure", ["Sorted input and unique keys", "Recursion and randomness", "Constant memory and linear time"]),
    ("What is the time complexity of popping from the left end of a collections.deque?", "O(1)", ["O(log n)", "O(n)", "O(n^2)"]),
    ("What is the default recursion limit reported by sys.getrecursionlimit() in CPython?", "1000", ["100", "10000", "Unlimited"]),
    ("What does `sorted('bca')` return?", "['a', 'b', 'c']", ["'abc'", "('a', 'b', 'c')", "It raises a TypeError"]),
    ("What does `'10' + '5'` evaluate to?", "'105'", ["15", "'15'", "It raises a TypeError"]),
    ("What does `2 ** 10` evaluate to?", "1024", ["20", "100", "1000"]),
    ("What does `7 % -3` evaluate to in Python?", "-2", ["1", "-1", "2"]),
    ("Which statement about Python strings is true?", "They are immutable", ["They can be changed in place with item assignment", "They are always ASCII", "They are stored as lists of bytes"]),
    ("Which built-in returns both the index and the value while iterating?", "enumerate", ["zip", "range", "iter"]),
    ("What does `len('héllo')` return in Python 3?", "5", ["6", "4", "It depends on the encoding"]),
    ("What does `{1, 2} | {2, 3}` evaluate to?", "{1, 2, 3}", ["{2}", "{1, 3}", "{1, 2, 2, 3}"]),
    ("What does `{1, 2} & {2, 3}` evaluate to?", "{2}", ["{1, 2, 3}", "{1, 3}", "set()"]),
]


def code_concepts():
    rng = random.Random(SEED + 2)
    rows = mc_rows(rng, CONCEPTS)
    fewshot, test = rows[:4], rows[4:]
    manifest = mc_manifest(
        "code_concepts",
        'The following are multiple-choice questions about Python and algorithms.\n\n',
        'Question: {{ question }}\nAnswer:',
        ['acc', 'acc_norm'],
    )
    card = f"""# code_concepts

Measures knowledge of Python semantics and basic algorithms: the cost of common operations (dict and set lookup, list insertion, heap operations, binary search, sorting), the behaviour of the language (floor division and modulo with negative numbers, banker's rounding, identity versus equality, default arguments evaluated once, aliasing, scoping rules, exception types) and textbook algorithm facts (BFS uses a queue, Dijkstra needs non-negative weights, a tree with n nodes has n - 1 edges). Each of the {len(test)} test and {len(fewshot)} few-shot items is a four-choice question scored by comparing the log-likelihood of the choices (`acc`, and `acc_norm` normalised by length). The questions and wrong answers were written for this project and checked against CPython 3.11 behaviour; `datasets/_generators/code.py` shuffles the choice order with a fixed seed and writes the files. Known limits: some answers are CPython-specific (Timsort, the default recursion limit of 1000), complexity answers assume the usual average-case meaning unless the question says worst case, and a small hand-written set has a few near-duplicate themes.
"""
    return dataset_files("code_concepts", manifest, test, fewshot, card)


def main():
    check = "--check" in sys.argv[1:]
    files = {}
    files.update(code_generation())
    files.update(code_output_prediction())
    files.update(code_concepts())
    return emit(files, check)


if __name__ == "__main__":
    sys.exit(main())
