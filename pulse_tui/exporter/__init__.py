"""`pulse-tui exporter`: the engine's snapshots as Prometheus metrics (no textual here)."""
