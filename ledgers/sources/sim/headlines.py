"""Words of the simulated Human and Catalyst ledgers: coin names, headline and event templates,
mood labels.

Templates use ``{name}`` (Bitcoin), ``{ticker}`` (BTC) and ``{level}`` (a round price near the
market). Their wording agrees with the direction they are chosen for, so a lexicon scorer reading
the titles back leans the same way as the scores the simulator gave them.
"""

from __future__ import annotations

COIN_NAMES = {
    "BTC": "Bitcoin",
    "ETH": "Ethereum",
    "SOL": "Solana",
    "XRP": "XRP",
    "ADA": "Cardano",
    "DOGE": "Dogecoin",
    "DOT": "Polkadot",
    "LTC": "Litecoin",
    "LINK": "Chainlink",
    "AVAX": "Avalanche",
    "TRX": "Tron",
    "XLM": "Stellar",
}

# Headlines by tone, for the "news" and "social" sources.
NEWS = {
    "bullish": (
        "{name} traders eye {level} as bulls return",
        "{name} rallies as funding rates turn positive",
        "Whales accumulate {ticker} ahead of an expected breakout",
        "{name} open interest climbs to a monthly high",
        "Analysts turn bullish on {name} after a strong on-chain week",
        "Record inflows into {name} funds as institutions buy {ticker}",
    ),
    "bearish": (
        "{name} network outage fears weigh on {ticker}",
        "{name} slides as long liquidations pile up",
        "Large {ticker} transfers to exchanges spark sell-off worries",
        "{name} developers delay upgrade after a bug; traders fear losses",
        "Regulators probe {name} staking products",
        "{ticker} struggles below {level} as selling pressure builds",
    ),
    "neutral": (
        "{name} trades sideways near {level} as volatility fades",
        "What's next for {name}? Analysts split on the {ticker} outlook",
        "{name} weekly recap: volume steady, range holds",
        "{ticker} options expiry: what traders are watching",
    ),
}
SOCIAL = {
    "bullish": (
        "Bought the dip on {ticker} today, feeling bullish",
        "{ticker} chart looks ready to break out",
        "Anyone else bullish on {name} this week?",
        "{name} to {level}? Bulls are back",
    ),
    "bearish": (
        "Sold my {ticker}, this looks bearish",
        "{name} is bleeding again, what is going on?",
        "Is {name} dead? {ticker} keeps dumping",
        "{ticker} below {level} again, bagholders everywhere",
    ),
    "neutral": (
        "Daily discussion: {name} ({ticker})",
        "How are you all playing {ticker} right now?",
        "{name} staking vs holding: which do you prefer?",
    ),
}

# Catalysts that precede a jump, by direction; a coin's own or a market-wide one.
COIN_UP = {
    "listing": "{name} ({ticker}) listing confirmed on a major exchange",
    "mainnet_upgrade": "{name} mainnet upgrade set to go live",
    "governance_vote": "{name} governance vote approves fee-sharing proposal",
    "partnership": "{name} announces payments partnership with a global bank",
}
COIN_DOWN = {
    "exchange_hack": "Exchange hack: {ticker} hot wallet drained",
    "delisting": "Major exchange to delist {ticker} pairs",
    "network_outage": "{name} network halts block production",
    "token_unlock": "Large {ticker} token unlock raises selling pressure fears",
}
MARKET_UP = {
    "etf_decision": "SEC approves spot crypto ETFs; market-wide rally expected",
    "rate_decision": "Central bank cuts rates; crypto market risk-on across the board",
}
MARKET_DOWN = {
    "regulatory_action": "Regulators announce market-wide crackdown on crypto exchanges",
    "exchange_hack": "Major exchange hacked; withdrawals halted across the crypto market",
}
# Low-impact events that precede no jump.
NOTES = {
    "maintenance": "Scheduled wallet maintenance for {name} ({ticker})",
    "ama": "{name} team hosts a community AMA",
    "conference": "{name} developers to speak at a developer conference",
    "roadmap_update": "{name} developers publish a quarterly roadmap update",
}

BULLISH_TYPES = frozenset(COIN_UP) | frozenset(MARKET_UP)
BEARISH_TYPES = frozenset(COIN_DOWN) | frozenset(MARKET_DOWN)

# Fear & Greed bands as the real index labels them: a reading below each bound, else greed.
MOOD_LABELS = ((25.0, "Extreme Fear"), (45.0, "Fear"), (55.0, "Neutral"), (75.0, "Greed"))


def coin_name(ticker: str) -> str:
    """The coin's common name, or its ticker when it has none (synthetic coins)."""
    return COIN_NAMES.get(ticker, ticker)


def price_level(price: float) -> str:
    """A round price near ``price``, as a headline would quote it (two significant digits)."""
    value = float(f"{price:.2g}")
    return f"{value:,.0f}" if value >= 10.0 else f"{value:g}"


def mood_label(value: float) -> str:
    """The Fear & Greed label of a 0..100 reading."""
    for below, label in MOOD_LABELS:
        if value < below:
            return label
    return "Extreme Greed"
