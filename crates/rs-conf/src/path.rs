//! JSON paths like `apps[0].endpoints[1].url`, naming where an error is.

use std::fmt;

/// One step down a JSON document: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// A path from the document root to one value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JsonPath {
    segments: Vec<Segment>,
}

impl JsonPath {
    /// The document root.
    pub(crate) fn root() -> Self {
        Self::default()
    }

    /// This path extended by an object key.
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut segments = self.segments.clone();
        segments.push(Segment::Key(key.to_owned()));
        Self { segments }
    }

    /// This path extended by an array index.
    pub(crate) fn index(&self, index: usize) -> Self {
        let mut segments = self.segments.clone();
        segments.push(Segment::Index(index));
        Self { segments }
    }
}

/// Keys made of identifier characters print bare (`.port_number`); anything
/// else prints quoted (`["odd key"]`) so the path stays unambiguous.
fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit())
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("(root)");
        }
        // Keys are cut as values are in messages: one error, one line.
        const MAX_KEY_CHARS: usize = 60;
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Key(key) if key.chars().nth(MAX_KEY_CHARS).is_some() => {
                    let cut: String = key.chars().take(MAX_KEY_CHARS).collect();
                    write!(f, "[{}]", crate::value::quote(&format!("{cut}…")))?;
                }
                Segment::Key(key) if is_plain_key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                Segment::Key(key) => write!(f, "[{}]", crate::value::quote(key))?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_javascript_member_access() {
        let p = JsonPath::root()
            .key("apps")
            .index(0)
            .key("endpoints")
            .index(1)
            .key("url");
        assert_eq!(p.to_string(), "apps[0].endpoints[1].url");
        assert_eq!(JsonPath::root().to_string(), "(root)");
        assert_eq!(JsonPath::root().key("a b").to_string(), "[\"a b\"]");
        assert_eq!(
            JsonPath::root().key("ports").key("9x").to_string(),
            "ports[\"9x\"]"
        );
    }
}
