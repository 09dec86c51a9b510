"""Airflow for the local stack: ``airflow standalone`` in the stack's state folder, and a
small client of its REST API (used by ``batchpipe demo`` and the end-to-end test)."""
