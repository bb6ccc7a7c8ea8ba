"""Glass-ledger collectors: DeFiLlama fundamentals, and EVM gas price and block height."""

from ledgers.sources.glass.defillama import DefiLlamaCollector
from ledgers.sources.glass.evm import EvmGasCollector

__all__ = ["DefiLlamaCollector", "EvmGasCollector"]
