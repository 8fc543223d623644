//! Reading what an open callback is given of the client's request: one
//! parameter of the URL's query, one cookie of the `Cookie` header. Pure
//! functions over the bytes, behind `Open::query_param` and `Open::cookie`.

use std::borrow::Cow;

/// The value of the first parameter called `name` in `query` (what follows
/// `?` in a URL), decoded as a form would encode it
/// (`application/x-www-form-urlencoded`): `+` is a space and `%XX` a byte,
/// in the name as in the value. A parameter without `=` has an empty value.
/// A `%` not followed by two hex digits stands for itself; bytes that do
/// not decode to UTF-8 become U+FFFD.
///
/// ```
/// use rs_app::sdk::request::query_param;
/// let query = "room=lobby&token=a%2Fb+c&flag";
/// assert_eq!(query_param(query, "token").as_deref(), Some("a/b c"));
/// assert_eq!(query_param(query, "flag").as_deref(), Some(""));
/// assert_eq!(query_param(query, "nope"), None);
/// ```
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(key, _)| form_decode(key) == name)
        .map(|(_, value)| form_decode(value))
}

/// `text` with `+` as a space and `%XX` as the byte it names.
fn form_decode(text: &str) -> Cow<'_, str> {
    if !text.contains(['+', '%']) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|&b| (b as char).to_digit(16));
        match byte {
            b'+' => decoded.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(high), Some(low)) => {
                    decoded.push((high * 16 + low) as u8);
                    i += 2;
                }
                _ => decoded.push(b'%'),
            },
            other => decoded.push(other),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&decoded).into_owned())
}

/// The value of the first cookie called `name` (compared exactly, as
/// cookie names are) in `header`, a `Cookie` header's value
/// (`name=value; name2=value2`, RFC 6265 §4.2), without the spaces and
/// tabs around it and the double quotes it may be wrapped in. Pairs without
/// `=` are skipped (a browser sends a cookie with an empty name as its
/// value alone, which no name finds).
///
/// ```
/// use rs_app::sdk::request::cookie;
/// let header = b"theme=dark; session=\"42abc\"; lang=fr";
/// assert_eq!(cookie(header, "session"), Some(&b"42abc"[..]));
/// assert_eq!(cookie(header, "Session"), None);
/// ```
pub fn cookie<'a>(header: &'a [u8], name: &str) -> Option<&'a [u8]> {
    header
        .split(|&b| b == b';')
        .filter_map(|pair| {
            let at = pair.iter().position(|&b| b == b'=')?;
            Some((trim_blanks(&pair[..at]), trim_blanks(&pair[at + 1..])))
        })
        .find(|(key, _)| *key == name.as_bytes())
        .map(|(_, value)| match value {
            [b'"', inner @ .., b'"'] => inner,
            value => value,
        })
}

/// `bytes` without the spaces and tabs around them (a cookie header's
/// whitespace, RFC 6265 §5.4).
fn trim_blanks(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_found_by_their_decoded_name() {
        let query = "a=1&b%20c=2&d+e=3&a=4&&=5&f";
        assert_eq!(query_param(query, "a").as_deref(), Some("1"));
        assert_eq!(query_param(query, "b c").as_deref(), Some("2"));
        assert_eq!(query_param(query, "d e").as_deref(), Some("3"));
        assert_eq!(query_param(query, "").as_deref(), Some("5"));
        assert_eq!(query_param(query, "f").as_deref(), Some(""));
        assert_eq!(query_param(query, "b%20c"), None);
        assert_eq!(query_param("", "a"), None);
    }

    #[test]
    fn query_values_are_form_decoded() {
        let value = |query| query_param(query, "v").map(Cow::into_owned);
        assert_eq!(value("v=a+b%2B%3d%C3%A9").as_deref(), Some("a b+=é"));
        assert_eq!(value("v=x=y").as_deref(), Some("x=y"));
        // Not an escape: stays as it is.
        assert_eq!(value("v=100%").as_deref(), Some("100%"));
        assert_eq!(value("v=%zz%4").as_deref(), Some("%zz%4"));
        // Bytes that are not UTF-8.
        assert_eq!(value("v=%ff").as_deref(), Some("\u{fffd}"));
        // Borrowed when there is nothing to decode.
        assert!(matches!(
            query_param("v=plain", "v"),
            Some(Cow::Borrowed("plain"))
        ));
    }

    #[test]
    fn an_encoded_equals_sign_is_part_of_a_name() {
        assert_eq!(query_param("a%3Db=1&a=2", "a=b").as_deref(), Some("1"));
        assert_eq!(query_param("a%3Db=1&a=2", "a").as_deref(), Some("2"));
    }

    #[test]
    fn a_cookie_value_may_hold_equals_signs_and_is_trimmed_of_blanks_only() {
        assert_eq!(cookie(b"a==b", "a"), Some(&b"=b"[..]));
        assert_eq!(cookie(b"x=1;\ta\t=\t2\t", "a"), Some(&b"2"[..]));
        // Not a cookie's whitespace: kept.
        assert_eq!(cookie(b"a=\x0c2", "a"), Some(&b"\x0c2"[..]));
    }

    #[test]
    fn cookies_are_found_by_their_exact_name() {
        let header = b"a=1;b=2 ;  c = 3; flag; d=\"q\"; e=\"; a=5; =6";
        assert_eq!(cookie(header, "a"), Some(&b"1"[..]));
        assert_eq!(cookie(header, "b"), Some(&b"2"[..]));
        assert_eq!(cookie(header, "c"), Some(&b"3"[..]));
        assert_eq!(cookie(header, "d"), Some(&b"q"[..]));
        // One quote is not a quoted value.
        assert_eq!(cookie(header, "e"), Some(&b"\""[..]));
        assert_eq!(cookie(header, "flag"), None);
        assert_eq!(cookie(header, "A"), None);
        assert_eq!(cookie(header, ""), Some(&b"6"[..]));
        assert_eq!(cookie(b"", "a"), None);
    }
}
