//! Text normalisation: what the index stores and what a query looks for, computed here in
//! Rust so that every index backend (SQLite FTS5, PostgreSQL) sees the same terms.
//!
//! A text is cut into words (runs of letters and digits; an apostrophe between letters
//! stays inside the word, as in Uzbek `o‘zbek` or English `don't`). Each word is folded
//! to one canonical form:
//! - lower case;
//! - the apostrophe variants (`'` `` ` `` `ʻ` `ʼ` `‘` `’` `´`) dropped, so `o'`, `o‘`,
//!   `oʻ` and `o`` are the same letter, as are `g'` and `gʻ`;
//! - Cyrillic written in Latin by the Uzbek rules (`ў` → `o`, `ғ` → `g`, `қ` → `q`,
//!   `ҳ` → `h`, `х` → `x`, `ш` → `sh`, `ч` → `ch`, `ж` → `j`, `е` → `ye` at the start of a
//!   word or after a vowel, ...), which also covers Russian;
//! - the Latin digraphs Russian transliteration uses for the same sounds folded too
//!   (`kh` → `x`, `zh` → `j`), so `khorosho` finds `хорошо`.
//!
//! A query's words are folded the same way and each matches as a word prefix: `salom`
//! finds `salomlar` and `Саломлар`. Search syntax means nothing here: quotes, `*`,
//! `NEAR`, `OR`, parentheses or SQL are cut into words like any other text.

/// Longest folded word kept (longer words are cut: a prefix still finds them).
pub const MAX_TERM_CHARS: usize = 32;
/// Most distinct terms indexed for one text.
pub const MAX_TERMS_PER_TEXT: usize = 1024;
/// Most terms a query uses (words past these are ignored).
pub const MAX_QUERY_TERMS: usize = 12;

/// Whether `c` is one of the apostrophes people type inside Uzbek (and English) words.
fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '`' | '\u{2BB}' | '\u{2BC}' | '\u{2018}' | '\u{2019}' | '\u{B4}' | '\u{2032}'
    )
}

fn is_vowel(c: char) -> bool {
    matches!(
        c,
        'a' | 'e'
            | 'i'
            | 'o'
            | 'u'
            | 'а'
            | 'е'
            | 'ё'
            | 'и'
            | 'о'
            | 'у'
            | 'ы'
            | 'э'
            | 'ю'
            | 'я'
            | 'ў'
    )
}

/// The Latin for one lower-case Cyrillic letter (`None`: not Cyrillic, kept as it is).
fn cyrillic_to_latin(c: char, at_word_start_or_after_vowel: bool) -> Option<&'static str> {
    Some(match c {
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'д' => "d",
        'е' if at_word_start_or_after_vowel => "ye",
        'е' | 'э' => "e",
        'ё' => "yo",
        'ж' => "j",
        'з' => "z",
        'и' | 'ы' | 'і' => "i",
        'й' => "y",
        'к' => "k",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'о' | 'ў' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' => "u",
        'ф' => "f",
        'х' => "x",
        'ц' => "ts",
        'ч' => "ch",
        'ш' | 'щ' => "sh",
        'ъ' | 'ь' => "",
        'ю' => "yu",
        'я' => "ya",
        'қ' => "q",
        'ғ' | 'ґ' => "g",
        'ҳ' => "h",
        'є' => "ye",
        'ї' => "yi",
        _ => return None,
    })
}

/// Folds one word (already cut out of its text) to its canonical form.
pub fn fold_word(word: &str) -> String {
    let mut latin = String::with_capacity(word.len());
    let mut previous: Option<char> = None;
    for c in word.chars().flat_map(char::to_lowercase) {
        if is_apostrophe(c) {
            continue;
        }
        let start_or_after_vowel =
            previous.is_none_or(|previous| is_vowel(previous) || matches!(previous, 'ъ' | 'ь'));
        match cyrillic_to_latin(c, start_or_after_vowel) {
            Some(text) => latin.push_str(text),
            None => latin.push(c),
        }
        previous = Some(c);
    }
    let folded = latin.replace("kh", "x").replace("zh", "j");
    folded.chars().take(MAX_TERM_CHARS).collect()
}

