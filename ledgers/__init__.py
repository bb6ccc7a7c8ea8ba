"""The four ledgers of market intelligence: schema, database access, sources and queries.

Nothing in this package imports the engine, the agents or the desk.
"""
