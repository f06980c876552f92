"""The fixed data of the example: lists of numbers the uploaded function
is run on, and stored example programs (for the links on the page)."""

DATASETS = [
    ("temperatures (°C)", [21.5, 23.0, 19.8, 25.1, 22.4]),
    ("exam scores", [3, 4, 5, 8]),
    ("first primes", [2, 3, 5, 7, 11, 13, 17]),
    ("a single reading", [42]),
    ("no data", []),
]

SEED = "def somefunctionname(xs):\n    return sum(xs)/len(xs)\n"

# name -> (function, code, what it shows)
EXAMPLES = {
    "mean": ("somefunctionname", SEED,
             "the original question's function: a float per list, ZeroDivisionError for []"),
    "median": ("median",
               "import statistics\n\n\ndef median(xs):\n    return float(statistics.median(xs))\n",
               "an allowed import (statistics)"),
    "syntax-error": ("mean", "def mean(xs):\n    return sum(xs) / len(xs\n",
                     "a syntax error, with its line"),
    "forbidden-import": ("mean", "import os\n\n\ndef mean(xs):\n    return os.getpid()\n",
                         "a forbidden import"),
    "timeout": ("mean", "def mean(xs):\n    while True:\n        pass\n",
                "an endless loop, stopped by the time limit"),
    "escape": ("mean",
               "import random\n\n\ndef mean(xs):\n    return random._os.open('/etc/passwd', 0)\n",
               "an escape attempt, stopped by the sandbox"),
}


def arguments():
    """One argument tuple per dataset, for sandq's map()."""
    return [(numbers,) for _, numbers in DATASETS]
