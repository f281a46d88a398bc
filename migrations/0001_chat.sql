-- Chat history. `rooms.last_seq` survives retention deleting a room's every message, so
-- sequence numbers never restart and a client's `since` stays meaningful.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE rooms (
    name     TEXT PRIMARY KEY NOT NULL,
    last_seq INTEGER NOT NULL
);

-- AUTOINCREMENT: an id is never reused, even after the newest rows are deleted.
CREATE TABLE messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    room          TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    ts            INTEGER NOT NULL,
    conn_id       INTEGER NOT NULL,
    nickname      TEXT NOT NULL,
    text          TEXT NOT NULL,
    client_msg_id TEXT,
    UNIQUE (room, seq)
);

-- client_msg_id first: a batch looks its resends up with one `client_msg_id IN (...)`.
CREATE UNIQUE INDEX messages_client_msg_id ON messages (client_msg_id, room) WHERE client_msg_id IS NOT NULL;
CREATE INDEX messages_ts ON messages (ts);
