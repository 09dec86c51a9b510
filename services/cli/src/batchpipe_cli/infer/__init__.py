"""``batchpipe contract infer``: a proposed contract, with the reason for every choice."""