/// A word of a text: where it is (in UTF-16 code units, as Telegram's entities count)
/// and its folded form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Offset in UTF-16 code units.
    pub offset: u32,
    /// Length in UTF-16 code units.
    pub length: u32,
    /// The folded form.
    pub folded: String,
}

/// The words of `text`, in order.
pub fn words(text: &str) -> Vec<Word> {
    let mut found = Vec::new();
    let mut chars = text.chars().peekable();
    let mut position: u32 = 0;
    let mut current = String::new();
    let mut start: u32 = 0;
    let finish = |current: &mut String, start: u32, end: u32, found: &mut Vec<Word>| {
        if current.is_empty() {
            return;
        }
        let folded = fold_word(current);
        if !folded.is_empty() {
            found.push(Word {
                offset: start,
                length: end - start,
                folded,
            });
        }
        current.clear();
    };
    while let Some(c) = chars.next() {
        let width = u32::try_from(c.len_utf16()).unwrap_or(1);
        let inside_word = c.is_alphanumeric()
            || (is_apostrophe(c)
                && !current.is_empty()
                && chars.peek().is_some_and(|next| next.is_alphanumeric()));
        if inside_word {
            if current.is_empty() {
                start = position;
            }
            current.push(c);
        } else {
            finish(&mut current, start, position, &mut found);
        }
        position = position.saturating_add(width);
    }
    finish(&mut current, start, position, &mut found);
    found
}

/// The distinct folded terms of `text`, as the index keeps them.
pub fn terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for word in words(text) {
        if terms.len() >= MAX_TERMS_PER_TEXT {
            break;
        }
        if seen.insert(word.folded.clone()) {
            terms.push(word.folded);
        }
    }
    terms
}

/// The terms a query looks for (each a word prefix), at most [`MAX_QUERY_TERMS`].
pub fn query_terms(query: &str) -> Vec<String> {
    let mut terms = self::terms(query);
    terms.truncate(MAX_QUERY_TERMS);
    terms
}

/// Where in `text` the query's terms match (word prefixes), for highlighting: UTF-16
/// offset and length of each matching word, in order.
pub fn matched_ranges(text: &str, query_terms: &[String]) -> Vec<(u32, u32)> {
    if query_terms.is_empty() {
        return Vec::new();
    }
    words(text)
        .into_iter()
        .filter(|word| {
            query_terms
                .iter()
                .any(|term| word.folded.starts_with(term.as_str()))
        })
        .map(|word| (word.offset, word.length))
        .collect()
}

/// Whether every query term is a prefix of one of `text`'s words.
pub fn matches_all(text: &str, query_terms: &[String]) -> bool {
    let folded: Vec<String> = words(text).into_iter().map(|word| word.folded).collect();
    query_terms
        .iter()
        .all(|term| folded.iter().any(|word| word.starts_with(term.as_str())))
}

