"""Input and output: frame sources, masks, writers, atomic files, workspaces."""
