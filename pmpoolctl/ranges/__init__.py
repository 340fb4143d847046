"""Half-open address ranges: canonical sets, and a pool's ranges as u64 arrays."""
