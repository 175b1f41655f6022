//! The layering rule (DESIGN.md, issue 12): imports among the files of a crate
//! flow one way. This test reads the sources, builds the graph "file A names a
//! path into file B" from every `crate::`, `super::` and `self::` path and every
//! path that starts with a child module's name, and fails on any cycle, naming
//! the files and the lines that close it.
//!
//! Test code (`#[cfg(test)] mod … { … }`) is left out: a test may reach across
//! layers to build its fixtures. Paths between a module and its own ancestors
//! or descendants are not edges: a `mod.rs` that declares and re-exports its
//! children is their table of contents, and `crate::plan::Dag` names `dag.rs`
//! through it; the rule is about modules in different branches.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path (`["plan", "run"]`) and the file that holds it.
type Modules = BTreeMap<Vec<String>, PathBuf>;

fn module_path(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts
}

fn collect(root: &Path, dir: &Path, out: &mut Modules) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "bin") {
                continue; // separate crates
            }
            collect(root, &p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.insert(module_path(root, &p), p);
        }
    }
}

/// The source with comments, string and char literals blanked (newlines
/// kept, so byte offsets still give line numbers).
fn code_only(src: &str) -> Vec<u8> {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let (mut depth, mut j) = (1, i + 2);
                while j < b.len() && depth > 0 {
                    if b[j..].starts_with(b"/*") {
                        depth += 1;
                        j += 2;
                    } else if b[j..].starts_with(b"*/") {
                        depth -= 1;
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                blank(&mut out, i, j);
                i = j;
            }
            b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                && (i == 0 || !is_ident(b[i - 1])) =>
            {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                let start = i + 2 + hashes;
                let end = b[start..]
                    .windows(close.len())
                    .position(|w| w == close.as_slice())
                    .map_or(b.len(), |n| start + n + close.len());
                blank(&mut out, i, end);
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                blank(&mut out, i, j + 1);
                i = j + 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
                if b.get(i + 1) == Some(&b'\\') {
                    let end = b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map_or(b.len(), |n| i + 3 + n);
                    blank(&mut out, i, end);
                    i = end;
                } else if let Some(n) = src[i + 1..].chars().next() {
                    let after = i + 1 + n.len_utf8();
                    if b.get(after) == Some(&b'\'') {
                        blank(&mut out, i, after + 1);
                        i = after + 1;
                    } else {
                        i += 1;
                    }
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Blanks every `#[cfg(test)]` item that is a `mod … { … }` block.
fn drop_test_modules(code: &mut [u8]) {
    let pat = b"#[cfg(test)]";
    let mut i = 0;
    while let Some(n) = code[i..].windows(pat.len()).position(|w| w == pat) {
        let at = i + n;
        let mut j = at + pat.len();
        while j < code.len() && code[j].is_ascii_whitespace() {
            j += 1;
        }
        let rest = &code[j..];
        let is_mod = rest.starts_with(b"mod ") || rest.starts_with(b"pub mod ");
        let brace = rest.iter().position(|&c| c == b'{' || c == b';');
        if let (true, Some(k)) = (is_mod, brace) {
            if rest[k] == b'{' {
                let (mut depth, mut e) = (0usize, j + k);
                loop {
                    match code[e] {
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    e += 1;
                }
                for c in &mut code[at..=e] {
                    if *c != b'\n' {
                        *c = b' ';
                    }
                }
                i = e;
                continue;
            }
        }
        i = at + pat.len();
    }
}

struct Lexer<'a> {
    c: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.c.len() && self.c[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, s: &[u8]) -> bool {
        self.skip_ws();
        if self.c[self.i..].starts_with(s) {
            self.i += s.len();
            true
        } else {
            false
        }
    }
    fn ident(&mut self) -> Option<String> {
        self.skip_ws();
        let start = self.i;
        while self.i < self.c.len() && is_ident(self.c[self.i]) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.c[start..self.i]).into_owned())
    }
    /// Reads a path tree after a leading `prefix::` and calls `leaf` with
    /// every full path it names (`a::{b, c::d}` gives `a::b` and `a::c::d`).
    fn tree(&mut self, prefix: Vec<String>, leaf: &mut dyn FnMut(Vec<String>)) {
        if self.eat(b"{") {
            loop {
                if self.eat(b"}") {
                    break;
                }
                self.tree(prefix.clone(), leaf);
                if !self.eat(b",") {
                    self.eat(b"}");
                    break;
                }
            }
            return;
        }
        if self.eat(b"*") {
            leaf(prefix);
            return;
        }
        let Some(id) = self.ident() else {
            leaf(prefix);
            return;
        };
        let mut path = prefix;
        path.push(id);
        if self.eat(b"::") {
            self.tree(path, leaf);
        } else {
            leaf(path);
        }
    }
}

/// Every edge `from file -> to file` with the line of the first path that makes it.
fn edges(mods: &Modules) -> BTreeMap<(PathBuf, PathBuf), (PathBuf, usize)> {
    let mut out = BTreeMap::new();
    for (me, file) in mods {
        let src = std::fs::read_to_string(file).unwrap();
        let mut code = code_only(&src);
        drop_test_modules(&mut code);
        let mut i = 0;
        while i < code.len() {
            if !is_ident(code[i]) || (i > 0 && (is_ident(code[i - 1]) || code[i - 1] == b':')) {
                i += 1;
                continue;
            }
            let mut lx = Lexer { c: &code, i };
            let first = lx.ident().unwrap();
            let after_ident = lx.i;
            let base: Option<Vec<String>> = match first.as_str() {
                "crate" => Some(Vec::new()),
                "self" => Some(me.clone()),
                "super" => {
                    let mut b = me.clone();
                    b.pop();
                    // super::super::…
                    let mut save = lx.i;
                    while lx.eat(b"::") && lx.ident().as_deref() == Some("super") {
                        b.pop();
                        save = lx.i;
                    }
                    lx.i = save;
                    Some(b)
                }
                _ => None,
            };
            let (Some(base), true) = (base, lx.eat(b"::")) else {
                i = after_ident;
                continue;
            };
            let line = 1 + code[..i].iter().filter(|&&c| c == b'\n').count();
            let mut targets = Vec::new();
            lx.tree(base, &mut |p| targets.push(p));
            for mut p in targets {
                while !p.is_empty() && !mods.contains_key(&p) {
                    p.pop();
                }
                let to = &mods[&p];
                if !me.starts_with(&p) && !p.starts_with(me) {
                    out.entry((file.clone(), to.clone()))
                        .or_insert((file.clone(), line));
                }
            }
            i = lx.i.max(after_ident);
        }
    }
    out
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(nodes: &[PathBuf], adj: &BTreeMap<PathBuf, Vec<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct T<'a> {
        adj: &'a BTreeMap<PathBuf, Vec<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on: BTreeSet<&'a PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a PathBuf) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.adj.get(v).into_iter().flatten() {
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        adj,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in nodes {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// The cycles among the files of the crate rooted at `src`, each as a report.
fn import_cycles(src: &Path) -> Vec<String> {
    let mut mods = Modules::new();
    collect(src, src, &mut mods);
    let e = edges(&mods);
    let nodes: Vec<PathBuf> = mods.values().cloned().collect();
    let mut adj: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for (from, to) in e.keys() {
        adj.entry(from.clone()).or_default().push(to.clone());
    }
    let rel = |p: &Path| p.strip_prefix(src).unwrap().display().to_string();
    cycles(&nodes, &adj)
        .into_iter()
        .map(|comp| {
            let inside: BTreeSet<&PathBuf> = comp.iter().collect();
            let why: Vec<String> = e
                .iter()
                .filter(|((f, t), _)| inside.contains(f) && inside.contains(t))
                .map(|((f, t), (_, line))| format!("{}:{line} -> {}", rel(f), rel(t)))
                .collect();
            format!(
                "{} files in one import cycle: {}\n  {}",
                comp.len(),
                comp.iter().map(|p| rel(p)).collect::<Vec<_>>().join(", "),
                why.join("\n  ")
            )
        })
        .collect()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn the_domain_crate_has_no_import_cycle() {
    let found = import_cycles(&workspace().join("lib/src"));
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_cli_layer_has_no_import_cycle() {
    let found = import_cycles(&workspace().join("src"));
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The checker itself: a made-up crate with a circle (a -> b -> a, through
/// a brace group and a `super::` path) is found; the same crate without the
/// back edge, or with the back edge only in test code, is clean.
#[test]
fn the_checker_finds_a_circle_and_only_a_circle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(
        src.join("a/mod.rs"),
        "pub mod inner;\npub struct A;\nuse crate::{a::inner::I, b::B};\n",
    )
    .unwrap();
    std::fs::write(src.join("a/inner.rs"), "pub struct I;\n").unwrap();
    let back = "// crate::a is named in a comment only\npub struct B;\nfn f() { let _ = \"crate::a\"; super::a::A; }\n";
    std::fs::write(src.join("b.rs"), back).unwrap();
    let found = import_cycles(src);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("2 files in one import cycle: a/mod.rs, b.rs"),
        "{found:?}"
    );
    assert!(found[0].contains("a/mod.rs:3 -> b.rs"), "{found:?}");
    assert!(found[0].contains("b.rs:3 -> a/mod.rs"), "{found:?}");

    std::fs::write(
        src.join("b.rs"),
        "pub struct B;\n#[cfg(test)]\nmod tests {\n    use crate::a::A;\n}\n",
    )
    .unwrap();
    assert_eq!(import_cycles(src), Vec::<String>::new());
}
