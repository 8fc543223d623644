//! Plain words for the JSON5 mistakes people make most: a missing comma
//! between members or elements, a missing colon after a key, a key or a
//! string value without the quotes it needs, and `True` for `true`.
//!
//! The JSON5 parser reports where its grammar stopped matching, which for
//! these mistakes is the value *before* the problem, with a list of what it
//! would have accepted there ("expected boolean or null"). A light scan of
//! the tokens finds the place and says what is missing instead; anything it
//! does not recognise is left to the parser's message.

use crate::source::line_terminator_at;

/// A mistake found: where the token that shows it starts, where the value
/// before it starts (the parser reports one of the two), and what to say.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Hint {
    pub(crate) at: usize,
    pub(crate) after_value_at: usize,
    pub(crate) message: &'static str,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Key,
    Colon,
    Value,
    CommaOrEnd,
}

#[derive(Clone, Copy)]
struct Level {
    object: bool,
    expect: Expect,
    /// Where the last complete value (or member) started.
    last_value_at: usize,
}

#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Open(u8),
    Close(u8),
    Comma,
    Colon,
    Str,
    Word(&'a str),
    /// A `/` that starts no comment: an unquoted path, most likely.
    Slash,
}

/// The first of the mistakes the module names in `text` (a missing comma
/// or colon, a key or string value without the quotes it needs, a
/// miscased `true`, `false` or `null`), if the scan gets that far.
pub(crate) fn find(text: &str) -> Option<Hint> {
    let mut tokens = Tokens { text, at: 0 };
    // The top level holds one value, as an array of one would.
    let mut levels = vec![Level {
        object: false,
        expect: Expect::Value,
        last_value_at: 0,
    }];
    while let Some((at, token)) = tokens.next()? {
        let nested = levels.len() > 1;
        let level = levels.last_mut()?;
        match (level.expect, token) {
            (Expect::CommaOrEnd, Token::Open(_) | Token::Str | Token::Word(_)) if nested => {
                return Some(Hint {
                    at,
                    after_value_at: level.last_value_at,
                    message: if level.object {
                        "a ',' is missing before this member (or a '}' to end the object)"
                    } else {
                        "a ',' is missing before this element (or a ']' to end the array)"
                    },
                });
            }
            (Expect::CommaOrEnd, Token::Comma) if nested => {
                level.expect = if level.object {
                    Expect::Key
                } else {
                    Expect::Value
                };
            }
            (Expect::Key, Token::Word(word)) if !is_identifier(word) => {
                return Some(Hint {
                    at,
                    after_value_at: level.last_value_at,
                    message: "this key needs quotes (a key without them holds only letters, \
                              digits, _ and $)",
                });
            }
            (Expect::Key, Token::Str | Token::Word(_)) => level.expect = Expect::Colon,
            (Expect::Colon, Token::Colon) => level.expect = Expect::Value,
            (Expect::Colon, Token::Open(_) | Token::Str | Token::Word(_)) => {
                return Some(Hint {
                    at,
                    after_value_at: level.last_value_at,
                    message: "a ':' is missing before this (or the key before it, with a \
                              space, needs quotes)",
                });
            }
            (Expect::Value, Token::Word(word)) if level.object && !is_literal(word) => {
                let miscased = ["true", "false", "null"]
                    .iter()
                    .any(|literal| word.eq_ignore_ascii_case(literal));
                return Some(Hint {
                    at,
                    after_value_at: at,
                    message: if miscased {
                        "true, false and null are written in lowercase"
                    } else {
                        "a string value needs quotes"
                    },
                });
            }
            (Expect::Value, Token::Slash) if level.object => {
                return Some(Hint {
                    at,
                    after_value_at: at,
                    message: "a string value needs quotes (a path too)",
                });
            }
            (Expect::Value, Token::Str | Token::Word(_)) => {
                level.expect = Expect::CommaOrEnd;
                level.last_value_at = at;
            }
            (Expect::Value, Token::Open(bracket)) => {
                level.last_value_at = at;
                levels.push(Level {
                    object: bracket == b'{',
                    expect: if bracket == b'{' {
                        Expect::Key
                    } else {
                        Expect::Value
                    },
                    last_value_at: at,
                });
            }
            // An end, or a trailing comma's end (JSON5 allows one).
            (Expect::CommaOrEnd | Expect::Key | Expect::Value, Token::Close(bracket))
                if nested && (bracket == b'}') == level.object =>
            {
                levels.pop();
                levels.last_mut()?.expect = Expect::CommaOrEnd;
            }
            // Something else is wrong: the parser's message says what.
            _ => return None,
        }
    }
    None
}

