"""Which currencies a news or social item mentions: tickers, cashtags, pairs and coin names.

Many tickers are also ordinary words (ONE, LINK, GAS, NEAR) or acronyms (AI, DAO), and many
coin names are too (Avalanche, Stellar, Optimism). Such a mention counts only when the text
makes it a coin — see `CurrencyExtractor` — because a false tag sends a headline to the wrong
chart and skews that coin's mood.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ledgers.market import Instrument

# Built-in names of common coins, so bare tickers from a venue still match by name.
# A name ending in "*" counts only when capitalised (Ripple, not "ripple effect"); one ending
# in "?" must also be capitalised and stand in a coin context (Avalanche, not "an avalanche
# of sell orders"); any other name matches in any case.
_COINS = """
BTC Bitcoin | ETH Ethereum, Ether | USDT Tether | USDC USD Coin | BNB Binance Coin, BNB Chain
SOL Solana | XRP Ripple*, XRP Ledger | ADA Cardano | DOGE Dogecoin | TRX Tron* | TON Toncoin
AVAX Avalanche? | SHIB Shiba Inu | DOT Polkadot | LINK Chainlink | BCH Bitcoin Cash
LTC Litecoin | NEAR NEAR Protocol, Near? | POL Polygon* | MATIC Polygon*, Matic*
UNI Uniswap | ICP Internet Computer | ETC Ethereum Classic | APT Aptos
XLM Stellar Lumens, Stellar? | ATOM Cosmos* | FIL Filecoin | HBAR Hedera, Hedera Hashgraph
ARB Arbitrum | OP Optimism? | VET VeChain | MKR MakerDAO, Maker? | INJ Injective
RENDER Render Network, Render? | RNDR Render Network, Render? | GRT The Graph?
AAVE Aave | ALGO Algorand | SAND The Sandbox*, Sandbox? | MANA Decentraland
AXS Axie Infinity | EGLD MultiversX, Elrond | FTM Fantom | THETA Theta Network
XTZ Tezos | FLOW Flow? | NEO Neo* | GAS Gas? | IOTA Iota? | KAS Kaspa | XMR Monero
ZEC Zcash | DASH Dash? | CRV Curve DAO, Curve Finance, Curve? | COMP Compound?
SNX Synthetix | LDO Lido DAO, Lido* | 1INCH 1inch | SUSHI SushiSwap, Sushi? | CAKE PancakeSwap
YFI yearn.finance, Yearn* | ENJ Enjin | CHZ Chiliz | GALA Gala Games, Gala? | APE ApeCoin
BAT Basic Attention Token | ZIL Zilliqa | ONE Harmony One*, Harmony? | QNT Quant?
KAVA Kava* | CELO Celo | MINA Mina Protocol, Mina? | ROSE Oasis Network, Oasis?
ANKR Ankr | STORJ Storj | SKL SKALE | LRC Loopring | IMX Immutable X, Immutable?
SUI Sui* | SEI Sei* | TIA Celestia | STX Stacks? | FET Fetch.ai | OCEAN Ocean Protocol
AGIX SingularityNET | WLD Worldcoin | PEPE Pepe* | BONK Bonk* | FLOKI Floki | WIF dogwifhat
JUP Jupiter? | PYTH Pyth Network, Pyth* | ONDO Ondo Finance, Ondo* | PENDLE Pendle
TAO Bittensor | HNT Helium? | AR Arweave | RUNE THORChain | KSM Kusama | GLMR Moonbeam
BLUR Blur? | MASK Mask Network | HOT Holochain, Holo? | DYDX dYdX | CRO Cronos*
WBTC Wrapped Bitcoin | DAI Dai* | TUSD TrueUSD | FDUSD First Digital USD | PYUSD PayPal USD
JASMY JasmyCoin | TWT Trust Wallet Token | ENS Ethereum Name Service | ZRO LayerZero
STRK Starknet | ENA Ethena | W Wormhole | JTO Jito | POWR Powerledger | RSR Reserve Rights
AUDIO Audius | LPT Livepeer | GNO Gnosis | ICX ICON? | WAVES Waves? | QTUM Qtum
ONT Ontology | RVN Ravencoin | SC Siacoin | DGB DigiByte | XEM NEM* | BTT BitTorrent
LUNA Terra* | LUNC Terra Classic | USTC TerraClassicUSD | HYPE Hyperliquid
"""

# Ordinary words that some venue lists as a ticker or that a coin is named after: in capitals
# they may be a coin, but only in a coin context. DOGE is here because capitalised it is also
# a US government department.
_COMMON_WORDS = frozenset(
    """
    about ace act all alpha also am an and ant any ape arc are ark art as at atom audio
    avalanche baby bag ban band bank bar base bat be beam bear best beta big bit blur bond book
    boost box bull but buy by cake can cat chain city coin comp compound core cow cream curve
    dash data day dear dent dog doge dot dream drift dump earn echo edge egg elf end epic etc
    ever fan far fetch fire flow flux for forth fox free frog front fun gala game gas gear gem
    get go goal goat gold good graph grass great hard harmony have he helium hero high hive home
    hook hot how hunt hype icon if immutable in ink iota is it jam jet joe jupiter just keep key
    kick kind king lake layer life like link lit live loom loop low luck magic main maker mask
    max me meme mina moon more mother move near new next nice no nose not now oasis ocean of ok
    omni on one open optimism or orb order our out party pay people pixel point pond pop portal
    power prime pro pump quant quick rare ray real red render ride rise road rock rose rune safe
    salt sand say see seed she shell ship sign ski snow so solo some space spell stable stacks
    star stellar step storm sun super sushi swap sweat tank time to token top tribe true trump
    trust turbo uni up us usual vet via virtual wave waves wax way we well win wing wolf woo yes
    you zen zero zone
    """.split()
)

# Acronyms that read as something else in news (AI, DAO, ETF): as tickers they count only
# as a cashtag, in a pair, or beside the coin's name.
_ACRONYMS = frozenset(
    """
    AI ID IT US UK EU USA CEO CTO CFO COO NFT DAO ETF SEC CPI FED FOMC ATH API IPO GDP KYC AML
    OTC TVL APY APR ICO IDO IEO DEX CEX DEFI EVM MEV RWA ZK POW POS FUD FOMO HODL GM GPT LLM
    AGI CBDC IMF ECB RBA ASIC FBI DOJ CFTC IRS NYSE CME TV PR VC PM AM OK VIP FAQ UTC GMT AMA
    DYOR IMO ATM ESG P2P L1 L2 NEWS
    """.split()
)

# The other side of a pair that makes "SAND/AUD" or "LINK-USD" a market symbol.
_QUOTES = frozenset(
    "AUD USD USDT USDC BUSD FDUSD TUSD DAI EUR GBP JPY KRW CAD NZD SGD HKD CHF BRL INR TRY BTC ETH".split()
)

# Quotes that exchanges glue to the base in symbols such as "SOLUSDT", longest first. Short
# so that ordinary capitalised words ("COUNTRY") are not read as symbols.
_SYMBOL_QUOTES = ("FDUSD", "BUSD", "USDT", "USDC", "USD", "AUD", "EUR", "BTC", "ETH")

# Words that make an ambiguous ticker or name a coin when they stand right beside it. Plurals
# are left out: "AI tokens" and "MEME coins" are categories, not coins.
_COIN_NOUNS = frozenset(
    "token coin protocol network mainnet testnet blockchain ecosystem foundation labs dao "
    "staking validators airdrop".split()
)
_AFTER_TICKER = _COIN_NOUNS | frozenset(
    "price prices crypto futures perps etf holders whales".split()
)
_BEFORE_TICKER = frozenset("staking stake staked crypto token altcoin".split())
_LIST_WORDS = frozenset("and or plus".split())
_LIST_MARKS = frozenset(",&/()")
_UNCAPITALISED = frozenset(("the", "of"))  # small words inside a capitalised name

# Ticker tiers and name tiers.
_PLAIN, _CONTEXT, _STRICT = range(3)  # tickers: always / in a coin context / only cashtag, pair
_ANY_CASE, _CAPITALISED = 3, 4  # names; names needing context reuse _CONTEXT

# One pass tokenises: words (with an optional cashtag "$"; a possessive "'s" is dropped),
# numbers with their currency or percent sign, and the punctuation that builds pairs and lists.
_TOKEN = re.compile(
    r"(\$?\d*[A-Za-z][A-Za-z0-9]*+)(?!\$)(?:['’]s\b)?"
    r"|([+\-−]?(?:A\$|US\$|\$|€|£)?\d[\d,]*(?:\.\d+)?(?:[kKmMbB]n?)?%?)"
    r"|([,&/()\-.;:!?|])"
)
_WORD, _NUMBER, _MARK = 1, 2, 3  # the group that matched
_Token = tuple[int, str, int, int]  # kind, text, start, end
_LOWERCASE = re.compile(r"[a-z]")


@dataclass(frozen=True, slots=True)
class _Name:
    words: tuple[str, ...]  # lower-case tokens, as _TOKEN splits the name
    ticker: str
    tier: int


@dataclass(slots=True)
class _Mention:
    ticker: str
    first: int  # token indices the mention spans
    last: int
    confirmed: bool
    tier: int
    by_name: bool


def _name_tokens(name: str) -> tuple[str, ...]:
    return tuple(m.group().lower() for m in _TOKEN.finditer(name))


def _builtin_names() -> dict[str, list[tuple[str, int]]]:
    table: dict[str, list[tuple[str, int]]] = {}
    for entry in _COINS.replace("\n", "|").split("|"):
        if not entry.strip():
            continue
        ticker, names = entry.split(maxsplit=1)
        for name in names.split(","):
            name = name.strip()
            tier = {"*": _CAPITALISED, "?": _CONTEXT}.get(name[-1], _ANY_CASE)
            table.setdefault(ticker, []).append((name.rstrip("*?"), tier))
    return table


_BUILTIN = _builtin_names()


def _ticker_tier(ticker: str) -> int:
    if len(ticker) == 1 or ticker in _ACRONYMS:
        return _STRICT
    if len(ticker) == 2 or ticker.lower() in _COMMON_WORDS:
        return _CONTEXT
    return _PLAIN


class CurrencyExtractor:
    """Finds the tickers a text mentions among a known set of currencies.

    Built from a venue's instruments (their base currencies), from ``(ticker, name)`` pairs,
    or from nothing, which means the built-in table of common coins. Names from the pairs
    are added to the built-in ones.

    A plain ticker counts when written in capitals ("BTC"), a cashtag in any case ("$btc"),
    a pair symbol on both sides ("BTC/AUD", "ETH-USD", "SOLUSDT"), and a name in any case
    ("bitcoin"). A ticker or name that is also an ordinary word needs capitals and a coin
    context: a cashtag or pair, a coin word beside it ("LINK token", "Avalanche network"),
    a price or percentage beside it ("SAND +12%"), another coin beside it in a list
    ("BTC, ETH and LINK"), the coin's unambiguous name elsewhere in the text, or both its
    ambiguous name and ticker ("Harmony (ONE)"). An all-capitals text says nothing by its
    capitals, so there the coin-word and list rules do not apply.
    """

    def __init__(self, instruments: Iterable[Instrument | tuple[str, str]] | None = None) -> None:
        extra: list[tuple[str, str]] = []
        if instruments is None:
            tickers = list(_BUILTIN)
        else:
            tickers = []
            for item in instruments:
                if isinstance(item, Instrument):
                    tickers.append(item.base.upper())
                else:
                    tickers.append(item[0].strip().upper())
                    extra.append((tickers[-1], item[1].strip()))
        self._tickers = {ticker: _ticker_tier(ticker) for ticker in tickers if ticker}

        names: dict[tuple[str, ...], _Name] = {}
        for ticker in self._tickers:
            for name, tier in _BUILTIN.get(ticker, ()):
                words = _name_tokens(name)
                names.setdefault(words, _Name(words, ticker, tier))
        for ticker, name in extra:
            words = _name_tokens(name)
            if (
                words and ticker and name.upper() != ticker
            ):  # a name equal to its ticker is the ticker
                tier = _CONTEXT if name.lower() in _COMMON_WORDS else _ANY_CASE
                names.setdefault(words, _Name(words, ticker, tier))
        self._names: dict[str, list[_Name]] = {}
        for name in names.values():
            self._names.setdefault(name.words[0], []).append(name)
        for candidates in self._names.values():
            candidates.sort(key=lambda n: -len(n.words))  # "Bitcoin Cash" before "Bitcoin"

    @property
    def tickers(self) -> frozenset[str]:
        """Every ticker this extractor can report."""
        return frozenset(self._tickers)

    def extract(self, text: str) -> list[str]:
        """The tickers ``text`` mentions, in order of first mention, each once."""
        tokens = [
            (m.lastindex or 0, m.group(m.lastindex or 0), m.start(), m.end())
            for m in _TOKEN.finditer(text)
        ]
        lows = [value.lower() for _, value, _, _ in tokens]
        mentions = self._scan(tokens, lows)
        if any(not m.confirmed for m in mentions):
            self._confirm(mentions, tokens, lows, shouted=_LOWERCASE.search(text) is None)
        seen: dict[str, None] = {}
        for mention in mentions:
            if mention.confirmed:
                seen.setdefault(mention.ticker)
        return list(seen)

    def _scan(self, tokens: list[_Token], lows: list[str]) -> list[_Mention]:
        """Every possible mention, confirmed when its form alone makes it a coin."""
        mentions: list[_Mention] = []
        i = 0
        while i < len(tokens):
            kind, value, _, _ = tokens[i]
            if kind != _WORD:
                i += 1
                continue
            if value[0] == "$":
                ticker = value[1:].upper()
                if ticker in self._tickers:
                    mentions.append(_Mention(ticker, i, i, True, _PLAIN, False))
                i += 1
                continue
            name = self._name_at(tokens, lows, i)
            if name is not None:
                last = i + len(name.words) - 1
                mentions.append(
                    _Mention(name.ticker, i, last, name.tier != _CONTEXT, name.tier, True)
                )
                i = last + 1
                continue
            tier = self._tickers.get(value)
            if tier is not None:
                confirmed = tier == _PLAIN or self._in_pair(tokens, i)
                mentions.append(_Mention(value, i, i, confirmed, tier, False))
            elif len(value) > 4 and value.isupper():
                base = next((value[: -len(q)] for q in _SYMBOL_QUOTES if value.endswith(q)), "")
                if base in self._tickers:  # "SOLUSDT", as exchanges write symbols
                    mentions.append(_Mention(base, i, i, True, _PLAIN, False))
            i += 1
        return mentions

    def _name_at(self, tokens: list[_Token], lows: list[str], i: int) -> _Name | None:
        for name in self._names.get(lows[i], ()):
            n = len(name.words)
            if n == 1 and tokens[i][1] in self._tickers:
                continue  # "NEAR" is read as the ticker, with the ticker's context rules
            if tuple(lows[i : i + n]) != name.words:
                continue
            if name.tier == _ANY_CASE or all(
                tokens[j][0] != _WORD or lows[j] in _UNCAPITALISED or not tokens[j][1][0].islower()
                for j in range(i, i + n)
            ):
                return name
        return None

    def _in_pair(self, tokens: list[_Token], i: int) -> bool:
        """Whether token ``i`` is one side of a market symbol such as "SAND/AUD"."""
        for mark, other in ((i + 1, i + 2), (i - 1, i - 2)):
            if not (0 <= other < len(tokens) and tokens[mark][1] in ("/", "-")):
                continue
            left, right = sorted((i, other))
            touching = tokens[left][3] == tokens[mark][2] and tokens[mark][3] == tokens[right][2]
            partner = tokens[other][1]
            if touching and (partner in _QUOTES or self._tickers.get(partner) == _PLAIN):
                return True
        return False

    def _confirm(
        self,
        mentions: list[_Mention],
        tokens: list[_Token],
        lows: list[str],
        shouted: bool,
    ) -> None:
        """Confirm the ambiguous mentions that their context makes coins."""
        by_name = {m.ticker for m in mentions if m.by_name and m.tier == _CONTEXT}
        by_ticker = {m.ticker for m in mentions if not m.by_name and m.tier == _CONTEXT}
        for m in mentions:
            if not m.confirmed and m.tier == _CONTEXT:
                m.confirmed = (
                    (m.ticker in by_name and m.ticker in by_ticker)  # "Harmony (ONE)"
                    or _priced(m, tokens)
                    or (not shouted and _beside_coin_word(m, tokens, lows))
                )
        coins = {m.ticker for m in mentions if m.confirmed}
        owner = {j: m for m in mentions for j in range(m.first, m.last + 1)}
        changed = True
        while changed:  # "BTC, ETH, LINK and DOT": each confirmation can confirm the next
            changed = False
            for m in mentions:
                if m.confirmed:
                    continue
                if m.ticker in coins:
                    m.confirmed = changed = True
                elif m.tier == _CONTEXT and not shouted:
                    listed = _listed_with(m, tokens, lows, owner)
                    if any(n.confirmed for n in listed):
                        m.confirmed = changed = True
                        coins.add(m.ticker)
                    elif _middle_of_ticker_list(m, listed):
                        for n in (m, *listed):
                            n.confirmed = changed = True
                            coins.add(n.ticker)


def _priced(m: _Mention, tokens: list[_Token]) -> bool:
    """A price or percentage right after ("SAND +12%"), or an amount right before ("500 LINK")."""
    reach = 1 if m.by_name else 2  # "LINK up 8%", but "Gas up 8%" is petrol
    for kind, value, _, _ in tokens[m.last + 1 : m.last + 1 + reach]:
        if kind == _NUMBER and any(c in value for c in "%$€£."):
            return True
    return not m.by_name and m.first > 0 and tokens[m.first - 1][0] == _NUMBER


def _beside_coin_word(m: _Mention, tokens: list[_Token], lows: list[str]) -> bool:
    after = m.last + 1
    if after < len(tokens) and lows[after] in (_COIN_NOUNS if m.by_name else _AFTER_TICKER):
        return True
    # "crypto Optimism" is a mood, so words before a name do not count
    before = m.first - 1
    return not m.by_name and before >= 0 and lows[before] in _BEFORE_TICKER


def _listed_with(
    m: _Mention,
    tokens: list[_Token],
    lows: list[str],
    owner: dict[int, _Mention],
) -> list[_Mention]:
    """The mentions next to ``m`` across a list separator (", ", " and ", " & ")."""
    found = []
    for step, j in ((-1, m.first - 1), (1, m.last + 1)):
        separated = False
        while 0 <= j < len(tokens) and (
            (tokens[j][0] == _MARK and lows[j] in _LIST_MARKS)
            or (tokens[j][0] == _WORD and lows[j] in _LIST_WORDS)
        ):
            separated = True
            j += step
        neighbour = owner.get(j)
        if separated and neighbour is not None:
            found.append(neighbour)
    return found


def _middle_of_ticker_list(m: _Mention, listed: list[_Mention]) -> bool:
    """Three capitalised tickers in a row ("LINK, DOT and ATOM") are coins, not words."""
    return (
        not m.by_name
        and len(listed) == 2
        and all(not n.by_name and n.tier != _STRICT for n in listed)
    )
