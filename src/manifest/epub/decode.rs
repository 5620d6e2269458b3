//! A document's bytes as text, in the encoding it declares: a byte-order mark, else UTF-16 by
//! its zero bytes, else the XML declaration's `encoding` or an HTML `<meta charset>` (or
//! `http-equiv` content type), else UTF-8. Labels are resolved by `encoding_rs` (the WHATWG
//! Encoding Standard: "iso-8859-1" and "latin1" are windows-1252, as browsers read them).
//! Bytes that do not decode are left out, never spoken as U+FFFD, and the document is named
//! in one warning; NUL characters never reach the text.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// The text of the document at `path` (for the warning) from its `bytes`.
pub(super) fn decode(path: &str, bytes: &[u8]) -> String {
    let encoding = sniff(bytes);
    // `decode` removes a byte-order mark of the encoding found.
    let (text, used, malformed) = encoding.decode(bytes);
    if malformed {
        tracing::warn!(
            "{path}: not valid {}: the bytes that do not decode are left out",
            used.name()
        );
    }
    text.chars()
        .filter(|&c| c != '\u{fffd}' && c != '\0')
        .collect()
}

/// The encoding the document's bytes declare.
fn sniff(bytes: &[u8]) -> &'static Encoding {
    if let Some((encoding, _)) = Encoding::for_bom(bytes) {
        return encoding;
    }
    // "<?" or "<h" as UTF-16 without a mark: every other byte is zero.
    match bytes {
        [b'<', 0, b, 0, ..] if *b != 0 => return UTF_16LE,
        [0, b'<', 0, b, ..] if *b != 0 => return UTF_16BE,
        _ => {}
    }
    let head = &bytes[..bytes.len().min(2048)];
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let declared = declared_label(&head);
    match declared.and_then(|label| Encoding::for_label(label.as_bytes())) {
        // A UTF-16 label on bytes that are not UTF-16 (they were sniffed above) is wrong.
        Some(encoding) if encoding == UTF_16LE || encoding == UTF_16BE => UTF_8,
        Some(encoding) => encoding,
        None => UTF_8,
    }
}

/// The encoding label the document's start declares, lowercased.
fn declared_label(head: &str) -> Option<String> {
    let xml = head
        .strip_prefix("<?xml")
        .and_then(|rest| rest.split("?>").next())
        .and_then(|decl| value_after(decl, "encoding"));
    xml.or_else(|| {
        let at = head.find("<meta")?;
        let meta = &head[at..];
        let meta = &meta[..meta.find('>').unwrap_or(meta.len())];
        value_after(meta, "charset")
    })
}

/// The value after `name` and `=` in `text`, quoted or not.
fn value_after(text: &str, name: &str) -> Option<String> {
    let at = text.find(name)?;
    let rest = text[at + name.len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let rest = rest.trim_start_matches(['"', '\'']);
    let end = rest
        .find(|c: char| c == '"' || c == '\'' || c == ';' || c == '>' || c.is_whitespace())
        .unwrap_or(rest.len());
    Some(rest[..end].to_owned()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let mut out = if bom { vec![0xff, 0xfe] } else { Vec::new() };
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    #[test]
    fn declared_and_sniffed_encodings_decode() {
        let latin = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><p>caf\xe9 \x93quoted\x94</p>";
        assert_eq!(
            decode("a", latin),
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><p>café “quoted”</p>"
        );
        let meta = b"<html><head><meta charset=\"windows-1252\"/></head><p>na\xefve</p>";
        assert!(decode("a", meta).contains("naïve"));
        let http = b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"></head><p>\xe0 la</p>";
        assert!(decode("a", http).contains("à la"));
        let doc = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><p>Ünïcödé</p>";
        assert_eq!(decode("a", &utf16le(doc, true)), doc);
        assert_eq!(decode("a", &utf16le(doc, false)), doc);
        let mut be: Vec<u8> = vec![0xfe, 0xff];
        be.extend(doc.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode("a", &be), doc);
        // UTF-8 with a mark, and undeclared UTF-8.
        assert_eq!(decode("a", "\u{feff}<p>é</p>".as_bytes()), "<p>é</p>");
        assert_eq!(decode("a", "<p>é</p>".as_bytes()), "<p>é</p>");
    }

    #[test]
    fn undecodable_bytes_and_nul_are_left_out() {
        let text = decode("a", b"<p>bad \xff\xfe\xfd bytes\0 here</p>");
        assert_eq!(text, "<p>bad  bytes here</p>");
        // A UTF-16 label on bytes that are plainly 8-bit is not believed.
        let text = decode(
            "a",
            b"<?xml version=\"1.0\" encoding=\"utf-16\"?><p>plain</p>",
        );
        assert!(text.ends_with("<p>plain</p>"), "{text}");
    }
}
