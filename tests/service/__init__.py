"""Tests for the headless service."""
