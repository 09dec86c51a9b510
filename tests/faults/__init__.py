"""Fault injection against the local stack: kills, restarts, bad input, hostile requests."""
