"""pmpoolctl: inspect, edit and validate pmpool-v1 persistent memory pool blobs."""

__version__ = "0.1.0"
