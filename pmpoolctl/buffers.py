"""Bytes, or a view of them: how a big value (a 16 MB page-ranges) travels without being copied."""

Buffer = bytes | memoryview
