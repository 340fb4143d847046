"""The pmpool-v1 pool: the binding, a pool in a blob, edits and their requests, diff."""
