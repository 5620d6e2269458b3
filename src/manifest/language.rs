//! The language a text is written in, detected with `whatlang` (trigram statistics, offline),
//! as a BCP 47 primary tag (`en`, `cmn`, `ja`): what picks the offline voice of an item whose
//! manifest does not say its language. Also the script a voice's language is written in, to
//! warn when a chosen voice plainly cannot read the text.

/// The text's language, when the detector is confident; looks at the first few thousand
/// characters only.
pub fn detect(text: &str) -> Option<String> {
    let sample: String = text.chars().take(4000).collect();
    let info = whatlang::detect(&sample)?;
    if !info.is_reliable() {
        return None;
    }
    Some(tag(info.lang()).to_owned())
}

/// The script of the text (`Latin`, `Mandarin` for Han, `Cyrillic`, ...), when it has letters.
pub fn script(text: &str) -> Option<&'static str> {
    let sample: String = text.chars().take(4000).collect();
    whatlang::detect_script(&sample).map(|s| match s {
        whatlang::Script::Latin => "Latin",
        whatlang::Script::Cyrillic => "Cyrillic",
        whatlang::Script::Mandarin => "Mandarin",
        whatlang::Script::Hiragana | whatlang::Script::Katakana => "Hiragana",
        whatlang::Script::Hangul => "Hangul",
        whatlang::Script::Arabic => "Arabic",
        whatlang::Script::Devanagari => "Devanagari",
        whatlang::Script::Greek => "Greek",
        whatlang::Script::Hebrew => "Hebrew",
        _ => "other",
    })
}

/// The script a language (a BCP 47 tag or an espeak voice name such as `en-us`) is written
/// in, for the languages whose script is plain; None for the rest.
pub fn script_of_language(language: &str) -> Option<&'static str> {
    let primary = language
        .split(['-', '_', '+'])
        .next()
        .unwrap_or(language)
        .to_ascii_lowercase();
    Some(match primary.as_str() {
        "en" | "fr" | "de" | "es" | "it" | "pt" | "nl" | "sv" | "da" | "nb" | "no" | "fi"
        | "pl" | "cs" | "sk" | "tr" | "ro" | "hu" | "ca" | "id" | "ms" | "vi" | "la" | "eo" => {
            "Latin"
        }
        "ru" | "uk" | "bg" | "sr" | "mk" | "be" => "Cyrillic",
        "cmn" | "yue" | "zh" | "hak" => "Mandarin",
        "ja" => "Hiragana",
        "ko" => "Hangul",
        "ar" | "fa" | "ur" => "Arabic",
        "hi" | "mr" | "ne" => "Devanagari",
        "el" => "Greek",
        "he" => "Hebrew",
        _ => return None,
    })
}

/// The tag espeak-ng knows a language by.
fn tag(lang: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match lang {
        Eng => "en",
        Cmn => "cmn",
        Jpn => "ja",
        Kor => "ko",
        Rus => "ru",
        Ukr => "uk",
        Deu => "de",
        Fra => "fr",
        Spa => "es",
        Ita => "it",
        Por => "pt",
        Nld => "nl",
        Swe => "sv",
        Dan => "da",
        Nob => "nb",
        Fin => "fi",
        Pol => "pl",
        Ces => "cs",
        Tur => "tr",
        Ara => "ar",
        Pes => "fa",
        Hin => "hi",
        Ell => "el",
        Heb => "he",
        Vie => "vi",
        Ind => "id",
        other => other.code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_languages_are_detected() {
        let read = |name: &str| {
            std::fs::read_to_string(format!(
                "{}/tests/corpus/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        assert_eq!(detect(&read("chinese-novel.md")).as_deref(), Some("cmn"));
        assert_eq!(detect(&read("alice.md")).as_deref(), Some("en"));
        assert_eq!(script(&read("chinese-novel.md")), Some("Mandarin"));
        assert_eq!(script_of_language("en-us"), Some("Latin"));
        assert_eq!(script_of_language("cmn"), Some("Mandarin"));
        assert_eq!(detect("ok"), None);
    }
}
