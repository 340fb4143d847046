"""The flattened device tree format: its layout as data, the strict reader, the splice writer, DTS."""
