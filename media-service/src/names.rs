//! File names as clients give them, made safe to store and to put in a header.

/// Longest name kept, in bytes (file systems' usual limit).
const MAX_NAME_BYTES: usize = 255;

/// Characters that reorder or hide text (bidirectional overrides and isolates, marks,
/// zero-width characters): `invoice<U+202E>fdp.exe` shows as `invoiceexe.pdf`.
fn is_invisible_control(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{061C}'
        | '\u{FEFF}')
}

/// The last path component of `name`, without control characters, direction overrides,
/// leading dots or surrounding spaces, cut to 255 bytes (keeping the extension when it
/// can). Empty when nothing usable is left.
pub(crate) fn sanitize_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_invisible_control(*c))
        .collect();
    let cleaned = cleaned
        .trim()
        .trim_start_matches('.')
        .trim_end_matches(['.', ' '])
        .trim();
    if cleaned.len() <= MAX_NAME_BYTES {
        return cleaned.to_owned();
    }
    let (stem, extension) = match cleaned.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() && extension.len() <= 16 => {
            (stem, Some(extension))
        }
        _ => (cleaned, None),
    };
    let room = MAX_NAME_BYTES - extension.map_or(0, |extension| extension.len() + 1);
    let mut cut = room.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    match extension {
        Some(extension) => format!("{}.{extension}", &stem[..cut]),
        None => stem[..cut].to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_controls_and_direction_overrides_are_removed() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(
            sanitize_file_name("C:\\Users\\x\\..\\report.pdf"),
            "report.pdf"
        );
        assert_eq!(
            sanitize_file_name("invoice\u{202E}fdp.exe"),
            "invoicefdp.exe"
        );
        assert_eq!(sanitize_file_name("a\u{0}b\r\nc.txt"), "abc.txt");
        assert_eq!(sanitize_file_name(".."), "");
        assert_eq!(sanitize_file_name(".hidden"), "hidden");
        assert_eq!(sanitize_file_name("  photo.jpg  "), "photo.jpg");
        assert_eq!(sanitize_file_name("ноты.ogg"), "ноты.ogg");
    }

    #[test]
    fn long_names_are_cut_keeping_the_extension_and_whole_characters() {
        let name = format!("{}.png", "ж".repeat(300));
        let safe = sanitize_file_name(&name);
        assert!(safe.len() <= 255, "{}", safe.len());
        assert!(safe.ends_with(".png"));
    }
}
