"""Widgets of the desk, one per module."""
