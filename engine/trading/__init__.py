"""Trading: orders, brokers, portfolio and lots, the risk guard, strategies and the backtester."""
