"""Parts every trainer command shares: the Janus model folder and its checks, the prompt format, image
preparation, the VQ model and the token store."""
