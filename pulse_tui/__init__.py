"""pulse-tui: a terminal console for operators of WhatsApp bots."""

__version__ = "0.1.0"
