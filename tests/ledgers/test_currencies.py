"""CurrencyExtractor: names, tickers, cashtags, pairs, lists, and the ordinary-word traps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledgers.human.currencies import CurrencyExtractor
from ledgers.market import Instrument

BUILTIN = CurrencyExtractor()

CASES = [
    # names, in any case, longest name first
    ("Bitcoin and Ethereum rally", ["BTC", "ETH"]),
    ("bitcoin slips while ethereum holds", ["BTC", "ETH"]),
    ("Solana, Cardano and Polkadot lead altcoin gains", ["SOL", "ADA", "DOT"]),
    ("dogecoin and shiba inu pump", ["DOGE", "SHIB"]),
    ("Chainlink oracles go live on Avalanche network", ["LINK", "AVAX"]),
    ("Tron founder buys Stellar Lumens", ["TRX", "XLM"]),
    ("Tether takes on USD Coin", ["USDT", "USDC"]),
    ("The Sandbox partners with Gucci", ["SAND"]),
    ("Ripple wins case against the SEC", ["XRP"]),
    ("Bitcoin Cash hard fork scheduled", ["BCH"]),
    ("Ethereum Classic hit by 51% attack", ["ETC"]),
    ("Neo and Gas holders get airdrop", ["NEO", "GAS"]),
    # plain tickers, case-sensitive
    ("BTC and ETH slide", ["BTC", "ETH"]),
    ("ETH-based tokens rally", ["ETH"]),
    ("XRP jumps 8%", ["XRP"]),
    ("ICP surges after upgrade", ["ICP"]),
    ("sol y sombra", []),
    # cashtags, in any case
    ("$sol and $AVAX pumping", ["SOL", "AVAX"]),
    ("$SAND to the moon", ["SAND"]),
    ("$ONE breaks out", ["ONE"]),
    # pair symbols
    ("BTC/AUD hits record", ["BTC"]),
    ("SAND/AUD jumps on CoinSpot", ["SAND"]),
    ("LINK-USD breaks resistance", ["LINK"]),
    ("ETH/BTC ratio falls", ["ETH", "BTC"]),
    ("SOLUSDT perps funding flips", ["SOL"]),
    # an ambiguous ticker or name in a coin context
    ("LINK token surges", ["LINK"]),
    ("SAND +12% today", ["SAND"]),
    ("NEAR price outlook", ["NEAR"]),
    ("Whale moves 500,000 LINK to Binance", ["LINK"]),
    ("ATOM staking yields climb", ["ATOM"]),
    ("BTC, ETH and LINK lead gains", ["BTC", "ETH", "LINK"]),
    ("LINK, DOT and ATOM slide", ["LINK", "DOT", "ATOM"]),
    ("Harmony (ONE) bridge drained", ["ONE"]),
    ("Polkadot's DOT slides", ["DOT"]),
    ("Chainlink oracle update; LINK up 5%", ["LINK"]),
    ("NEAR Protocol ships sharding", ["NEAR"]),
    ("Near Foundation announces grants", ["NEAR"]),
    ("OP token airdrop round two", ["OP"]),
    ("Curve Finance exploit", ["CRV"]),
    # ordinary words that are also tickers or coin names
    ("One trader made a killing", []),
    ("ONE of the biggest days for stocks", []),
    ("Click the link in bio", []),
    ("Gas fees on Ethereum spike", ["ETH"]),
    ("Ethereum gas fees hit a low", ["ETH"]),
    ("Ethereum GAS fees soar", ["ETH"]),
    ("Bitcoin near $100k", ["BTC"]),
    ("An avalanche of sell orders hit the market", []),
    ("Stellar returns for BTC holders", ["BTC"]),
    ("Optimism returns to crypto markets", []),
    ("the sandbox regime for fintechs", []),
    ("Drawing a line in the SAND", []),
    ("DOT matrix printers are back", []),
    ("HOT TAKE: markets overreact", []),
    ("Curve your enthusiasm", []),
    ("DOGE cuts federal spending", []),
    # an all-capitals headline: capitals say nothing, only form and prices do
    ("BITCOIN NEAR RECORD HIGH AS ONE TOKEN SOARS", ["BTC"]),
    ("BREAKING: $LINK AND SAND/AUD SURGE", ["LINK", "SAND"]),
    # each ticker once, in order of first mention
    ("ETH rallies; Bitcoin follows, then ETH again and BTC", ["ETH", "BTC"]),
    ("Solana (SOL) and solana again", ["SOL"]),
    ("Polkadot leads. DOT, LINK and ATOM follow", ["DOT", "LINK", "ATOM"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_builtin_table(text: str, expected: list[str]) -> None:
    assert BUILTIN.extract(text) == expected


VENUE = CurrencyExtractor(
    Instrument("coinspot", f"{base}/AUD", base, "AUD")
    for base in ("BTC", "ETH", "SAND", "ONE", "LINK", "KEEP", "MASK", "AI", "SUPER", "BLUR")
    + ("MEME", "BOND", "GOAL", "ACE", "CAT", "ANY", "HOT")
)

VENUE_CASES = [
    ("The Sandbox and Bitcoin", ["SAND", "BTC"]),
    ("Solana rallies", []),  # not listed on this venue
    ("BTC/AUD and ETH/AUD", ["BTC", "ETH"]),  # the quote is not a listed currency
    ("KEEP CALM and buy the dip", []),
    ("keep an eye on BTC", ["BTC"]),
    ("Mask Network airdrop", ["MASK"]),
    ("Put on a MASK", []),
    ("AI tokens rally", []),
    ("AI token launches", []),  # an acronym needs a cashtag, a pair or its name
    ("$AI jumps 20%", ["AI"]),
    ("AI/AUD listed on CoinSpot", ["AI"]),
    ("SUPER BOWL ad features crypto", []),
    ("BLUR token rallies", ["BLUR"]),
    ("MEME coins and CAT memes", []),
    ("BOND yields spike", []),
    ("GOAL! ACE serves", []),
    ("ANY news on HOT wallets?", []),
    ("Chainlink (LINK) and Harmony (ONE)", ["LINK", "ONE"]),
]


@pytest.mark.parametrize(("text", "expected"), VENUE_CASES)
def test_extractor_from_venue_instruments(text: str, expected: list[str]) -> None:
    assert VENUE.extract(text) == expected


def test_venue_extractor_knows_only_the_listed_bases() -> None:
    assert "AUD" not in VENUE.tickers
    assert {"BTC", "SAND", "AI"} <= VENUE.tickers


def test_names_from_the_constructor_add_to_the_builtin_ones() -> None:
    extractor = CurrencyExtractor(
        [("BTC", "Bitcoin"), ("XYZ", "Xyzzy Protocol"), ("LINK", "link"), ("FLOW", "Flow")]
    )
    assert extractor.extract("xyzzy protocol joins chainlink") == ["XYZ", "LINK"]
    assert extractor.extract("Cash flow improves") == []  # a name equal to a word needs context
    assert extractor.extract("Flow blockchain upgrade") == ["FLOW"]
    assert extractor.extract("Ethereum rallies") == []  # not among the given currencies


def test_empty_and_coinless_text() -> None:
    assert BUILTIN.extract("") == []
    assert BUILTIN.extract("Markets wait for the Fed; stocks are flat at 4,500.") == []


@given(
    st.text(max_size=300)
    | st.lists(st.sampled_from(["ONE", "LINK", ",", "and", "$", "/", "AUD", "Bitcoin", "5%"])).map(
        " ".join
    )
)
def test_any_text_yields_known_tickers_once_each(text: str) -> None:
    found = BUILTIN.extract(text)
    assert len(found) == len(set(found))
    assert set(found) <= BUILTIN.tickers
