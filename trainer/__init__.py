"""Janus-Pro fine-tuning on pixsift's token stores with DeepSpeed ZeRO."""
