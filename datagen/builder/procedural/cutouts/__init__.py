"""Procedural fg cutouts: 2D SDF parts shaded and composited into RGBA."""
