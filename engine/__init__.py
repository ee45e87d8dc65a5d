"""pixsift's data engine: sources, decode, embedding, stages, the Zarr run store, executors and the CLI."""
