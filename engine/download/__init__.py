"""The download stage: URL lists -> img2dataset -> WebDataset shards and status tables that `score` reads."""
