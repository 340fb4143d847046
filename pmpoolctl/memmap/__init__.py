"""Memory maps: one model, a reader per source format, a blob's own map, and the sources of a run."""
