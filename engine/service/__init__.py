"""The headless process: ownership lease, attach server, health and metrics, alerts."""
