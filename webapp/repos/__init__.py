"""GitHub installations and repositories mirrored into Gantry, and who may see which."""
