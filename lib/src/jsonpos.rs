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
    /// Skips one value without recursion: brackets are counted, strings skipped.
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
                _ => {
                    let start = self.pos;
                    while !matches!(
                        self.peek(),
                        None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                    ) {
                        self.pos += 1;
                    }
                    if self.pos == start {
                        self.pos += 1; // a lone ':' or other separator
                    }
                }
            }
            if depth == 0 {
                return Some(());
            }
            self.ws();
            if self.peek() == Some(b',') {
                self.pos += 1;
                self.ws();
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

    #[test]
    fn tokens_escape_round_trip() {
        let tok = "a/b~c";
        assert_eq!(
            parse_pointer(&format!("/{}", escape_token(tok))),
            Some(vec![tok.to_string()])
        );
    }
}
