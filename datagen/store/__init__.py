"""The store: its contract (:mod:`datagen.store.schema`), the reader, where a store lives
(local or any fsspec URL), its shard objects, verify/stats/info and the HDF5 export. Nothing here
imports the builder."""
