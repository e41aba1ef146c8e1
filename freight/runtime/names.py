"""Docker-style random container names: ``adjective_surname``."""

from __future__ import annotations

import os
import re

from freight.errors import InvalidArgument

LEFT = ("admiring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful",
        "blissful", "bold", "boring", "brave", "busy", "charming", "clever", "compassionate",
        "competent", "confident", "cool", "cranky", "crazy", "dazzling", "determined", "distracted",
        "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic", "exciting",
        "fervent", "festive", "flamboyant", "focused", "friendly", "frosty", "funny", "gallant",
        "gifted", "goofy", "gracious", "great", "happy", "hardcore", "heuristic", "hopeful",
        "hungry", "infallible", "inspiring", "intelligent", "interesting", "jolly", "jovial",
        "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "musing", "mystifying",
        "naughty", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful",
        "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical", "recursing",
        "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic",
        "strange", "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled",
        "upbeat", "vibrant", "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial",
        "youthful", "zealous", "zen")
RIGHT = ("agnesi", "albattani", "allen", "archimedes", "babbage", "banach", "bardeen", "bell",
         "bhabha", "blackwell", "bohr", "booth", "borg", "bose", "brahmagupta", "brattain", "brown",
         "cannon", "carson", "cerf", "chandrasekhar", "cohen", "curie", "darwin", "davinci",
         "dijkstra", "einstein", "elion", "engelbart", "euclid", "euler", "fermat", "fermi",
         "feynman", "franklin", "galileo", "gauss", "goldberg", "goodall", "hamilton", "hawking",
         "heisenberg", "hodgkin", "hopper", "hypatia", "jackson", "jennings", "johnson", "kalam",
         "keller", "kepler", "knuth", "kowalevski", "lamarr", "lamport", "leakey", "lovelace",
         "lumiere", "mayer", "mccarthy", "mcclintock", "meitner", "mendel", "merkle", "morse",
         "napier", "newton", "nobel", "noether", "pare", "pascal", "pasteur", "payne", "perlman",
         "pike", "poincare", "ptolemy", "raman", "ramanujan", "ride", "ritchie", "rosalind",
         "sammet", "shannon", "shaw", "sinoussi", "stonebraker", "swanson", "tesla", "thompson",
         "torvalds", "turing", "varahamihira", "visvesvaraya", "wilbur", "wiles", "williams",
         "wing", "wozniak", "wright", "yalow", "yonath")

_NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def random_name() -> str:
    left, right, digit = os.urandom(3)
    name = f"{LEFT[left % len(LEFT)]}_{RIGHT[right % len(RIGHT)]}"
    return name if digit % 4 else f"{name}{digit % 10}"


def check_name(name: str) -> str:
    """A user-given name without its leading slash; Docker's error for a bad one."""
    if not _NAME_RE.match(name):
        raise InvalidArgument(f'Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
    return name.lstrip("/")
