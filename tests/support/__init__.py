"""Real parts for tests: a connectmail server process, SMTP sinks, PostgreSQL databases."""
