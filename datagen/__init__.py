"""Dataset generation for fgd: composite fg cutouts onto bg scenes into one chunked Zarr store."""
