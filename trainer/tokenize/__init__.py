"""`pixsift tokenize`: kept rows to Janus prompt tokens and VQ codes in a token store."""
