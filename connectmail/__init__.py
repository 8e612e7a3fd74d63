"""connectmail: Amazon Connect's email channel, self-hosted."""

__version__ = "0.1.0"
