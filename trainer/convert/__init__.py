"""`pixsift convert-janus`: DeepSeek's original Janus format to transformers'."""
