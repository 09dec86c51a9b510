"""batchpipe's shared library.

``__version__`` is batchpipe's one version: every package's metadata reads it from here
(hatch's version source), ``batchpipe --version`` and each service's ``/healthz`` report it,
and it names CHANGELOG.md's latest release (tests/unit/test_version.py checks all of them).
"""

__version__ = "0.1.0"
