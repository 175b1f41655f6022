//! Maps an RFC 6901 JSON pointer to the line and column where that value starts
//! in a JSON text, so findings can point a person (or a GitHub annotation) at
//! the right line. The text must already have parsed; nesting is bounded by the
//! parser's depth limit, so the recursion here is bounded too.

/// 1-based line and column (in characters) of the value at `pointer`.
pub fn locate(text: &[u8], pointer: &str) -> Option<(u64, u64)> {
    let at = offset(text, pointer)?;
    Some(line_col(text, at))
}

/// Byte offset where the value at `pointer` starts.
pub fn offset(text: &[u8], pointer: &str) -> Option<usize> {
    let tokens = parse_pointer(pointer)?;
    let mut s = Scanner { text, pos: 0 };
    s.ws();
    s.find(&tokens)
}

/// Byte offsets of every element of the array at `pointer`, in one pass (so a
/// caller locating findings in many elements does not rescan the text each time).
pub fn array_items(text: &[u8], pointer: &str) -> Option<Vec<usize>> {
    let mut s = Scanner {
        text,
        pos: offset(text, pointer)?,
    };
    if s.peek()? != b'[' {
        return None;
    }
    s.pos += 1;
    let mut out = Vec::new();
    loop {
        s.ws();
        if s.peek()? == b']' {
            return Some(out);
        }
        out.push(s.pos);
        s.skip_value()?;
        s.ws();
        if s.peek()? == b',' {
            s.pos += 1;
        }
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
pub fn line_col(text: &[u8], at: usize) -> (u64, u64) {
    let before = &text[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&text[line_start..at])
        .chars()
        .count() as u64
        + 1;
    (line, col)
}

/// Splits a pointer into unescaped reference tokens; `None` if malformed.
pub fn parse_pointer(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// Escapes one reference token for use in a pointer.
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

struct Scanner<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }
    /// Position of the value at `tokens`, starting at the value under the cursor.
    fn find(&mut self, tokens: &[String]) -> Option<usize> {
        let Some((first, rest)) = tokens.split_first() else {
            return Some(self.pos);
        };
        match self.peek()? {
            b'{' => {
                self.pos += 1;
                loop {
                    self.ws();
                    if self.peek()? == b'}' {
                        return None;
                    }
                    let key_start = self.pos;
                    self.skip_string()?;
                    let key: String =
                        serde_json::from_slice(&self.text[key_start..self.pos]).ok()?;
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.pos += 1;
                    self.ws();
                    if &key == first {
                        return self.find(rest);
                    }
                    self.skip_value()?;
                    self.ws();
                    if self.peek()? == b',' {
                        self.pos += 1;
                    }
                }
            }
            b'[' => {
                let want: usize = first.parse().ok()?;
                self.pos += 1;
                let mut i = 0;
                loop {
                    self.ws();
                    if self.peek()? == b']' {
                        return None;
                    }
                    if i == want {
                        return self.find(rest);
                    }
                    self.skip_value()?;
                    self.ws();
                    if self.peek()? == b',' {
                        self.pos += 1;
                    }
                    i += 1;
                }
            }
            _ => None,
        }
    }
    fn skip_string(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.pos += 1;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => self.pos += 1,
            }
        }
    }
    /// Skips one value without recursion: brackets are counted, strings
    /// skipped, and inside a container the separators `:` and `,` and white
    /// space are stepped over, so spacing does not matter.
    fn skip_value(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => self.skip_string()?,
                b'{' | b'[' => {
                    depth += 1;
                    self.pos += 1;
                }
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    self.pos += 1;
                }
                b':' | b',' | b' ' | b'\t' | b'\n' | b'\r' if depth > 0 => {
                    self.pos += 1;
                    continue;
                }
                _ => {
                    // A number, true, false or null.
                    let start = self.pos;
                    while matches!(
                        self.peek(),
                        Some(b'a'..=b'z' | b'0'..=b'9' | b'-' | b'+' | b'.' | b'E')
                    ) {
                        self.pos += 1;
                    }
                    if self.pos == start {
                        return None;
                    }
                }
            }
            if depth == 0 {
                return Some(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str =
        "{\n  \"a\": [1, {\"x/y\": \"s,]}\"}, [2]],\n  \"b\":\n    {\"c\": null, \"é\": true}\n}\n";

    #[test]
    fn finds_values_at_their_line_and_column() {
        let t = DOC.as_bytes();
        assert_eq!(locate(t, ""), Some((1, 1)));
        assert_eq!(locate(t, "/a"), Some((2, 8)));
        assert_eq!(locate(t, "/a/0"), Some((2, 9)));
        assert_eq!(locate(t, "/a/1/x~1y"), Some((2, 20)));
        assert_eq!(locate(t, "/a/2/0"), Some((2, 30)));
        assert_eq!(locate(t, "/b"), Some((4, 5)));
        assert_eq!(locate(t, "/b/é"), Some((4, 22)));
    }

    #[test]
    fn missing_or_malformed_pointers_are_none() {
        let t = DOC.as_bytes();
        assert_eq!(locate(t, "/zz"), None);
        assert_eq!(locate(t, "/a/9"), None);
        assert_eq!(locate(t, "/a/x"), None);
        assert_eq!(locate(t, "a"), None);
        assert_eq!(locate(t, "/b/c/d"), None);
    }

    #[test]
    fn array_items_are_the_element_starts() {
        let t = DOC.as_bytes();
        let items = array_items(t, "/a").unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(line_col(t, items[1]), (2, 12));
        assert_eq!(line_col(t, items[2]), locate(t, "/a/2").unwrap());
        assert_eq!(array_items(t, "/b"), None);
        assert_eq!(array_items(b"[]", ""), Some(vec![]));
    }

    /// The byte offset of every value in `text`, by pointer, as serde_json's
    /// own parser places them (a borrowed `RawValue` is a slice of the input).
    fn parser_offsets(text: &str) -> Vec<(String, usize)> {
        use serde_json::value::RawValue;
        fn walk(text: &str, raw: &RawValue, ptr: String, out: &mut Vec<(String, usize)>) {
            let at = raw.get().as_ptr() as usize - text.as_ptr() as usize;
            out.push((ptr.clone(), at));
            let s = raw.get();
            if s.starts_with('{') {
                let m: std::collections::BTreeMap<String, &RawValue> =
                    serde_json::from_str(s).unwrap();
                for (k, v) in m {
                    walk(text, v, format!("{ptr}/{}", escape_token(&k)), out);
                }
            } else if s.starts_with('[') {
                let a: Vec<&RawValue> = serde_json::from_str(s).unwrap();
                for (i, v) in a.into_iter().enumerate() {
                    walk(text, v, format!("{ptr}/{i}"), out);
                }
            }
        }
        let mut out = Vec::new();
        let root: &RawValue = serde_json::from_str(text.trim()).unwrap();
        let lead = text.len() - text.trim_start().len();
        // from_str on the trimmed text: shift by the leading space.
        let mut inner = Vec::new();
        walk(text.trim(), root, String::new(), &mut inner);
        out.extend(inner.into_iter().map(|(p, at)| (p, at + lead)));
        out
    }

    /// A random document written with random spacing: none, spaces, tabs or
    /// newlines around every token, and strings holding JSON's own punctuation.
    fn random_doc(rng: &mut crate::gguf::fixture::SplitMix64, depth: u32, out: &mut String) {
        let space = |rng: &mut crate::gguf::fixture::SplitMix64, out: &mut String| {
            for _ in 0..rng.next_u64() % 3 {
                out.push([' ', '\n', '\t', ' '][(rng.next_u64() % 4) as usize]);
            }
        };
        let strings = ["a", "x:y", "s,]}\"", "{\"q\":1}", "é/~", "", "\\\"", "1.1"];
        let pick = rng.next_u64() % if depth == 0 { 4 } else { 6 };
        match pick {
            0 => out.push_str(
                ["0", "-1.5e3", "true", "null", "false", "12"][(rng.next_u64() % 6) as usize],
            ),
            1 => out
                .push_str(&serde_json::to_string(strings[(rng.next_u64() % 8) as usize]).unwrap()),
            2 | 4 => {
                out.push('[');
                let n = rng.next_u64() % 4;
                for i in 0..n {
                    space(rng, out);
                    random_doc(rng, depth.saturating_sub(1), out);
                    space(rng, out);
                    if i + 1 < n {
                        out.push(',');
                    }
                }
                space(rng, out);
                out.push(']');
            }
            _ => {
                out.push('{');
                let n = rng.next_u64() % 4;
                for i in 0..n {
                    space(rng, out);
                    let key = format!("{}{i}", strings[(rng.next_u64() % 8) as usize]);
                    out.push_str(&serde_json::to_string(&key).unwrap());
                    space(rng, out);
                    out.push(':');
                    space(rng, out);
                    random_doc(rng, depth.saturating_sub(1), out);
                    space(rng, out);
                    if i + 1 < n {
                        out.push(',');
                    }
                }
                space(rng, out);
                out.push('}');
            }
        }
    }

    #[test]
    fn every_value_of_randomly_spaced_documents_is_where_the_parser_puts_it() {
        let mut rng = crate::gguf::fixture::SplitMix64::new(19);
        let mut checked = 0;
        for _ in 0..400 {
            let mut text = String::new();
            random_doc(&mut rng, 4, &mut text);
            for (ptr, at) in parser_offsets(&text) {
                assert_eq!(offset(text.as_bytes(), &ptr), Some(at), "{ptr} in {text}");
                checked += 1;
            }
        }
        assert!(checked > 2000, "{checked}");
        // The compact form the issue found: values after a nested object.
        let compact =
            br#"{"achievements":[{"a":{"b":[1,{"c":"x,}"}]},"id":"q"},{"id":"r"}],"k":{"z":2}}"#;
        assert_eq!(locate(compact, "/achievements/0/id"), Some((1, 50)));
        assert_eq!(locate(compact, "/achievements/1/id"), Some((1, 61)));
        assert_eq!(locate(compact, "/k/z"), Some((1, 76)));
        assert_eq!(
            array_items(compact, "/achievements").map(|v| v.len()),
            Some(2)
        );
    }

    #[test]
    fn tokens_escape_round_trip() {
        let tok = "a/b~c";
        assert_eq!(
            parse_pointer(&format!("/{}", escape_token(tok))),
            Some(vec![tok.to_string()])
        );
    }
}
