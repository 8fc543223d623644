//! From bytes to a [`Value`] tree: size, UTF-8, nesting depth and JSON5
//! syntax, each reported with a position.

use std::path::Path;

use crate::error::{ConfigError, ErrorKind, Place};
use crate::files::{file_type, open_nonblocking};
use crate::hint;
use crate::value::Value;

/// The largest configuration file accepted, in bytes. Real files are a few
/// kilobytes; the cap keeps a wrong path (a log, a disk image) from being
/// read whole.
pub const MAX_FILE_SIZE: u64 = 8 * 1024 * 1024;

/// The deepest nesting of arrays and objects accepted. A valid configuration
/// nests 6 levels; the cap keeps the recursive parser's stack bounded.
pub const MAX_NESTING: usize = 64;

/// Reads a configuration file, refusing oversized ones before reading them.
pub(crate) fn read_file(file: &Path) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read;
    let whole_file =
        |kind, message: String| ConfigError::new(file, Place::File, None, kind, message);
    let read_error = |e: std::io::Error| {
        whole_file(
            ErrorKind::Read,
            format!("cannot read the configuration file: {e}"),
        )
    };
    let not_a_file = |metadata: &std::fs::Metadata| {
        (!metadata.is_file()).then(|| {
            whole_file(
                ErrorKind::Read,
                format!(
                    "is {}, not a configuration file (a regular file, read again on reload)",
                    file_type(metadata)
                ),
            )
        })
    };
    // Looked at before it is opened: opening a FIFO would wait for a writer
    // (forever, on a reload), and opening a device can act on it.
    if let Some(error) = not_a_file(&std::fs::metadata(file).map_err(read_error)?) {
        return Err(error);
    }
    let handle = open_nonblocking(file).map_err(read_error)?;
    // Again through the descriptor, in case the path changed in between.
    if let Some(error) = not_a_file(&handle.metadata().map_err(read_error)?) {
        return Err(error);
    }
    let mut bytes = Vec::new();
    // Read one byte past the cap so a file that grew after stat is caught too.
    handle
        .take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(whole_file(
            ErrorKind::FileTooLarge,
            format!("the file is larger than the {MAX_FILE_SIZE} bytes a configuration may have"),
        ));
    }
    Ok(bytes)
}

/// Checks UTF-8 and hands the text on to [`parse_text`].
pub(crate) fn parse_bytes(bytes: &[u8], file: &Path) -> Result<Value, ConfigError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_text(text, file),
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            // The valid prefix is UTF-8 by definition.
            let prefix = String::from_utf8_lossy(valid);
            let (line, column) = line_col(&prefix, prefix.len());
            Err(ConfigError::new(
                file,
                Place::Position { line, column },
                None,
                ErrorKind::NotUtf8,
                "the file is not valid UTF-8".to_owned(),
            ))
        }
    }
}

/// Parses JSON5 text into a value tree.
pub(crate) fn parse_text(text: &str, file: &Path) -> Result<Value, ConfigError> {
    if let Some(offset) = too_deep_at(text) {
        let (line, column) = line_col(text, offset);
        return Err(ConfigError::new(
            file,
            Place::Position { line, column },
            None,
            ErrorKind::NestingTooDeep,
            format!("arrays and objects are nested more than {MAX_NESTING} levels deep"),
        ));
    }
    serde_json5::from_str::<Value>(text).map_err(|e| syntax_error(&e, text, file))
}

fn syntax_error(error: &serde_json5::Error, text: &str, file: &Path) -> ConfigError {
    let serde_json5::Error::Message { msg, location } = error;
    // The parser counts lines by LF alone; JSON5 also ends them with CR
    // (alone) and U+2028/U+2029, as `line_col` does.
    let position = location
        .as_ref()
        .map(|l| line_col(text, offset_of(text, l.line, l.column)));
    // The parser stops at the value before a missing comma, or at an
    // unquoted string: when that is where it stopped, say what is wrong.
    let hint = hint::find(text).filter(|hint| {
        position.is_some_and(|p| {
            (line_col(text, hint.after_value_at)..=line_col(text, hint.at)).contains(&p)
        })
    });
    let (position, message) = match hint {
        Some(hint) => (Some(line_col(text, hint.at)), hint.message.to_owned()),
        None => (position, summarize(msg)),
    };
    let place = match position {
        Some((line, column)) => Place::Position { line, column },
        None => Place::File,
    };
    ConfigError::new(
        file,
        place,
        None,
        ErrorKind::Syntax,
        format!("syntax error: {message}"),
    )
}

