"""The uploader tests reuse the in-process apps of the producer tests."""

from tests.producer.conftest import api_token, producer, uploader

__all__ = ["api_token", "producer", "uploader"]
