"""Integration tests of the pg-sink against the real local stack."""
