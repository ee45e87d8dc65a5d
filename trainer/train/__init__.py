"""`pixsift train`: fine-tune Janus-Pro on a token store with DeepSpeed ZeRO."""
