"""Alembic's environment and the revisions of the LumiAI schema (one file per revision in versions/)."""
