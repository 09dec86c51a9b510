"""HTTP API of the pg-sink: one router module per resource, shared dependencies in deps."""
