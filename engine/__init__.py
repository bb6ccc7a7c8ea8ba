"""The runtime and composition root: config, scheduler, event bus, the EngineAPI and the CLI."""
