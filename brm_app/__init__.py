"""BrokerSync BRM: broker relationship management."""

__version__ = "0.1.0"
