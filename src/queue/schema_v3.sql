-- Version 3: files made from the whole queue at the end of a run (the book file), with the
-- fingerprint of what each was last written from, so an unchanged book is not rebuilt.
CREATE TABLE outputs (
    name        TEXT PRIMARY KEY,        -- 'book'
    fingerprint TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
