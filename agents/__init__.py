"""The Lab: research agents that read the ledgers, study and train honestly, report with every
figure traced to a tool result, and propose strategies a human approves.

Imports flow one way: ``agents`` uses ``ledgers``; the engine hosts the Lab and implements its
port. Heavy libraries (litellm, LangGraph, scikit-learn) are imported where they are used,
never on the desk's start path.
"""
