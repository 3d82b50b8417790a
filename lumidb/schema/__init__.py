"""The LumiAI schema in code (``models``) and its Alembic migrations (``migrations/``)."""
