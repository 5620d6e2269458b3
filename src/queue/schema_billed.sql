-- What the server billed for a request, where it says so (the Realtime API's `usage`).
-- NULL: not said; the report then estimates the request from its characters.
ALTER TABLE requests ADD COLUMN billed_usd REAL;
ALTER TABLE requests ADD COLUMN usage TEXT;  -- JSON: text_input, cached_text_input, audio_input, text_output, audio_output
