"""Lexicon sentiment for crypto news and social text: a score in −1..1 and the words behind it.

Deterministic and dependency-free on purpose: the engine scores every headline it collects, the
desk can show *why* a headline scored as it did, and a replayed ledger scores identically.
The rules follow VADER (Hutto & Gilbert, 2014) in spirit — negation, intensifiers, capitals,
exclamation marks and "but" — over a lexicon of market and crypto vocabulary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType

# Weights in −4..4. Entries are written in base form: inflections ("surged", "rallies",
# "hacked", "sell-offs") are reduced to these by `_lemma`. A hyphen is a space, so
# "all-time high" also matches "all time high". Entries written in capitals are acronyms,
# which get no extra weight for being shouted.
_WEIGHTS: dict[float, str] = {
    4.0: "all-time high, ATH, record high, ETF approval, ETF approve, to the moon, relief rally",
    3.5: "skyrocket, moonshot, bull run, bull market, parabolic",
    3.0: "moon, surge, soar, breakout, break out, new high, euphoria, boom, blowout, "
    "golden cross, regulatory clarity, mass adoption, institutional adoption, green light, "
    "greenlight, outperform, record inflow",
    2.5: "bullish, rally, rebound, approve, approval, adoption, rocket, victory, breakthrough, "
    "legalize, reclaim, inflow, buy the dip, bought the dip, short squeeze",
    2.0: "pump, jump, climb, gain, recover, recovery, partnership, upgrade, listing, adopt, "
    "accumulate, accumulation, win, won, success, successful, milestone, boost, optimism, "
    "optimistic, upbeat, great, best, profitable, surpass, relief, outpace, higher high",
    1.5: "rise, rose, risen, bounce, spike, launch, partner, listed, integrate, integration, "
    "expand, expansion, strong, strength, robust, confidence, confident, positive, good, "
    "better, improve, profit, growth, grow, funding, upside, dovish, rate cut, stimulus, "
    "legitimacy, clarity, safe haven, reopen, beat, bull, in the green, risk on",
    1.0: "higher, buy, hodl, FOMO, invest, investment, raise, acquire, acquisition, secure, "
    "safe, protect, resume, support, demand",
    -1.0: "lower, sell, delay, postpone, risk, volatile, lag, pressure, skeptic, tariff, "
    "charge, cancel",
    -1.5: "dip, bear, outflow, uncertainty, uncertain, doubt, skeptical, concern, warn, "
    "overvalued, miss, bug, risky, downside, hawkish, under pressure, risk off, "
    "in the red, problem",
    -2.0: "fall, fell, fallen, drop, decline, slide, slip, weak, weakness, fear, worry, "
    "threat, threaten, loss, lose, lost, probe, investigation, subpoena, penalty, "
    "sanction, deny, reject, downgrade, vulnerability, flaw, glitch, fail, layoff, bubble, "
    "underperform, negative, bad, poor, recession, war, exodus, flee, bleed, bagholder, "
    "struggle, plague, dead cat bounce, bull trap, long squeeze, sell pressure, "
    "downtime, raise concern, FUD",
    -2.5: "bearish, dump, slump, sink, sank, tumble, shed, outage, halt, suspend, freeze, "
    "frozen, attack, phishing, sue, fined, guilty, convict, illegal, criminal, manipulation, "
    "manipulate, wash trading, rejection, failure, turmoil, chaos, crisis, panic, worst, "
    "shutdown, shut down, liquidate, death cross, margin call, hacker, ETF delay, indict, "
    "indictment, arrest, jail, prison",
    -3.0: "crash, plunge, plummet, tank, nosedive, crater, selloff, sell-off, bear market, "
    "liquidation, scam, scammer, fraud, fraudulent, lawsuit, SEC charge, SEC sue, ban, "
    "crackdown, delist, delisting, capitulation, capitulate, wipe out, theft, "
    "steal, stole, stolen, breach, rug, rekt, carnage, meltdown, contagion, default, "
    "laundering, money laundering, cease and desist, depeg, all-time low, new low, "
    "record low, ETF rejection, ETF reject, halt withdrawal, pause withdrawal, "
    "suspend withdrawal, pump and dump",
    -3.5: "hack, exploit, exploiter, drain, insolvent, insolvency, bankrupt, "
    "bankruptcy, collapse, bloodbath",
    -4.0: "rugpull, rug pull, exit scam, ponzi, death spiral",
}

# Words that flip the next sentiment word within a short window ("n't" is handled in _lemma).
_NEGATORS = (
    "not, no, never, without, hardly, cannot, neither, nor, nobody, nothing, fail to, "
    "unable to, no longer, lack"
)
_NEGATED = -0.75  # flipped and damped: "not bad" is milder praise than "bad" is blame

_INTENSIFIERS: dict[float, str] = {
    1.6: "extremely, incredibly, hugely, massively, enormously, record, biggest, largest",
    1.5: "massive, extreme, dramatic, dramatically, sharply, steeply, heavily, unprecedented",
    1.4: "huge, major, sharp, steep, significant, significantly, strongly, deeply, totally, "
    "absolutely",
    1.3: "very, really, big, heavy, serious, seriously, wild, fresh",
    0.7: "somewhat, modest, modestly, small, partly, partially, kind of, sort of, moderate",
    0.6: "mild, mildly, minor, little, a bit",
    0.5: "slightly, slight, marginally, marginal, barely, tiny",
}
_SCALE_BOUNDS = (0.25, 2.0)  # stacked modifiers ("very very huge") stay bounded

_NEGATION_WINDOW = 4  # a negator reaches past up to three words: "not going to crash"
_INTENSIFIER_WINDOW = 3  # an intensifier reaches past up to two: "huge weekend rally"
_CAPS_BOOST = 1.25  # "CRASH" in mixed-case text is shouted
_BANG_WEIGHT, _MAX_BANGS = 0.3, 3  # each "!" adds a little, up to three
_BUT_BEFORE, _BUT_AFTER = 0.5, 1.5  # the clause after "but" is what the writer means
_ALPHA = 15.0  # x / sqrt(x² + α): one strong word ≈ 0.6, several ≈ 0.9, never 1

# Kinds of lexicon entry.
_SENTIMENT, _NEGATOR, _INTENSIFIER, _CONTRAST, _INERT = range(5)

_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’][A-Za-z]+)?|\d+(?:[.,]\d+)*%?|!+|[.,;:?]")
_LOWERCASE = re.compile(r"[a-z]")
_CLAUSE_BREAKS = frozenset(".,;:?")

_Entry = tuple[list[str], int, float, bool]  # words, kind, value, is an acronym


def _words(phrase: str) -> list[str]:
    return phrase.lower().replace("-", " ").split()


def _build() -> tuple[dict[str, list[_Entry]], frozenset[str], dict[str, float]]:
    entries: list[_Entry] = []
    lexicon: dict[str, float] = {}
    for weight, phrases in _WEIGHTS.items():
        for phrase in phrases.split(","):
            phrase = phrase.strip()
            entries.append((_words(phrase), _SENTIMENT, weight, phrase.isupper()))
            lexicon[phrase.lower()] = weight
    for phrase in _NEGATORS.split(","):
        entries.append((_words(phrase), _NEGATOR, _NEGATED, False))
    for scale, phrases in _INTENSIFIERS.items():
        entries += [(_words(p), _INTENSIFIER, scale, False) for p in phrases.split(",")]
    entries += [(["but"], _CONTRAST, 0.0, False), (["however"], _CONTRAST, 0.0, False)]
    # "not only … but also" is neither a negation nor a contrast.
    entries += [(["not", "only"], _INERT, 0.0, False), (["but", "also"], _INERT, 0.0, False)]

    index: dict[str, list[_Entry]] = {}
    for entry in entries:
        index.setdefault(entry[0][0], []).append(entry)
    for candidates in index.values():
        candidates.sort(key=lambda e: -len(e[0]))  # longest phrase wins
    vocabulary = frozenset(word for entry in entries for word in entry[0])
    return index, vocabulary, lexicon


_INDEX, _VOCABULARY, _LEXICON = _build()

LEXICON: Mapping[str, float] = MappingProxyType(_LEXICON)
"""Every sentiment entry (lower case, phrases as written) and its weight in −4..4."""

_lemmas: dict[str, str] = {}
_LEMMA_CACHE_SIZE = 50_000


def _stems(word: str) -> list[str]:
    """Candidate base forms of an inflected word, most specific first."""
    out: list[str] = []
    if len(word) <= 3:
        return out
    if word.endswith(("ies", "ied")):
        out.append(word[:-3] + "y")
    if word.endswith("ing"):
        out += [word[:-3], word[:-3] + "e"]
        if len(word) > 5 and word[-4] == word[-5]:
            out.append(word[:-4])  # dipping → dip
    elif word.endswith("ed"):
        out += [word[:-2], word[:-1]]
        if len(word) > 4 and word[-3] == word[-4]:
            out.append(word[:-3])  # banned → ban
    elif word.endswith("es"):
        out += [word[:-2], word[:-1]]
    elif word.endswith("s") and not word.endswith("ss"):
        out.append(word[:-1])
    elif word.endswith("ly"):
        out.append(word[:-2])
    return [s for s in out if len(s) >= 3]


def _lemma(token: str) -> str:
    """The lexicon form of a token: lower case, possessive and inflection removed."""
    cached = _lemmas.get(token)
    if cached is not None:
        return cached
    word = token.lower().replace("’", "'")
    if word.endswith("n't"):
        word = "not"
    elif "'" in word:
        word = word.split("'", 1)[0]  # bitcoin's → bitcoin
    if word not in _VOCABULARY:
        word = next((s for s in _stems(word) if s in _VOCABULARY), word)
    if len(_lemmas) >= _LEMMA_CACHE_SIZE:
        _lemmas.clear()  # random input must not grow the cache without bound
    _lemmas[token] = word
    return word


def _match(lemmas: list[str], i: int) -> _Entry | None:
    for entry in _INDEX.get(lemmas[i], ()):
        words = entry[0]
        if lemmas[i : i + len(words)] == words:
            return entry
    return None


def explain(text: str) -> list[tuple[str, float]]:
    """The words that move the score, as written in ``text``, with their final signed weights.

    The weights sum to the raw score that `score` normalises; "!" emphasis appears as its own
    entry. A negated or intensified word is shown with its modifiers ("not very bullish").
    """
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    lemmas = [_lemma(tok) for tok, _, _ in tokens]
    shouting_stands_out = _LOWERCASE.search(text) is not None
    found: list[tuple[str, float]] = []
    contrast_at: int | None = None
    bangs = 0
    negation = boost_left = 0
    scale = 1.0
    modifier_start: int | None = None

    i = 0
    while i < len(tokens):
        token, start, _ = tokens[i]
        if token[0] == "!":
            bangs += len(token)
            i += 1
            continue
        entry = None if token in _CLAUSE_BREAKS else _match(lemmas, i)
        if entry is None:
            # An ordinary word uses up the modifiers' reach; punctuation ends it at once.
            if token in _CLAUSE_BREAKS:
                negation = boost_left = 0
            negation, boost_left = max(negation - 1, 0), max(boost_left - 1, 0)
            if not boost_left:
                scale = 1.0
            if not negation and not boost_left:
                modifier_start = None
            i += 1
            continue
        words, kind, value, acronym = entry
        end = tokens[i + len(words) - 1][2]
        if kind == _NEGATOR:
            negation = _NEGATION_WINDOW
        elif kind == _INTENSIFIER:
            scale *= value
            boost_left = _INTENSIFIER_WINDOW
        elif kind == _CONTRAST:
            contrast_at = len(found)
            negation = boost_left = 0
            scale, modifier_start = 1.0, None
        elif kind == _SENTIMENT:
            weight = value
            if (
                shouting_stands_out
                and not acronym
                and all(t[0].isupper() for t in tokens[i : i + len(words)])
            ):
                weight *= _CAPS_BOOST
            if boost_left > 0:
                weight *= min(max(scale, _SCALE_BOUNDS[0]), _SCALE_BOUNDS[1])
            if negation > 0:
                weight *= _NEGATED
            found.append(
                (text[modifier_start if modifier_start is not None else start : end], weight)
            )
            negation = boost_left = 0
            scale, modifier_start = 1.0, None
        if kind in (_NEGATOR, _INTENSIFIER) and modifier_start is None:
            modifier_start = start
        i += len(words)

    if contrast_at is not None:
        found = [
            (words, weight * (_BUT_BEFORE if n < contrast_at else _BUT_AFTER))
            for n, (words, weight) in enumerate(found)
        ]
    total = sum(weight for _, weight in found)
    if bangs and total:
        emphasis = min(bangs, _MAX_BANGS)
        found.append(("!" * emphasis, math.copysign(_BANG_WEIGHT * emphasis, total)))
    return found


def score(text: str) -> float:
    """Sentiment of ``text`` in −1..1: negative is bearish, 0 when no sentiment word is found."""
    total = sum(weight for _, weight in explain(text))
    if not total:
        return 0.0
    return total / math.sqrt(total * total + _ALPHA)