/// The optimal string alignment distance between two short strings (insertions,
/// deletions, substitutions and swaps of neighbours), stopping early past `limit`.
pub fn edit_distance(left: &str, right: &str, limit: usize) -> usize {
    let left: Vec<char> = left.chars().collect();
    let right: Vec<char> = right.chars().collect();
    if left.len().abs_diff(right.len()) > limit {
        return limit + 1;
    }
    let width = right.len() + 1;
    let mut rows = vec![vec![0_usize; width]; left.len() + 1];
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=left.len() {
        rows[i][0] = i;
        let mut row_best = rows[i][0];
        for j in 1..=right.len() {
            let cost = usize::from(left[i - 1] != right[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && left[i - 1] == right[j - 2] && left[i - 2] == right[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
            row_best = row_best.min(best);
        }
        if row_best > limit {
            return limit + 1;
        }
    }
    rows[left.len()][right.len()]
}

/// How many typos a query term of this length may carry and still find a name.
pub fn typos_allowed(term: &str) -> usize {
    match term.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// Whether a query term finds a name's word: as a prefix, or (for names) within the
/// typos its length allows, compared with the word or the word's prefix of its length.
pub fn fuzzy_prefix_match(term: &str, word: &str) -> Option<usize> {
    if word.starts_with(term) {
        return Some(0);
    }
    let allowed = typos_allowed(term);
    if allowed == 0 {
        return None;
    }
    let term_chars = term.chars().count();
    let whole = edit_distance(term, word, allowed);
    // A prefix of the word as long as the term, give or take a letter.
    let best_prefix = (term_chars.saturating_sub(1)..=term_chars + 1)
        .map(|length| {
            let prefix: String = word.chars().take(length).collect();
            edit_distance(term, &prefix, allowed)
        })
        .min()
        .unwrap_or(allowed + 1);
    let distance = whole.min(best_prefix);
    (distance <= allowed).then_some(distance)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(text: &str) -> Vec<String> {
        words(text).into_iter().map(|word| word.folded).collect()
    }

    #[test]
    fn case_and_apostrophe_variants_fold_to_one_form() {
        let spellings = [
            "O'zbekiston",
            "oʻzbekiston",
            "o‘zbekiston",
            "o`zbekiston",
            "OʼZBEKISTON",
        ];
        for spelling in spellings {
            assert_eq!(folded(spelling), vec!["ozbekiston"], "{spelling}");
        }
        assert_eq!(folded("g'alaba gʻalaba"), vec!["galaba", "galaba"]);
    }

    #[test]
    fn uzbek_cyrillic_and_latin_fold_alike() {
        let pairs = [
            ("Ўзбекистон", "O‘zbekiston"),
            ("ғалаба", "g'alaba"),
            ("салом", "salom"),
            ("яхши", "yaxshi"),
            ("чой", "choy"),
            ("шаҳар", "shahar"),
            ("қалам", "qalam"),
            ("ер", "yer"),
            ("эртага", "ertaga"),
            ("маъно", "ma'no"),
        ];
        for (cyrillic, latin) in pairs {
            assert_eq!(folded(cyrillic), folded(latin), "{cyrillic} / {latin}");
        }
    }

    #[test]
    fn russian_cyrillic_matches_its_common_latin_spelling() {
        assert_eq!(folded("Привет"), folded("privet"));
        assert_eq!(folded("хорошо"), folded("khorosho"));
        assert_eq!(folded("жизнь"), folded("zhizn"));
        assert_eq!(folded("спасибо"), folded("spasibo"));
    }

    #[test]
    fn words_carry_utf16_ranges() {
        let text = "Hi 👋 salomlar, dunyo!";
        let found = words(text);
        let ranges: Vec<(u32, u32, &str)> = found
            .iter()
            .map(|word| (word.offset, word.length, word.folded.as_str()))
            .collect();
        // The emoji takes two UTF-16 units.
        assert_eq!(
            ranges,
            vec![(0, 2, "hi"), (6, 8, "salomlar"), (16, 5, "dunyo")]
        );
    }

    #[test]
    fn search_syntax_is_plain_words() {
        assert_eq!(
            query_terms("\"salom\" OR dunyo* NEAR(a b) text: ); DROP TABLE x; --"),
            vec![
                "salom", "or", "dunyo", "near", "a", "b", "text", "drop", "table", "x"
            ]
        );
        assert!(query_terms("*** \"\" () --").is_empty());
    }

    #[test]
    fn query_terms_match_word_prefixes_and_give_ranges() {
        let terms = query_terms("SALOM");
        assert_eq!(
            matched_ranges("Салом, salomlar! Kalom", &terms),
            vec![(0, 5), (7, 8)]
        );
        assert!(matches_all("salomlar dunyo", &query_terms("dun sal")));
        assert!(!matches_all("salomlar", &query_terms("sal dun")));
    }

    #[test]
    fn names_tolerate_a_typo() {
        assert_eq!(fuzzy_prefix_match("alise", "alice"), Some(1));
        assert_eq!(fuzzy_prefix_match("alcie", "alice"), Some(1));
        assert_eq!(fuzzy_prefix_match("ali", "alice"), Some(0));
        assert_eq!(fuzzy_prefix_match("abc", "abd"), None);
        assert_eq!(fuzzy_prefix_match("rustam", "rustamov"), Some(0));
        assert_eq!(fuzzy_prefix_match("rustm", "rustamov"), Some(1));
        assert_eq!(fuzzy_prefix_match("bobur", "alice"), None);
    }

    #[test]
    fn long_words_are_cut_and_terms_deduplicated() {
        let long = "a".repeat(100);
        assert_eq!(terms(&long)[0].chars().count(), MAX_TERM_CHARS);
        assert_eq!(terms("salom Salom САЛОМ"), vec!["salom"]);
    }
}
