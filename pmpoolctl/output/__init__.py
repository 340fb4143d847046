"""Output: where it goes (rich only on a terminal), tables, JSON, and the reports of each command."""
