//! Each model's request limit in tokens: `gpt-4o-mini-tts` takes at most 2000 input tokens a
//! request (dense CJK text reaches that near 2000 characters, well under the 4096-character
//! cap), counted in the o200k encoding of the gpt-4o family with `tiktoken-rs`.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

/// The most input tokens `gpt-4o-mini-tts` accepts in one request.
pub const MINI_TTS_MAX_TOKENS: usize = 2000;

/// The per-request token limit of `model`, if it has one besides the character cap.
pub fn limit(model: &str) -> Option<usize> {
    model
        .starts_with("gpt-4o-mini-tts")
        .then_some(MINI_TTS_MAX_TOKENS)
}

/// The o200k vocabulary, loaded once (about a fifth of a second) and only for models that
/// need it.
fn encoding() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

/// Tokens of `text` in o200k. Should the vocabulary not load, its UTF-8 length: every token
/// is at least one byte, so that bound is never under the truth.
pub fn count(text: &str) -> usize {
    match encoding() {
        Some(bpe) => bpe.encode_ordinary(text).len(),
        None => text.len(),
    }
}

/// Splits `text` into pieces of at most `max_chars` characters and, if `token_limit` is given,
/// at most that many tokens: a piece over the limit is split again, alone, with a character
/// cap scaled down to its tokens, so every other piece keeps its boundaries (and its audio).
/// The item's `previous` pieces are kept where the text still holds them
/// ([`super::chunk::pieces_keeping`]).
pub fn split(
    text: &str,
    max_chars: usize,
    token_limit: Option<usize>,
    previous: &[String],
) -> Vec<String> {
    let pieces = super::chunk::pieces_keeping(text, max_chars, previous);
    let Some(limit) = token_limit else {
        return pieces;
    };
    let mut out = Vec::with_capacity(pieces.len());
    for piece in pieces {
        fit(piece, limit, &mut out);
    }
    out
}

fn fit(piece: String, limit: usize, out: &mut Vec<String>) {
    let tokens = count(&piece);
    let chars = super::chunk::char_count(&piece);
    if tokens <= limit || chars <= 1 {
        out.push(piece);
        return;
    }
    // A cap a tenth under the proportional one: one more split is rarely needed.
    let cap = (chars.saturating_mul(limit) / tokens).saturating_mul(9) / 10;
    let cap = cap.clamp(1, chars - 1);
    for smaller in super::chunk::split(&piece, cap) {
        fit(smaller, limit, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gpt_4o_mini_tts_has_a_token_limit() {
        assert_eq!(limit("gpt-4o-mini-tts"), Some(2000));
        assert_eq!(limit("gpt-4o-mini-tts-2025-03-20"), Some(2000));
        assert_eq!(limit("tts-1"), None);
        assert_eq!(limit("tts-1-hd"), None);
    }

    #[test]
    fn dense_text_is_cut_under_the_limit_and_plain_text_is_left_alone() {
        let dense = "天地玄黄，宇宙洪荒。日月盈昃，辰宿列张。".repeat(300);
        let pieces = split(&dense, 4096, Some(2000), &[]);
        assert!(pieces.len() > 2, "{} pieces", pieces.len());
        assert!(pieces.iter().all(|p| count(p) <= 2000));
        assert_eq!(pieces.concat(), dense);
        let plain = "A short sentence. ".repeat(100);
        assert_eq!(
            split(&plain, 4096, Some(2000), &[]),
            split(&plain, 4096, None, &[])
        );
    }
}
