"""Procedural bg scenes: analytic worlds ray cast with exact depth."""
