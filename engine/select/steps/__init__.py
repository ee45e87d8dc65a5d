"""The steps of a selection, a module per kind: row filters (filters), ranking steps that keep the best
rows (ranked), prompt filters (prompt), and the dedup steps (engine.select.dedup). One protocol, `Step`,
in base; the spec finds step types in engine.select.registry."""
