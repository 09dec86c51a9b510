"""Sub-command modules of the ``batchpipe`` CLI; each exposes ``register(app)``."""
