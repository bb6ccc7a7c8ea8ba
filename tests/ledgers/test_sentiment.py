"""Lexicon sentiment: labelled headlines, the modifier rules, bounds and the "why" view."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledgers.human.sentiment import LEXICON, explain, score

POSITIVE = [
    "Bitcoin hits all-time high as ETF inflows surge",
    "SEC approves spot Ether ETFs",
    "Solana rallies 12% after Visa partnership",
    "Coinbase lists new tokens, shares jump",
    "Ethereum upgrade goes live on mainnet",
    "Whales accumulate BTC as price rebounds",
    "Cardano breaks out of six-month range",
    "Dogecoin to the moon! Musk tweets again",
    "Institutional adoption of crypto accelerates",
    "Ripple wins landmark case against the SEC",
    "Bitcoin reclaims $70,000 as shorts get squeezed",
    "Analysts turn bullish on altcoins",
    "Record inflows into Bitcoin funds",
    "Exchange resumes withdrawals after brief pause",
    "Polygon secures major partnership with Starbucks",
    "Buy the dip: analysts see strong upside",
    "Bitcoin is not going to crash, says strategist",
    "Stablecoin market cap climbs to a new high",
    "Crypto markets recover after Fed rate cut",
    "Bitcoin miners report record profits",
]

NEGATIVE = [
    "Exchange hacked, $200 million drained from hot wallet",
    "SEC sues Binance and its CEO",
    "Terra collapses as UST loses its peg",
    "FTX files for bankruptcy",
    "Bitcoin plunges 10% in sudden sell-off",
    "Liquidations top $1 billion as crypto market crashes",
    "DeFi protocol exploited for $50M",
    "Celsius halts withdrawals, citing extreme market conditions",
    "Rug pull: developers vanish with investor funds",
    "Regulators launch crackdown on crypto lenders",
    "Ethereum slides as traders turn bearish",
    "Exchange outage leaves users unable to trade",
    "Binance to delist several tokens",
    "Founder arrested on fraud charges",
    "Bitcoin isn't bullish anymore, analysts warn",
    "Crypto lender faces insolvency amid liquidity crisis",
    "Stablecoin depegs, triggering panic selling",
    "Altcoins bleed as bear market deepens",
    "Exchange fined $4 billion over money laundering failures",
    "FUD spreads after rumours of Tether insolvency",
]

NEUTRAL = [
    "",
    "Bitcoin trades sideways ahead of Fed meeting",
    "Ethereum developers schedule next call for Thursday",
    "What is a blockchain? A beginner's guide",
    "Coinbase to report quarterly earnings on Thursday",
    "Bitcoin price today: BTC at $67,000",
    "SEC publishes agenda for open meeting",
    "Crypto exchange opens office in Sydney",
    "Tether mints 1 billion USDT on Tron",
]


@pytest.mark.parametrize("headline", POSITIVE)
def test_positive_headlines_score_above_zero(headline: str) -> None:
    assert score(headline) > 0


@pytest.mark.parametrize("headline", NEGATIVE)
def test_negative_headlines_score_below_zero(headline: str) -> None:
    assert score(headline) < 0


@pytest.mark.parametrize("headline", NEUTRAL)
def test_neutral_headlines_score_zero_and_explain_nothing(headline: str) -> None:
    assert score(headline) == 0.0
    assert explain(headline) == []


@pytest.mark.parametrize(
    ("higher", "lower"),
    [
        ("massive rally", "rally"),
        ("rally", "slight rally"),
        ("slight rally", "no news"),
        ("extremely bullish", "very bullish"),
        ("very bullish", "bullish"),
        ("ETF approval", "approval"),  # the phrase outweighs its word
        ("sell", "sell-off"),
        ("bear", "bear market"),
        ("rug", "rug pull"),
        ("charges", "SEC charges"),
        ("SEC approves ETF", "SEC sues exchange"),
        ("not bad", "bad"),  # a negated word flips
        ("Bitcoin crashes", "Bitcoin CRASHES"),  # shouted words weigh more
        ("Bitcoin surges!!!", "Bitcoin surges"),
        ("Bitcoin crashes", "Bitcoin crashes!!!"),
    ],
)
def test_ordering(higher: str, lower: str) -> None:
    assert score(higher) > score(lower)


def test_signs_of_the_named_rules() -> None:
    assert score("not bullish") < 0
    assert score("hardly bullish") < 0
    assert score("Bitcoin fails to rally") < 0
    assert score("Exchange hacked") < -0.5
    assert score("SEC approves ETF") > 0
    assert score("SEC sues exchange") < 0
    assert 0 < score("not bad") < -score("bad")  # a negated word is weaker than its opposite


def test_the_clause_after_but_dominates() -> None:
    assert score("Bitcoin rallies but analysts warn of a crash") < 0
    assert score("Analysts warn of a crash but Bitcoin rallies") > 0
    assert score("Bearish week, however ETH surges") > 0
    # "not only … but also" is neither a negation nor a contrast
    assert score("Not only did BTC surge but also ETH") == score("BTC surge")


def test_negation_reaches_a_few_words_but_not_past_punctuation() -> None:
    assert score("No signs of a crash") > 0
    assert score("No, bitcoin crashed") < 0
    assert score("not that anyone expected the market to crash") < 0  # too far to reach


def test_phrases_match_across_hyphens_and_spacing() -> None:
    assert score("all-time high") == score("all time high") == score("All-Time Highs")
    assert score("sell-off") == score("sell off") == score("selloff")
    assert score("rug-pull") == score("rug pull") == score("rugpull")


@pytest.mark.parametrize("form", ["surged", "surging", "surges", "Surge"])
def test_inflections_score_as_their_base_form(form: str) -> None:
    assert score(f"Bitcoin {form}") == score("Bitcoin surge")


def test_capitals_in_an_all_capitals_text_are_not_shouting() -> None:
    assert score("BITCOIN CRASHES") == score("bitcoin crashes")
    assert score("FUD everywhere") == score("fud everywhere")  # an acronym is not shouted


def test_exclamation_emphasis_is_bounded() -> None:
    assert score("Bitcoin surges!!!!!!!!") == score("Bitcoin surges!!!")
    assert score("no sentiment here!!!") == 0.0


def test_long_texts_approach_but_never_reach_the_bounds() -> None:
    one = score("rally")
    many = [score(" ".join(["rally"] * n)) for n in (1, 2, 5, 50)]
    assert 0.4 < one < 0.7  # a single word is a clear but moderate signal
    assert many == sorted(many)
    assert many[-1] < 1.0


def test_explain_shows_modifiers_and_sums_to_the_score() -> None:
    text = "Bitcoin is not very bullish, but a massive rally is coming!!"
    parts = explain(text)
    assert [words for words, _ in parts] == ["not very bullish", "massive rally", "!!"]
    assert all(words in text for words, _ in parts)
    total = sum(weight for _, weight in parts)
    assert score(text) == pytest.approx(total / math.sqrt(total * total + 15.0))


def test_lexicon_weights_are_in_range_and_cover_crypto_terms() -> None:
    assert all(-4 <= weight <= 4 for weight in LEXICON.values())
    for term in ("moon", "all-time high", "buy the dip", "rug pull", "sell-off", "fud"):
        assert term in LEXICON


@given(st.text(max_size=400))
def test_any_text_scores_within_bounds_and_agrees_with_its_explanation(text: str) -> None:
    value = score(text)
    assert -1.0 <= value <= 1.0
    total = sum(weight for _, weight in explain(text))
    assert math.copysign(1, value) == math.copysign(1, total) or value == total == 0


@given(st.lists(st.sampled_from(sorted(LEXICON) + ["not", "very", "but", "!", ",", "BTC"])))
def test_any_mix_of_lexicon_words_scores_within_bounds(words: list[str]) -> None:
    assert -1.0 <= score(" ".join(words)) <= 1.0
