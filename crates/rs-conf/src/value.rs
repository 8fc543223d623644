//! A generic JSON5 value tree.
//!
//! serde_json5 parses the whole text up front and reports syntax errors with
//! a line and column; deserializing into this tree (instead of typed structs)
//! lets the typed extraction in `parse` keep going after the first bad value
//! and report every error of a file at once.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One JSON5 value. Objects keep their keys in file order, duplicates
/// included, so duplicate keys can be reported instead of silently dropped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// What kind of value this is, for "expected X, found Y" messages.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// A short, single-line JSON rendering for error messages; long values
    /// are cut so one error stays one readable line.
    pub(crate) fn render(&self) -> String {
        const MAX_CHARS: usize = 60;
        let mut out = String::new();
        self.write_json(&mut out);
        if out.chars().count() > MAX_CHARS {
            let mut cut: String = out.chars().take(MAX_CHARS).collect();
            cut.push('…');
            cut
        } else {
            out
        }
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Float(f) => out.push_str(&render_float(*f)),
            Value::Str(s) => out.push_str(&quote(s)),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_json(out);
                    if out.len() > 200 {
                        out.push_str(", …");
                        break;
                    }
                }
                out.push(']');
            }
            Value::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&quote(key));
                    out.push_str(": ");
                    value.write_json(out);
                    if out.len() > 200 {
                        out.push_str(", …");
                        break;
                    }
                }
                out.push('}');
            }
        }
    }
}

/// Renders a float the way JSON5 would accept it back.
fn render_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        format!("{f:?}")
    }
}

/// Quotes a string as JSON does, escaping what would break a one-line message.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON5 value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        // Too large for i64: keep it as a float; range checks reject it later.
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            fields.push((key, value));
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_of_value() {
        let v: Value =
            serde_json5::from_str("{a: null, b: true, c: -3, d: 1.5, e: 'x', f: [1], a: 2}")
                .unwrap();
        assert_eq!(
            v,
            Value::Object(vec![
                ("a".into(), Value::Null),
                ("b".into(), Value::Bool(true)),
                ("c".into(), Value::Int(-3)),
                ("d".into(), Value::Float(1.5)),
                ("e".into(), Value::Str("x".into())),
                ("f".into(), Value::Array(vec![Value::Int(1)])),
                ("a".into(), Value::Int(2)),
            ])
        );
    }

    #[test]
    fn renders_long_values_on_one_short_line() {
        let v = Value::Str("x\n".repeat(100));
        let shown = v.render();
        assert!(!shown.contains('\n'));
        assert_eq!(shown.chars().count(), 61);
        assert!(shown.ends_with('…'));
    }
}
