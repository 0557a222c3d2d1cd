"""`requestx.distributed`'s parts, each owning one thing: `sharding` (URLs to shards by host),
`output` (the output folder and its commit protocol), `task` (a shard run on a worker),
`dask_engine` (the thin Dask adapter) and `driver` (streams shards to an engine, in order per
host bucket, with back-pressure)."""