/// pest's messages span several lines with an ASCII-art excerpt; the
/// position is already in the error's place, so keep only the "= expected …"
/// line, and name grammar rules the way a person would.
fn summarize(msg: &str) -> String {
    let core = msg
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("= "))
        .unwrap_or_else(|| msg.lines().next().unwrap_or("invalid JSON5"))
        .trim();
    match core {
        "error parsing integer" => {
            "integer out of range (-9223372036854775808 to 9223372036854775807)".to_owned()
        }
        "error parsing hex" => "hexadecimal number too large (at most 0xFFFFFFFF)".to_owned(),
        // What the parser says of a `\u` escape that is no character by
        // itself: half of a UTF-16 surrogate pair, which it does not join.
        "error parsing hex prefix" => "a \\u escape of a UTF-16 surrogate (\\uD800 to \\uDFFF) in \
            this string: pairs of them are not supported; write the character itself (the file \
            is UTF-8)"
            .to_owned(),
        "error parsing number: too large" => "number too large".to_owned(),
        _ => core
            .replace("unicode_escape_sequence", "four hex digits after \\u")
            .replace("hex_escape_sequence", "two hex digits after \\x")
            .replace("char_literal", "a character")
            .replace("identifier", "a key")
            .replace("EOI", "end of file"),
    }
}

/// The byte offset of the first bracket that opens level `MAX_NESTING + 1`,
/// skipping strings and comments, if the text nests that deep.
fn too_deep_at(text: &str) -> Option<usize> {
    #[derive(PartialEq)]
    enum State {
        Code,
        Str(u8),
        LineComment,
        BlockComment,
    }
    let bytes = text.as_bytes();
    let mut state = State::Code;
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match state {
            State::Code => match b {
                b'"' | b'\'' => state = State::Str(b),
                b'/' if bytes.get(i + 1) == Some(&b'/') => state = State::LineComment,
                b'/' if bytes.get(i + 1) == Some(&b'*') => {
                    state = State::BlockComment;
                    i += 1;
                }
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Some(i);
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            },
            State::Str(quote) => match b {
                b'\\' => i += 1,
                _ if b == quote => state = State::Code,
                _ => {}
            },
            State::LineComment => {
                if line_terminator_at(bytes, i) {
                    state = State::Code;
                }
            }
            State::BlockComment => {
                if b == b'*' && bytes.get(i + 1) == Some(&b'/') {
                    state = State::Code;
                    i += 1;
                }
            }
        }
        i += 1;
    }
    None
}

/// Whether a JSON5 line terminator starts at byte `i`: LF, CR, or U+2028
/// and U+2029 (line and paragraph separators), which end a `//` comment
/// for the parser, and so must for every scan that skips comments.
pub(crate) fn line_terminator_at(bytes: &[u8], i: usize) -> bool {
    matches!(
        bytes[i..],
        [b'\n' | b'\r', ..] | [0xe2, 0x80, 0xa8 | 0xa9, ..]
    )
}

/// 1-based line and column (in characters) of a byte offset, counting
/// every JSON5 line terminator (CRLF as one).
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let bytes = before.as_bytes();
    let (mut line, mut line_start, mut i) = (1, 0, 0);
    while i < bytes.len() {
        if line_terminator_at(bytes, i) {
            i += match bytes[i] {
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => 2,
                b'\r' | b'\n' => 1,
                _ => 3,
            };
            line += 1;
            line_start = i.min(bytes.len());
        } else {
            i += 1;
        }
    }
    (line, before[line_start..].chars().count() + 1)
}

/// The byte offset of a 1-based line and column (in characters) as the
/// parser counts them: lines ended by LF alone.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start = match line.checked_sub(2) {
        None => 0,
        Some(n) => text
            .match_indices('\n')
            .nth(n)
            .map_or(text.len(), |(i, _)| i + 1),
    };
    text[line_start..]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(text.len(), |(i, _)| line_start + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_scan_ignores_brackets_in_strings_and_comments() {
        let deep = "[".repeat(MAX_NESTING);
        assert_eq!(too_deep_at(&deep), None);
        assert_eq!(too_deep_at(&format!("{deep}[")), Some(MAX_NESTING));
        assert_eq!(
            too_deep_at(&format!("{deep} '[' \"\\\"[\" // [\n /* [ */ ")),
            None
        );
    }

    #[test]
    fn a_line_comment_ends_where_the_parser_ends_it() {
        let deep = "[".repeat(MAX_NESTING + 1);
        for end in ["\n", "\r", "\u{2028}", "\u{2029}"] {
            assert_eq!(
                too_deep_at(&format!("// x{end}{deep}")),
                Some(4 + end.len() + MAX_NESTING),
                "{end:?}"
            );
        }
        assert_eq!(too_deep_at(&format!("// x\u{2027}{deep}")), None);
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("", 0), (1, 1));
    }
}
