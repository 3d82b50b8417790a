"""lumidb: database operations for LumiAI on PostgreSQL."""

__version__ = "0.1.0"
