-- Version 1 of the queue. Later versions are new migrations in queue.rs, never edits here.

-- One row per `run`, for the report and for telling what happened.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    pid         INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT,
    input       TEXT NOT NULL,
    out         TEXT NOT NULL,
    settings    TEXT NOT NULL           -- JSON; never holds the key
);

-- One row per item of the manifest (and per item that left it: status 'removed').
CREATE TABLE items (
    key               TEXT PRIMARY KEY,
    seq               INTEGER NOT NULL,  -- position in the manifest
    title             TEXT,
    output            TEXT NOT NULL,     -- relative to --out
    format            TEXT NOT NULL,
    characters        INTEGER NOT NULL,
    fingerprint       TEXT NOT NULL,     -- format + ordered piece fingerprints
    status            TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed', 'removed')),
    built_fingerprint TEXT,              -- fingerprint of the file last written
    seen              INTEGER,           -- the last run whose manifest had this item
    bytes             INTEGER,
    audio_seconds     REAL,
    error             TEXT,
    updated_at        TEXT NOT NULL
);

-- Audio is kept per piece, by fingerprint: a piece is requested once, whatever item it is in.
CREATE TABLE pieces (
    fingerprint   TEXT PRIMARY KEY,
    ord           INTEGER NOT NULL,      -- claim order: manifest order
    text          TEXT NOT NULL,
    model         TEXT NOT NULL,
    voice         TEXT NOT NULL,
    format        TEXT NOT NULL,
    speed         REAL NOT NULL,
    instructions  TEXT,                  -- as sent (NULL when the model takes none)
    characters    INTEGER NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'done', 'failed')),
    claim_run     INTEGER,               -- the run that holds the claim
    attempts      INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER,
    audio_seconds REAL,
    error         TEXT                   -- the last error, in words
);
CREATE INDEX pieces_by_status ON pieces (status, ord);

CREATE TABLE item_pieces (
    item_key TEXT NOT NULL REFERENCES items (key) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    piece    TEXT NOT NULL REFERENCES pieces (fingerprint),
    PRIMARY KEY (item_key, idx)
);
CREATE INDEX item_pieces_by_piece ON item_pieces (piece);

-- Every request sent, for the report, the rate limit across restarts, and the record.
CREATE TABLE requests (
    run        INTEGER NOT NULL,
    n          INTEGER NOT NULL,         -- order within the run
    piece      TEXT NOT NULL,
    sent_ms    INTEGER NOT NULL,         -- Unix time, milliseconds
    characters INTEGER NOT NULL,
    outcome    TEXT,                     -- NULL while in flight, 'ok', or the error in words
    PRIMARY KEY (run, n)
);
