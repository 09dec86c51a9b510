"""The local stack: real PostgreSQL, Kafka (KRaft) and S3 API server processes on loopback."""
