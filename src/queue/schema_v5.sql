-- Version 5: what each piece's audio was heard to say (SPEC section 11). NULL: not verified.
ALTER TABLE pieces ADD COLUMN wer REAL;             -- word (or character) error rate
ALTER TABLE pieces ADD COLUMN wer_errors INTEGER;   -- substitutions, deletions, insertions
ALTER TABLE pieces ADD COLUMN wer_words INTEGER;    -- words (or characters) of the text
ALTER TABLE pieces ADD COLUMN transcript TEXT;      -- what the transcription said
ALTER TABLE pieces ADD COLUMN timings TEXT;         -- JSON [[start, end, text], ...] of segments or words
