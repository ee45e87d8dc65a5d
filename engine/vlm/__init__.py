"""The vision-language stages on a run store: `pixsift caption` writes a detailed caption per row and
`pixsift judge` scores rows by a rubric's questions, each into an annotation set of the store
(engine.store.annotations), resumable by work units like score."""
