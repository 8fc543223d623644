//! Property: however the bytes are split into pushes, the parser reaches the
//! same outcome as with one push, and hands back the same trailing bytes.

use proptest::prelude::*;
use proptest::sample::Index;
use rs_http::{DEFAULT_MAX_HEAD_LEN, HandshakeError, Progress, RequestParser, UpgradeRequest};

#[derive(Debug, PartialEq)]
enum Outcome {
    /// Every byte pushed, no answer yet.
    Incomplete,
    /// The request and the bytes after it.
    Complete(UpgradeRequest, Vec<u8>),
    Refused(HandshakeError),
}

/// Pushes `chunks` in order until the parser answers.
fn run(chunks: &[&[u8]], max_head_len: usize) -> Outcome {
    let mut parser = RequestParser::with_max_head_len(max_head_len);
    for (i, chunk) in chunks.iter().enumerate() {
        match parser.push(chunk) {
            Ok(Progress::Incomplete) => {
                assert!(parser.buffered_len() <= max_head_len);
            }
            Ok(Progress::Complete { request, consumed }) => {
                assert_eq!(parser.buffered_len(), 0);
                let mut rest = chunk[consumed..].to_vec();
                rest.extend(chunks[i + 1..].concat());
                return Outcome::Complete(request, rest);
            }
            Err(error) => {
                assert_eq!(parser.buffered_len(), 0);
                return Outcome::Refused(error);
            }
        }
    }
    Outcome::Incomplete
}

/// `bytes` cut at the given points.
fn split<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

fn check_equivalence(
    bytes: &[u8],
    cuts: &[Index],
    max_head_len: usize,
) -> Result<(), TestCaseError> {
    let whole = run(&[bytes], max_head_len);
    let chunked = run(&split(bytes, cuts), max_head_len);
    prop_assert_eq!(&chunked, &whole);
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    prop_assert_eq!(&run(&bytewise, max_head_len), &whole);
    Ok(())
}

