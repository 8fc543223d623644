//! Typed reads from the value tree that record an error and carry on,
//! instead of stopping at the first problem as derived deserializers do.

use std::collections::HashSet;

use crate::error::{ErrorKind, Errors};
use crate::path::JsonPath;
use crate::suggest::closest_key;
use crate::value::{Value, quote};

/// The outcome of reading one key.
pub(crate) enum Field<T> {
    /// The key is not there.
    Absent,
    /// The key is there but its value is wrong (already reported).
    Invalid,
    /// The key is there and valid.
    Valid(T),
}

impl<T> Field<T> {
    /// The value, or `default` when absent; `None` when invalid.
    pub(crate) fn or(self, default: T) -> Option<T> {
        match self {
            Field::Absent => Some(default),
            Field::Invalid => None,
            Field::Valid(v) => Some(v),
        }
    }

    /// `Some(Some(v))` valid, `Some(None)` absent, `None` invalid.
    pub(crate) fn optional(self) -> Option<Option<T>> {
        match self {
            Field::Absent => Some(None),
            Field::Invalid => None,
            Field::Valid(v) => Some(Some(v)),
        }
    }

    /// Applies a further check to a valid value.
    pub(crate) fn and_then<U>(self, f: impl FnOnce(T) -> Option<U>) -> Field<U> {
        match self {
            Field::Absent => Field::Absent,
            Field::Invalid => Field::Invalid,
            Field::Valid(v) => f(v).map_or(Field::Invalid, Field::Valid),
        }
    }
}

/// A JSON object being read, with its path for error messages.
pub(crate) struct Obj<'v> {
    path: JsonPath,
    fields: &'v [(String, Value)],
}

impl<'v> Obj<'v> {
    /// Checks that `value` is an object and reports duplicate and unknown
    /// keys right away; `None` (after an error) if it is not an object.
    pub(crate) fn new(
        errs: &mut Errors<'_>,
        value: &'v Value,
        path: JsonPath,
        what: &str,
        known: &[&'static str],
    ) -> Option<Self> {
        let Value::Object(fields) = value else {
            errs.at(
                &path,
                Some(value.render()),
                ErrorKind::WrongType,
                format!("expected {what}, found {}", value.kind_name()),
            );
            return None;
        };
        // A set: an object may have many keys (unknown ones, reported).
        let mut seen = HashSet::with_capacity(fields.len());
        for (key, _) in fields {
            let key_path = path.key(key);
            if !seen.insert(key.as_str()) {
                errs.at(
                    &key_path,
                    None,
                    ErrorKind::DuplicateKey,
                    format!(
                        "duplicate key in {}; each key may appear once",
                        describe(&path)
                    ),
                );
            } else if !known.contains(&key.as_str()) {
                let hint = match closest_key(key, known) {
                    Some(k) => format!("did you mean \"{k}\"?"),
                    None => format!("known keys: {}", known.join(", ")),
                };
                errs.at(
                    &key_path,
                    None,
                    ErrorKind::UnknownKey,
                    format!("unknown key in {}; {hint}", describe(&path)),
                );
            }
        }
        Some(Self { path, fields })
    }

    /// The path of this object.
    pub(crate) fn path(&self) -> &JsonPath {
        &self.path
    }

    /// The path of one of its keys.
    pub(crate) fn key_path(&self, key: &str) -> JsonPath {
        self.path.key(key)
    }

    /// The value of a key (its first occurrence; later ones are reported).
    pub(crate) fn get(&self, key: &str) -> Option<&'v Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether the key is present.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Reports a missing required key; `None` unless the field is valid.
    pub(crate) fn required<T>(
        &self,
        errs: &mut Errors<'_>,
        key: &str,
        field: Field<T>,
        expected: &str,
    ) -> Option<T> {
        match field {
            Field::Valid(v) => Some(v),
            Field::Invalid => None,
            Field::Absent => {
                errs.at(
                    &self.path,
                    None,
                    ErrorKind::MissingKey,
                    format!("missing required key \"{key}\" ({expected})"),
                );
                None
            }
        }
    }

    /// An integer in `min..=max`. Integral floats (`1e6`) are accepted.
    pub(crate) fn uint(&self, errs: &mut Errors<'_>, key: &str, min: u64, max: u64) -> Field<u64> {
        let Some(value) = self.get(key) else {
            return Field::Absent;
        };
        let expected = integer_range(min, max);
        let n = match value {
            Value::Int(i) => Some(i128::from(*i)),
            Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e30 => {
                Some(*f as i128)
            }
            Value::Float(_) => None,
            other => {
                errs.at(
                    &self.key_path(key),
                    Some(other.render()),
                    ErrorKind::WrongType,
                    format!("expected {expected}, found {}", other.kind_name()),
                );
                return Field::Invalid;
            }
        };
        match n {
            Some(n) if n >= i128::from(min) && n <= i128::from(max) => Field::Valid(n as u64),
            _ => {
                // Above an unbounded key's largest: say what that is.
                let expected = match n {
                    Some(n) if n > i128::from(max) => format!("an integer from {min} to {max}"),
                    _ => expected,
                };
                errs.at(
                    &self.key_path(key),
                    Some(value.render()),
                    ErrorKind::OutOfRange,
                    format!("must be {expected}"),
                );
                Field::Invalid
            }
        }
    }

    /// Like [`uint`](Self::uint), into a `usize`.
    pub(crate) fn size(&self, errs: &mut Errors<'_>, key: &str, min: usize) -> Field<usize> {
        self.size_in(errs, key, min, usize::MAX)
    }

    /// Like [`size`](Self::size), at most `max`.
    pub(crate) fn size_in(
        &self,
        errs: &mut Errors<'_>,
        key: &str,
        min: usize,
        max: usize,
    ) -> Field<usize> {
        let max = u64::try_from(max).unwrap_or(u64::MAX).min(i64::MAX as u64);
        self.uint(errs, key, min as u64, max)
            .and_then(|n| usize::try_from(n).ok())
    }

    /// Any number (integer or not), for `realloc_multiplier`.
    pub(crate) fn number(&self, errs: &mut Errors<'_>, key: &str, expected: &str) -> Field<f64> {
        match self.get(key) {
            None => Field::Absent,
            Some(Value::Int(i)) => Field::Valid(*i as f64),
            Some(Value::Float(f)) => Field::Valid(*f),
            Some(other) => {
                self.wrong_type(errs, key, other, expected);
                Field::Invalid
            }
        }
    }

    /// `true`/`false`, or the seed's string forms `"true"`/`"false"`.
    pub(crate) fn boolean(&self, errs: &mut Errors<'_>, key: &str) -> Field<bool> {
        match self.get(key) {
            None => Field::Absent,
            Some(Value::Bool(b)) => Field::Valid(*b),
            Some(Value::Str(s)) if s == "true" => Field::Valid(true),
            Some(Value::Str(s)) if s == "false" => Field::Valid(false),
            Some(other) => {
                let kind = if matches!(other, Value::Str(_)) {
                    ErrorKind::InvalidString
                } else {
                    ErrorKind::WrongType
                };
                errs.at(
                    &self.key_path(key),
                    Some(other.render()),
                    kind,
                    "expected true or false (or the strings \"true\" and \"false\")",
                );
                Field::Invalid
            }
        }
    }

    /// A string.
    pub(crate) fn string(
        &self,
        errs: &mut Errors<'_>,
        key: &str,
        expected: &str,
    ) -> Field<&'v str> {
        match self.get(key) {
            None => Field::Absent,
            Some(Value::Str(s)) => Field::Valid(s),
            Some(other) => {
                self.wrong_type(errs, key, other, expected);
                Field::Invalid
            }
        }
    }

