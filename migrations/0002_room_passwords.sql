-- A room's password, as an Argon2id PHC string (salt and parameters included); NULL: none.
-- On the room's row, which outlives its messages (retention) and its meetings, because the
-- protection must last as long as the history it protects.
ALTER TABLE rooms ADD COLUMN password_hash TEXT;
