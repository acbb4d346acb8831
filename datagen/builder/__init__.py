"""The builder: assets (user photos and cutouts, or the built-in procedural ones), the camera
prior, placement and compositing with shadows, the resumable sharded build on workers or a Dask
cluster, and the depth teacher."""
