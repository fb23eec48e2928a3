"""A self-hosted, Netvibes-like feed aggregator."""

__version__ = "0.1.0"
