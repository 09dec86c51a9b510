"""batchpipe."""
