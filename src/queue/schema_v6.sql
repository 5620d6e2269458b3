-- Version 6: each transcription that heard a piece back (SPEC section 11), with the length of
-- the audio sent and its price when it was sent (0 for a loopback server), so the report's
-- spend counts transcription beside speech. Kept when a piece is requested again.
CREATE TABLE transcriptions (
    piece TEXT NOT NULL,
    audio_seconds REAL NOT NULL,
    cost_usd REAL NOT NULL,
    sent_at TEXT NOT NULL
);
