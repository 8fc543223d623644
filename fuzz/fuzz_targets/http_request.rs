//! The HTTP upgrade parser on arbitrary bytes: it never panics, chunking
//! never changes the outcome, and a request it accepts always carries a key
//! that decodes to 16 bytes, asked for version 13, offers only
//! subprotocols that are tokens, and gives the headers it keeps without
//! line breaks or the spaces around them.

#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use rs_http::{Progress, RequestParser};

/// The path, the bytes used and the kept headers' values, or the status.
type Outcome = Result<(String, usize, Vec<Option<Vec<u8>>>), u16>;

const KEPT: [&str; 2] = ["Cookie", "x-a"];

fn parse(bytes: &[u8], chunk: usize) -> Option<Outcome> {
    let mut parser = RequestParser::with_max_head_len(1024);
    let mut fed = 0;
    for piece in bytes.chunks(chunk.max(1)) {
        match parser.push_keeping(piece, &KEPT) {
            Ok(Progress::Incomplete) => fed += piece.len(),
            Ok(Progress::Complete { request, consumed }) => {
                let key = base64::engine::general_purpose::STANDARD
                    .decode(request.key())
                    .expect("an accepted key is base64");
                assert_eq!(key.len(), 16, "an accepted key decodes to 16 bytes");
                let accept = request.accept_key();
                let offered: Vec<&str> = request.subprotocols().map(|s| s.as_str()).collect();
                for subprotocol in &offered {
                    assert!(rs_http::Subprotocol::new(subprotocol).is_some(), "not a token");
                }
                let chosen = request.select_subprotocol(&offered);
                assert_eq!(chosen.map(|s| s.as_str()), offered.first().copied());
                let mut out = Vec::new();
                rs_http::write_switching_protocols(&accept, chosen, &mut out);
                let kept: Vec<Option<Vec<u8>>> = KEPT
                    .iter()
                    .map(|name| request.header(name).map(|v| v.into_owned()))
                    .collect();
                for value in kept.iter().flatten() {
                    assert!(!value.contains(&b'\n') && !value.contains(&b'\r'), "a line break");
                    let trimmed = value.trim_ascii();
                    assert_eq!(trimmed.len(), value.len(), "spaces around a value");
                }
                return Some(Ok((request.path().to_owned(), fed + consumed, kept)));
            }
            Err(error) => return Some(Err(error.status())),
        }
    }
    None
}

fuzz_target!(|input: (u8, &[u8])| {
    let (chunk, bytes) = input;
    let whole = parse(bytes, usize::MAX);
    if let Some(Ok(_)) = &whole {
        let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
        assert!(text.contains("sec-websocket-version"), "accepted without a version");
    }
    assert_eq!(parse(bytes, usize::from(chunk)), whole, "chunking changed the outcome");
});
