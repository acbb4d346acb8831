"""Training for fgd: a timm-backbone dual-head network (mask + depth) fitted from the Zarr store."""
