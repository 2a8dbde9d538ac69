"""PostgreSQL: pool, migrations, SQL queries and typed repositories."""
