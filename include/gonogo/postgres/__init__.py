"""PostgreSQL itself: the one door to a database (target), SQL files read and split into
statements with their facts, run with lock and statement timeouts and one retry, the locks they
take traced, plans and row counts measured, the live schema read and compared."""
