"""Files and streams: reading inputs, writing safely among other users, the process's standard streams."""
