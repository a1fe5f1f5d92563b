"""The database: schema (models), engine creation and dialect-neutral upserts."""
