-- SQLite only: its hot tables are rebuilt WITHOUT ROWID (see the SQLite migration). PostgreSQL
-- keeps rows in a heap with separate indexes either way; nothing to change here.
SELECT 1;
