"""`pulse-tui fleet --prometheus URL`: every host Prometheus scrapes, read from its query API (no textual here)."""
