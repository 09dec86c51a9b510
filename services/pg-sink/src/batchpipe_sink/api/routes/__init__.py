"""Routers of the sink's API."""
