"""The Human ledger: news and social items, their sentiment and the currencies they mention."""
