//! Spelling variants that sound the same: British and American spellings of one word
//! ("colour", "color"; "centre", "center"; "labelled", "labeled"; "learnt", "learned"). A
//! transcription model writes its own spelling, not the book's; each pair here is one word
//! spoken, so both sides of a comparison are written the American way.
//!
//! A table, not a rule: no suffix rule is safe ("-our" → "-or" would make "four" "for" and
//! "your" "yor"; "-ise" → "-ize" would make "wise" "wize"). The pairs are the well-known ones
//! with their common inflections; a word not listed is left as it is.

/// `(british, american)`, both lowercase, as the normalisation writes words.
const VARIANTS: &[(&str, &str)] = &[
    // -our / -or
    ("armour", "armor"),
    ("behaviour", "behavior"),
    ("colour", "color"),
    ("coloured", "colored"),
    ("colours", "colors"),
    ("endeavour", "endeavor"),
    ("favour", "favor"),
    ("favourite", "favorite"),
    ("flavour", "flavor"),
    ("harbour", "harbor"),
    ("honour", "honor"),
    ("honoured", "honored"),
    ("humour", "humor"),
    ("labour", "labor"),
    ("neighbour", "neighbor"),
    ("neighbours", "neighbors"),
    ("neighbouring", "neighboring"),
    ("odour", "odor"),
    ("parlour", "parlor"),
    ("rumour", "rumor"),
    ("saviour", "savior"),
    ("splendour", "splendor"),
    ("vapour", "vapor"),
    ("vigour", "vigor"),
    // -re / -er
    ("centre", "center"),
    ("centres", "centers"),
    ("fibre", "fiber"),
    ("litre", "liter"),
    ("metre", "meter"),
    ("metres", "meters"),
    ("sombre", "somber"),
    ("theatre", "theater"),
    // doubled l
    ("cancelled", "canceled"),
    ("jewellery", "jewelry"),
    ("labelled", "labeled"),
    ("levelled", "leveled"),
    ("marvellous", "marvelous"),
    ("quarrelled", "quarreled"),
    ("travelled", "traveled"),
    ("traveller", "traveler"),
    ("travelling", "traveling"),
    ("woollen", "woolen"),
    // -t / -ed past tenses
    ("burnt", "burned"),
    ("dreamt", "dreamed"),
    ("leapt", "leaped"),
    ("learnt", "learned"),
    ("spelt", "spelled"),
    ("spilt", "spilled"),
    ("spoilt", "spoiled"),
    // -ise / -ize, -yse / -yze
    ("analyse", "analyze"),
    ("apologise", "apologize"),
    ("organise", "organize"),
    ("realise", "realize"),
    ("realised", "realized"),
    ("recognise", "recognize"),
    ("recognised", "recognized"),
    // -ce / -se
    ("defence", "defense"),
    ("offence", "offense"),
    ("pretence", "pretense"),
    // other
    ("ageing", "aging"),
    ("catalogue", "catalog"),
    ("curtsey", "curtsy"),
    ("curtseying", "curtsying"),
    ("grey", "gray"),
    ("judgement", "judgment"),
    ("mould", "mold"),
    ("moustache", "mustache"),
    ("plough", "plow"),
    ("programme", "program"),
    ("sceptical", "skeptical"),
    ("storey", "story"),
    ("tyre", "tire"),
];

/// The American spelling of `word` where it is a listed British one, else `None`.
pub(crate) fn american(word: &str) -> Option<&'static str> {
    VARIANTS
        .iter()
        .find(|(british, _)| *british == word)
        .map(|(_, american)| *american)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_lowercase_and_each_pair_differs() {
        for (british, american) in VARIANTS {
            assert_ne!(british, american);
            assert_eq!(british.to_lowercase(), *british);
            assert_eq!(american.to_lowercase(), *american);
            assert!(american_of_american_is_none(american), "{american}");
        }
    }

    fn american_of_american_is_none(word: &str) -> bool {
        american(word).is_none()
    }

    #[test]
    fn listed_words_are_spelt_the_american_way() {
        assert_eq!(american("colour"), Some("color"));
        assert_eq!(american("labelled"), Some("labeled"));
        assert_eq!(american("four"), None);
        assert_eq!(american("your"), None);
        assert_eq!(american("wise"), None);
    }
}
