//! "Did you mean …?" for unknown keys.

/// Keys from older versions of the seed that were renamed; an old name
/// always suggests its new one, however far apart they are.
const RENAMED: &[(&str, &str)] = &[("wrefs_elem_c", "owrefs_elem_c")];

/// The known key closest to `unknown`, if one is close enough to be a
/// plausible typo (edit distance at most a third of the key's length, at
/// least 1; case is ignored).
pub(crate) fn closest_key(unknown: &str, known: &[&'static str]) -> Option<&'static str> {
    let renamed = RENAMED.iter().find(|(old, _)| *old == unknown);
    if let Some(k) = renamed.and_then(|(_, new)| known.iter().find(|k| *k == new)) {
        return Some(k);
    }
    // Every known key is far shorter: none is within a third of its
    // length (and the distances would take long to work out).
    if unknown.len() > 3 * known.iter().map(|k| k.len()).max().unwrap_or(0) {
        return None;
    }
    let lowered = unknown.to_ascii_lowercase();
    let limit = (lowered.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| (edit_distance(&lowered, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(edit_distance("port_numbr", "port_number"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggests_close_keys_only() {
        let known = ["port_number", "is_unencrypted", "ipv4only", "ipv6only"];
        assert_eq!(closest_key("port_numbr", &known), Some("port_number"));
        assert_eq!(closest_key("Port_Number", &known), Some("port_number"));
        assert_eq!(closest_key("ipv5only", &known), Some("ipv4only"));
        assert_eq!(closest_key("colour", &known), None);
    }

    #[test]
    fn renamed_keys_point_to_their_new_name() {
        assert_eq!(
            closest_key("wrefs_elem_c", &["owrefs_elem_c", "fd_alloc_c"]),
            Some("owrefs_elem_c")
        );
    }
}
