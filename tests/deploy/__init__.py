"""Checks of the Dockerfile and terraform/ against the engine, and their linters."""
