"""Screens of the desk, one per module."""