/// Header names in random letter case.
fn recase(name: &str, flips: &[bool]) -> String {
    name.chars()
        .zip(flips.iter().cycle())
        .map(|(c, &flip)| {
            if flip {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

prop_compose! {
    /// Header lines of a request that is valid unless `drop`/`duplicate`
    /// break it.
    fn header_lines()(
        flips in prop::collection::vec(any::<bool>(), 1..8),
        origin in prop::option::of("https?://[a-z]{1,8}(:[0-9]{1,4})?"),
        extra in prop::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,10}", "[ -~]{0,20}"), 0..4),
        port in prop::option::of(0u16..),
    ) -> Vec<String> {
        let host = match port {
            Some(port) => format!("Example.com:{port}"),
            None => "Example.com".to_owned(),
        };
        let mut lines = vec![
            format!("{}: {host}", recase("host", &flips)),
            format!("{}: websocket", recase("upgrade", &flips)),
            format!("{}: keep-alive, Upgrade", recase("connection", &flips)),
            format!("{}: dGhlIHNhbXBsZSBub25jZQ==", recase("sec-websocket-key", &flips)),
            format!("{}: 13", recase("sec-websocket-version", &flips)),
        ];
        if let Some(origin) = origin {
            lines.push(format!("Origin: {origin}"));
        }
        for (name, value) in extra {
            lines.push(format!("X-{name}: {value}"));
        }
        lines
    }
}

prop_compose! {
    /// A request head (valid or broken at the header level) followed by
    /// trailing bytes.
    fn request_bytes()(
        lines in header_lines().prop_shuffle(),
        method in prop_oneof![4 => Just("GET"), 1 => Just("POST")],
        target in prop_oneof![
            "/[a-z0-9/]{0,10}(\\?[a-z=&]{0,8})?",
            Just("ws://Chat.example:9000/p?q".to_owned()),
            Just("*".to_owned()),
        ],
        version in prop_oneof![8 => Just("HTTP/1.1"), 1 => Just("HTTP/1.0")],
        // A bare CR ends no line: refused at the byte after it.
        newline in prop_oneof![4 => Just("\r\n"), 4 => Just("\n"), 1 => Just("\r")],
        leading_empty_lines in 0usize..3,
        drop in prop::option::weighted(0.2, any::<Index>()),
        duplicate in prop::option::weighted(0.2, any::<Index>()),
        trailing in prop::collection::vec(any::<u8>(), 0..16),
    ) -> Vec<u8> {
        let mut lines = lines;
        if let Some(index) = duplicate {
            let line = index.get(&lines).clone();
            lines.push(line);
        }
        if let Some(index) = drop {
            lines.remove(index.index(lines.len()));
        }
        let mut text = newline.repeat(leading_empty_lines);
        text.push_str(&format!("{method} {target} {version}{newline}"));
        for line in lines {
            text.push_str(&line);
            text.push_str(newline);
        }
        text.push_str(newline);
        let mut bytes = text.into_bytes();
        bytes.extend(trailing);
        bytes
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    None,
    Replace(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => Just(Mutation::None),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<Index>().prop_map(|i| Mutation::Insert(i, b'\r')),
        1 => any::<Index>().prop_map(Mutation::Delete),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutation: &Mutation) -> Vec<u8> {
    if bytes.is_empty() {
        return bytes;
    }
    match mutation {
        Mutation::None => {}
        Mutation::Replace(i, b) => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        Mutation::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), *b),
        Mutation::Delete(i) => {
            bytes.remove(i.index(bytes.len()));
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
    }
    bytes
}

fn limit() -> impl Strategy<Value = usize> {
    prop_oneof![2 => Just(DEFAULT_MAX_HEAD_LEN), 1 => 0usize..300]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn requests_parse_the_same_in_any_chunks(
        bytes in request_bytes(),
        mutation in mutation(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        max_head_len in limit(),
    ) {
        check_equivalence(&mutate(bytes, &mutation), &cuts, max_head_len)?;
    }

    #[test]
    fn random_bytes_parse_the_same_in_any_chunks(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        max_head_len in limit(),
    ) {
        check_equivalence(&bytes, &cuts, max_head_len)?;
    }

    #[test]
    fn request_text_parses_the_same_in_any_chunks(
        text in "(GET|POST|get)? ?[ -~\r\n]{0,120}(\r?\n){0,2}[ -~]{0,10}",
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        max_head_len in limit(),
    ) {
        check_equivalence(text.as_bytes(), &cuts, max_head_len)?;
    }

    #[test]
    fn valid_requests_complete_with_their_trailing_bytes(
        lines in header_lines(),
        trailing in prop::collection::vec(any::<u8>(), 0..16),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let mut bytes = format!("GET /p HTTP/1.1\r\n{}\r\n\r\n", lines.join("\r\n")).into_bytes();
        let head_len = bytes.len();
        bytes.extend(&trailing);
        match run(&split(&bytes, &cuts), DEFAULT_MAX_HEAD_LEN) {
            Outcome::Complete(request, rest) => {
                prop_assert_eq!(request.path(), "/p");
                prop_assert_eq!(request.host(), "example.com");
                prop_assert_eq!(rest, &bytes[head_len..]);
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}

const UPGRADE: &[u8] = b"GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// `consumed` counts empty lines before the request line (RFC 9112 §2.2),
/// whatever the split, so the frame decoder gets exactly the frame.
#[test]
fn consumed_counts_leading_empty_lines_at_every_split() {
    let mut all = b"\r\n\r\n\n".to_vec();
    all.extend_from_slice(UPGRADE);
    let head_len = all.len();
    all.extend_from_slice(b"\x81\x80\x00\x00\x00\x00");
    for split in 0..=all.len() {
        let mut parser = RequestParser::new();
        let (a, b) = all.split_at(split);
        let mut got = None;
        let mut offset = 0;
        for part in [a, b] {
            match parser.push(part) {
                Ok(Progress::Complete { consumed, .. }) => {
                    got = Some(offset + consumed);
                    break;
                }
                Ok(Progress::Incomplete) => offset += part.len(),
                Err(e) => panic!("split {split}: {e}"),
            }
        }
        assert_eq!(got, Some(head_len), "split {split}");
    }
}

// Exhaustive splits of chosen and short random inputs, at every limit:
// every one-push, byte-by-byte, two-part (with empty pushes) and, for
// short inputs, three-part split ends the same.

/// What an exhaustive split run ends with: the outcome, with the path of a
/// complete request and whether a refused one was HEAD.
#[derive(Debug, PartialEq)]
enum PathOutcome {
    Incomplete,
    Complete(String, Vec<u8>),
    Refused(HandshakeError, bool),
}

/// Pushes `chunks` in order until the parser answers.
fn run_path(chunks: &[&[u8]], limit: usize) -> PathOutcome {
    let mut parser = RequestParser::with_max_head_len(limit);
    for (i, chunk) in chunks.iter().enumerate() {
        match parser.push(chunk) {
            Ok(Progress::Incomplete) => {}
            Ok(Progress::Complete { request, consumed }) => {
                let mut rest = chunk[consumed..].to_vec();
                rest.extend(chunks[i + 1..].concat());
                return PathOutcome::Complete(request.path().to_owned(), rest);
            }
            Err(e) => return PathOutcome::Refused(e, parser.refused_head()),
        }
    }
    PathOutcome::Incomplete
}

/// Whole, byte by byte, every 2-split (with an empty push in between),
/// every 3-split for short inputs: all must agree.
fn check_all_splits(bytes: &[u8], limit: usize) -> Result<(), String> {
    let whole = run_path(&[bytes], limit);
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    let b = run_path(&bytewise, limit);
    if b != whole {
        return Err(format!(
            "{:?} limit {limit}: whole {whole:?}, bytewise {b:?}",
            String::from_utf8_lossy(bytes)
        ));
    }
    for i in 0..=bytes.len() {
        let (x, y) = bytes.split_at(i);
        let got = run_path(&[x, b"", y, b""], limit);
        if got != whole {
            return Err(format!(
                "{:?} limit {limit} split {i}: whole {whole:?}, got {got:?}",
                String::from_utf8_lossy(bytes)
            ));
        }
        if bytes.len() <= 40 {
            for j in i..=bytes.len() {
                let got = run_path(&[&bytes[..i], &bytes[i..j], &bytes[j..]], limit);
                if got != whole {
                    return Err(format!(
                        "{:?} limit {limit} split {i},{j}: whole {whole:?}, got {got:?}",
                        String::from_utf8_lossy(bytes)
                    ));
                }
            }
        }
    }
    Ok(())
}

const HEADERS_AFTER: &str = "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn lines_with_bare_crs_and_odd_versions_parse_the_same_however_split_at_every_limit() {
    let lines = [
        "GET / HTTP/1.1\r\n",
        "GET / HTTP/1.10\r\n",
        "GET / HTTP/1.1 \r\n",
        "GET / HTTP/1.2 \r\n",
        "GET / HTTP/1\rX\r\n",
        "GET / HTTP/1.1\rX\r\n",
        "GET /a\rb HTTP/1.1\r\n",
        "\r\rGET / HTTP/1.1 \n",
        "\r\n\rGET / HTTP/1.1\r\n",
        "\n\nGET / HTTP/1.1\n",
        "HEAD / HTTP/1.1\r\r",
        "GET / HTTP/1.1\r\nHost: h\rX\r\n",
        "GET / HTTP/1.1\r\nX: a\r\r\n",
        "GET / HTTP/2.0\r\n",
        "G\rET / HTTP/1.1\r\n",
    ];
    let mut failures = Vec::new();
    for line in lines {
        for extra in ["", HEADERS_AFTER, "Host: h\r\n"] {
            let bytes = format!("{line}{extra}").into_bytes();
            for limit in 1..=bytes.len() + 1 {
                if let Err(e) = check_all_splits(&bytes, limit) {
                    failures.push(e);
                }
            }
        }
    }
    assert_none(&failures);
}

#[test]
fn short_inputs_of_request_bytes_parse_the_same_however_split() {
    // xorshift: the same 4000 inputs every run.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"GETHAD /\r\n1.P:a ";
    let mut failures = Vec::new();
    for _ in 0..4000 {
        let len = (next() % 24) as usize + 1;
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let limit = (next() % 30) as usize + 1;
        if let Err(e) = check_all_splits(&bytes, limit) {
            failures.push(e);
        }
    }
    assert_none(&failures);
}

/// Fails listing the first few of `failures`, if any.
fn assert_none(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failures, first:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n")
    );
}
