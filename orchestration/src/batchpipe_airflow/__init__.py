"""batchpipe's Airflow parts that must be importable by every Airflow process.

The triggerer cannot import modules that sit beside DAG files, so the consumer-lag trigger,
its sensor and the service clients live in this installed package (``pip install -e
orchestration``). ``lag`` is the core of the trigger and imports nothing from Airflow.
"""
