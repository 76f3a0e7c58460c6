"""Filled in by this issue's work; see compliance/admin/__init__.py."""