    /// A non-empty string.
    pub(crate) fn nonempty_string(
        &self,
        errs: &mut Errors<'_>,
        key: &str,
        expected: &str,
    ) -> Field<&'v str> {
        let path = self.key_path(key);
        self.string(errs, key, expected).and_then(|s| {
            if s.is_empty() {
                errs.at(
                    &path,
                    Some("\"\"".into()),
                    ErrorKind::InvalidString,
                    format!("must not be empty ({expected})"),
                );
                None
            } else {
                Some(s)
            }
        })
    }

    /// An array.
    pub(crate) fn array(
        &self,
        errs: &mut Errors<'_>,
        key: &str,
        expected: &str,
    ) -> Field<&'v [Value]> {
        match self.get(key) {
            None => Field::Absent,
            Some(Value::Array(items)) => Field::Valid(items),
            Some(other) => {
                self.wrong_type(errs, key, other, expected);
                Field::Invalid
            }
        }
    }

    /// A non-empty array.
    pub(crate) fn nonempty_array(
        &self,
        errs: &mut Errors<'_>,
        key: &str,
        expected: &str,
    ) -> Field<&'v [Value]> {
        let path = self.key_path(key);
        self.array(errs, key, expected).and_then(|items| {
            if items.is_empty() {
                errs.at(
                    &path,
                    Some("[]".into()),
                    ErrorKind::ArrayLength,
                    format!("must not be empty; expected {expected}"),
                );
                None
            } else {
                Some(items)
            }
        })
    }

    fn wrong_type(&self, errs: &mut Errors<'_>, key: &str, value: &Value, expected: &str) {
        errs.at(
            &self.key_path(key),
            Some(value.render()),
            ErrorKind::WrongType,
            format!("expected {expected}, found {}", value.kind_name()),
        );
    }
}

/// Reads the elements of an array of strings at `path`, each through
/// `check`, which gets the string and the elements kept so far (with their
/// paths) and returns the element or what is wrong with it: a kind and a
/// reason, reported at the string's path. A non-string is reported as not
/// `expected`. `Some` only if every element is a string that passes.
pub(crate) fn checked_strings<T>(
    errs: &mut Errors<'_>,
    items: &[Value],
    path: &JsonPath,
    expected: &str,
    mut check: impl FnMut(&str, &[(T, JsonPath)]) -> Result<T, (ErrorKind, String)>,
) -> Option<Vec<(T, JsonPath)>> {
    let mut kept = Vec::new();
    let mut valid = true;
    for (i, item) in items.iter().enumerate() {
        let item_path = path.index(i);
        let Value::Str(s) = item else {
            errs.at(
                &item_path,
                Some(item.render()),
                ErrorKind::WrongType,
                format!("expected {expected}, found {}", item.kind_name()),
            );
            valid = false;
            continue;
        };
        match check(s, &kept) {
            Ok(element) => kept.push((element, item_path)),
            Err((kind, why)) => {
                errs.at(&item_path, Some(quote(s)), kind, why);
                valid = false;
            }
        }
    }
    valid.then_some(kept)
}

/// "ports[0]" or "the root object", for "unknown key in …".
fn describe(path: &JsonPath) -> String {
    if *path == JsonPath::root() {
        "the root object".to_owned()
    } else {
        path.to_string()
    }
}

/// "an integer from 1 to 65535", or "an integer ≥ 1" when unbounded.
fn integer_range(min: u64, max: u64) -> String {
    if max >= i64::MAX as u64 {
        format!("an integer of at least {min}")
    } else {
        format!("an integer from {min} to {max}")
    }
}
