//! The served OpenAPI document is committed as `docs/openapi.json`, so a change to the API shows
//! in review as a change to that file. The file is the served document indented (two spaces, one
//! member or element a line, keys in the order served); removing that indentation gives back the
//! served bytes exactly. A branch that changes the API refreshes it with
//! `UPDATE_OPENAPI_SNAPSHOT=1 cargo test --locked -p mps --test api openapi_snapshot`.

use crate::helpers::TestApp;

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

/// Indents compact JSON text without parsing it into a map, so key order and number spelling
/// stay as served.
fn indent(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut chars = compact.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out.push('\n');
    out
}

/// The inverse of [`indent`]: drops the white space outside strings.
fn compact(indented: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::with_capacity(indented.len()), false, false);
    for c in indented.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c.is_ascii_whitespace() {
            continue;
        }
        out.push(c);
    }
    out
}

#[tokio::test]
async fn the_served_openapi_document_is_byte_for_byte_the_committed_snapshot() {
    let app = TestApp::new().await;
    let served = app.get("/openapi.json").await;
    assert_eq!(served.status, 200);
    let expected = indent(&served.text);
    assert_eq!(compact(&expected), served.text, "indenting the document must be reversible");
    if std::env::var_os("UPDATE_OPENAPI_SNAPSHOT").is_some() {
        std::fs::write(SNAPSHOT, &expected).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    assert!(
        committed == expected && compact(&committed) == served.text,
        "the served /openapi.json differs from docs/openapi.json. If the API change is intended, refresh \
         the snapshot and commit it:\n  UPDATE_OPENAPI_SNAPSHOT=1 cargo test --locked -p mps --test api \
         openapi_snapshot\nfirst difference at line {}",
        committed.lines().zip(expected.lines()).position(|(a, b)| a != b).map_or(0, |i| i + 1)
    );
}
