"""batchpipe's benchmark: the physical limit, the alternatives and batchpipe in one run."""
