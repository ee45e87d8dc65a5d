"""`pixsift sample`: a Janus-Pro checkpoint's images for a file of prompts."""
