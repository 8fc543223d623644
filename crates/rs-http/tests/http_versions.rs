//! HTTP versions other than 1.1 (1.2 and later read as 1.1, 2 and later
//! refused with 505): the outcome does not depend on how the bytes are
//! split, and a request too long is 431 whatever its version.

use rs_http::{HandshakeError, Progress, RequestParser};

const HEADERS: &str = "Host: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

type Outcome = Result<(String, usize), u16>;

fn outcome(bytes: &[u8], max: usize, cuts: &[usize]) -> Option<Outcome> {
    let mut parser = RequestParser::with_max_head_len(max);
    let mut fed = 0;
    let mut start = 0;
    let mut bounds: Vec<usize> = cuts.to_vec();
    bounds.push(bytes.len());
    for end in bounds {
        let piece = &bytes[start..end];
        start = end;
        match parser.push(piece) {
            Ok(Progress::Incomplete) => fed += piece.len(),
            Ok(Progress::Complete { request, consumed }) => {
                return Some(Ok((request.path().to_owned(), fed + consumed)));
            }
            Err(e) => return Some(Err(e.status())),
        }
    }
    None
}

fn check_chunkings(bytes: &[u8], max: usize) -> Vec<String> {
    let whole = outcome(bytes, max, &[]);
    let mut bad = Vec::new();
    for cut in 1..bytes.len() {
        let split = outcome(bytes, max, &[cut]);
        if split != whole {
            bad.push(format!(
                "{:?} (max {max}) cut at {cut}: {split:?} != whole {whole:?}",
                String::from_utf8_lossy(bytes)
            ));
        }
    }
    let ones: Vec<usize> = (1..bytes.len()).collect();
    let single = outcome(bytes, max, &ones);
    if single != whole {
        bad.push(format!(
            "{:?} (max {max}) byte by byte: {single:?} != whole {whole:?}",
            String::from_utf8_lossy(bytes)
        ));
    }
    bad
}

#[test]
fn version_handling_does_not_depend_on_chunking() {
    let lines = [
        "GET / HTTP/1.2",
        "GET / HTTP/1.1",
        "GET / HTTP/2.0",
        "GET / HTTP/2",
        "GET / HTTP/1.2 HTTP/1.2",
        "GET /HTTP/1.2 HTTP/1.3",
        "GET / HTTP/1.2 ",
        "GET / HTTP/1.20",
        "GET / HTTP/10.0",
    ];
    let mut bad = Vec::new();
    for line in lines {
        for prefix in ["", "\r\n", "\n", "\r\n\n"] {
            for eol in ["\r\n", "\n"] {
                let text = format!("{prefix}{line}{eol}{HEADERS}");
                for max in [
                    text.len() + 10,
                    text.len(),
                    text.len() - 3,
                    line.len() + prefix.len(),
                    40,
                ] {
                    bad.extend(check_chunkings(text.as_bytes(), max));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} outcomes differ:\n{}",
        bad.len(),
        bad[..bad.len().min(20)].join("\n")
    );
}

#[test]
fn a_too_long_http_1_2_request_is_431_like_an_http_1_1_one() {
    // The limit falls right after the version: the line's end is past it.
    for version in ["HTTP/1.1", "HTTP/1.2"] {
        let line = format!("GET /{} {version}", "a".repeat(100));
        let text = format!("{line}\r\n{HEADERS}");
        let mut parser = RequestParser::with_max_head_len(line.len());
        let got = parser
            .push(text.as_bytes())
            .map(|_| ())
            .map_err(|e| (e.status(), e));
        assert!(
            matches!(got, Err((431, HandshakeError::TooLarge { .. }))),
            "{version}: {got:?}"
        );
    }
}
