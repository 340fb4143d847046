"""Memory maps: one model, a reader per source format, a blob's own map, and the sources of a run."""

FORMATS = ("iomem", "firmware-memmap", "e820", "json", "dtb")
"""The names of the map formats (--memmap-format, FORMAT:SRC), each read by a module of this package."""
