"""The watchdog: reconnect what can reconnect by policy, warn before anything expires (issue 18). No textual."""