/// Whether a bare word may be a key without quotes (JSON5's identifiers,
/// near enough: letters of any script, digits after the first, `_`, `$`).
fn is_identifier(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

/// Whether a bare word is a JSON5 value: a number, `true`, `false`, `null`,
/// `Infinity` or `NaN` (signed or not).
fn is_literal(word: &str) -> bool {
    let unsigned = word.trim_start_matches(['+', '-']);
    matches!(word, "true" | "false" | "null")
        || matches!(unsigned, "Infinity" | "NaN")
        || unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

/// JSON5 tokens with their byte offsets; strings and bare words are not
/// checked inside (the parser does that).
struct Tokens<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Tokens<'a> {
    /// The next token; `Some(None)` at the end, `None` if the text ends in
    /// the middle of a string or comment.
    fn next(&mut self) -> Option<Option<(usize, Token<'a>)>> {
        let bytes = self.text.as_bytes();
        loop {
            let Some(&b) = bytes.get(self.at) else {
                return Some(None);
            };
            let start = self.at;
            self.at += 1;
            let token = match b {
                b'{' | b'[' => Token::Open(b),
                b'}' | b']' => Token::Close(b),
                b',' => Token::Comma,
                b':' => Token::Colon,
                b'"' | b'\'' => {
                    let mut escaped = false;
                    loop {
                        let &c = bytes.get(self.at)?;
                        self.at += 1;
                        match c {
                            _ if escaped => escaped = false,
                            b'\\' => escaped = true,
                            _ if c == b => break,
                            _ => {}
                        }
                    }
                    Token::Str
                }
                b'/' if bytes.get(self.at) == Some(&b'/') => {
                    while self.at < bytes.len() && !line_terminator_at(bytes, self.at) {
                        self.at += 1;
                    }
                    continue;
                }
                b'/' if bytes.get(self.at) == Some(&b'*') => {
                    let end = self.text[self.at + 1..].find("*/")?;
                    self.at += 1 + end + 2;
                    continue;
                }
                // Neither a comment nor anything else JSON5 knows.
                b'/' => Token::Slash,
                _ if b.is_ascii_whitespace() => continue,
                _ => {
                    // Offsets stay on character boundaries: every other
                    // token ends with an ASCII byte.
                    let rest = &self.text[start..];
                    let first = rest.chars().next()?;
                    if first.is_whitespace() {
                        // JSON5 allows Unicode spaces.
                        self.at = start + first.len_utf8();
                        continue;
                    }
                    let len = rest
                        .find(|c: char| c.is_whitespace() || "{}[],:\"'/".contains(c))
                        .unwrap_or(rest.len())
                        .max(first.len_utf8());
                    self.at = start + len;
                    Token::Word(&rest[..len])
                }
            };
            return Some(Some((start, token)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(text: &str) -> Option<(usize, usize, &'static str)> {
        find(text).map(|h| (h.at, h.after_value_at, h.message))
    }

    const MEMBER: &str = "a ',' is missing before this member (or a '}' to end the object)";
    const ELEMENT: &str = "a ',' is missing before this element (or a ']' to end the array)";

    #[test]
    fn a_missing_comma_between_members_is_found_at_the_next_member() {
        let text = "{ ports: [], apps: [] log_level: 'debug' }";
        assert_eq!(hint(text), Some((22, 19, MEMBER)));
        let text = "{\n  a: true // on\n  b: 1\n}";
        assert_eq!(hint(text), Some((20, 7, MEMBER)));
        let text = "{ a: { b: 1 } \"c\": 2 }";
        assert_eq!(hint(text), Some((14, 5, MEMBER)));
    }

    #[test]
    fn a_missing_comma_between_elements_is_found_at_the_next_element() {
        assert_eq!(hint("{ ports: [1 2] }"), Some((12, 10, ELEMENT)));
        assert_eq!(hint("[{}\n{}]"), Some((4, 1, ELEMENT)));
    }

    #[test]
    fn an_unquoted_string_value_is_named() {
        let quotes = "a string value needs quotes";
        assert_eq!(hint("{ log_level: debug }"), Some((13, 13, quotes)));
        assert_eq!(hint("{ user: ring-sock }"), Some((8, 8, quotes)));
        assert_eq!(hint("{ a: ½ }"), Some((5, 5, quotes)));
        assert_eq!(
            hint("{ app_path: /usr/lib/a.so }"),
            Some((12, 12, "a string value needs quotes (a path too)"))
        );
        let lowercase = "true, false and null are written in lowercase";
        assert_eq!(hint("{ a: True }"), Some((5, 5, lowercase)));
        assert_eq!(hint("{ a: NULL }"), Some((5, 5, lowercase)));
    }

    #[test]
    fn a_key_that_needs_quotes_or_lacks_its_colon_is_named() {
        let quotes =
            "this key needs quotes (a key without them holds only letters, digits, _ and $)";
        let colon =
            "a ':' is missing before this (or the key before it, with a space, needs quotes)";
        assert_eq!(hint("{ a: 1, log-level: 2 }"), Some((8, 5, quotes)));
        assert_eq!(hint("{ log\u{200b}level: 2 }"), Some((2, 0, quotes)));
        assert_eq!(hint("{ a: 1, b 2 }"), Some((10, 5, colon)));
        assert_eq!(hint("{ a: 1, log level: 2 }"), Some((12, 5, colon)));
        assert_eq!(hint("{ b = 2 }"), Some((4, 0, colon)));
    }

    #[test]
    fn valid_json5_has_no_hint() {
        for text in [
            "{ a: 1, b: [1, 2,], 'c': { d: null }, e: -Infinity, f: +.5, g: 0x1F, }",
            "{ $a: 1, _b2: 2, ключ: 3, 'x-y': 4 }",
            "// comment\n{ /* { [ */ a: \"x, y\" , b: 'it\\'s' }",
            "[]",
            "{}",
            "{\u{a0}a:\u{2003}1\u{a0}}",
        ] {
            assert_eq!(hint(text), None, "{text}");
        }
    }

    #[test]
    fn other_mistakes_are_left_to_the_parser() {
        for text in [
            "{ a: 1,, b: 2 }",
            "{ a: 'unterminated }",
            "{ a: [1, 2 }",
            "{ a: 1 } }",
            "{ a: 1 /* open",
            "{} {}",
            "{ a: 1 / 2 }",
        ] {
            assert_eq!(hint(text), None, "{text}");
        }
    }
}
