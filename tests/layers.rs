//! The library's modules stack in layers (issue 9, point 6): the vocabulary at the bottom;
//! media, SIP and the voice bridge below the engine; the engine below the front-ends; the two
//! front-ends independent of each other, and nothing but the binary (`main.rs`) importing them.
//!
//! The test reads every `.rs` file under `src/` and finds the top-level modules each one
//! names: `crate::x` paths (also inside `use crate::{...}` groups and as `$crate::x`) and
//! `super::` chains that climb to the crate root. Comments, doc comments, strings and character
//! literals are skipped; `super::` that stays inside the module does not count.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Bottom to top. A module may name only modules of lower layers: siblings in one layer stay
/// independent of each other (so `headless` and `ui` never import each other).
///
/// `cli` sits above `bridge` because a flag's default comes from the module that owns it
/// (`--model` shows `bridge::DEFAULT_MODEL`), and below `config`, which is built from it.
/// `profile` (the config file) sits beside `config`: it turns a file into more flags for
/// `cli`, and `main` hands the result to `config`.
/// `sip` sits below `config`: configuration is resolved once and passed down as plain
/// structs, and `config` validates SIP URIs with `sip::uri`. A scenario file (`scenario`) is
/// pure data and judgement over the vocabulary; `report` writes what `scenario` judged; the
/// `suite` front-end drives calls from them beside the others.
const LAYERS: &[&[&str]] = &[
    &["vocab"],
    &["media", "sip", "scenario"],
    &["bridge", "report"],
    &["cli"],
    &["config", "profile"],
    &["engine"],
    &["frontend", "suite"],
    &["headless", "ui"],
];

/// Modules that must not even be mentioned below the front-ends: the issue's own check,
/// `grep -rn 'crate::headless' src/engine src/bridge src/ui src/sip src/media`.
const NO_HEADLESS_IN: &[&str] = &["engine", "bridge", "ui", "sip", "media"];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn every_module_is_in_a_layer() {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).expect("read src/lib.rs");
    let declared: BTreeSet<String> = tokens(&lib)
        .windows(2)
        .filter_map(|w| match (&w[0].tok, &w[1].tok) {
            (Tok::Ident(m), Tok::Ident(name)) if m == "mod" => Some(name.clone()),
            _ => None,
        })
        .collect();
    let layered: BTreeSet<String> = LAYERS
        .iter()
        .flat_map(|l| l.iter())
        .map(|m| m.to_string())
        .collect();
    assert_eq!(
        declared, layered,
        "src/lib.rs declares these modules; LAYERS must place each of them"
    );
}

#[test]
fn modules_reference_only_lower_layers() {
    let refs = references_under(&src_dir());
    let mut violations = Vec::new();
    for r in &refs {
        let (Some(from), Some(to)) = (layer_of(&r.from), layer_of(&r.to)) else {
            continue;
        };
        if from <= to {
            let line = format!(
                "{}: crate::{} (layer {from} imports layer {to}) at line {}",
                r.file, r.to, r.line
            );
            violations.push(line);
        }
    }
    violations.dedup();
    assert!(
        violations.is_empty(),
        "{} references break the layers:\n{}\n\nlayers, bottom to top:\n{}\n\nthe graph today:\n{}",
        violations.len(),
        violations.join("\n"),
        describe_layers(),
        describe_graph(&refs)
    );
}

#[test]
fn nothing_below_the_front_ends_mentions_headless() {
    let mut found = Vec::new();
    for module in NO_HEADLESS_IN {
        for file in rust_files(&src_dir().join(module)) {
            let text = std::fs::read_to_string(&file).expect("read a source file");
            for (i, line) in text.lines().enumerate() {
                if line.contains("crate::headless") {
                    found.push(format!("{}:{}: {}", relative(&file), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "crate::headless named below the front-ends:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scanner_finds_crate_paths_and_skips_comments_strings_and_inner_super() {
    let source = r####"
        //! Mentions crate::ui in a doc comment.
        use crate::vocab::Event;
        use crate::{
            media::{self, rtp},
            sip::uri::SipUri, // crate::headless in a comment
        };
        /* crate::ui /* nested */ crate::ui */
        fn f<'a>(s: &'a str) -> char {
            let _ = "crate::ui";
            let _ = r#"crate::ui "quoted" "#;
            let _ = b"crate::ui \
                      crate::ui";
            let _ = '"';
            let _ = '\'';
            let _ = crate::bridge::DEFAULT_MODEL;
            macro_rules! m { () => { $crate::engine::X } }
            'x'
        }
        pub(crate) struct S;
        mod tests {
            use super::*;
            use super::super::cli::Cli;
        }
    "####;
    let found = scan(source, &["config".to_string()]);
    assert_eq!(
        found,
        vec![
            ("vocab".to_string(), 3),
            ("media".to_string(), 5),
            ("sip".to_string(), 6),
            ("bridge".to_string(), 16),
            ("engine".to_string(), 17),
            ("cli".to_string(), 23),
        ]
    );
    // From a file two levels down, one `super` stays inside; two climb to the root.
    let nested = "use super::conn; use super::super::x; use super::super::super::vocab::Y;";
    let from_deep = scan(
        nested,
        &[
            "media".to_string(),
            "session".to_string(),
            "task".to_string(),
        ],
    );
    assert_eq!(from_deep, vec![("vocab".to_string(), 1)]);
    let from_child = scan(nested, &["media".to_string(), "session".to_string()]);
    assert_eq!(from_child, vec![("x".to_string(), 1)]);
}

/// One reference from a file to a top-level module other than its own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Reference {
    /// Relative to the package, e.g. `src/sip/ua.rs`.
    file: String,
    line: usize,
    from: String,
    to: String,
}

/// Every cross-module reference in the library's files (not `main.rs`, the binary, nor
/// `lib.rs`, which only declares the modules).
fn references_under(src: &Path) -> Vec<Reference> {
    let mut refs = Vec::new();
    for file in rust_files(src) {
        let rel = file.strip_prefix(src).expect("under src");
        let Some(module_path) = module_path(rel) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read a source file");
        for (to, line) in scan(&text, &module_path) {
            if to != module_path[0] {
                refs.push(Reference {
                    file: relative(&file),
                    line,
                    from: module_path[0].clone(),
                    to,
                });
            }
        }
    }
    refs.sort();
    refs
}

/// `sip/ua.rs` → `[sip, ua]`, `media/session/mod.rs` → `[media, session]`; `None` for the
/// crate roots.
fn module_path(rel: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if parts.is_empty() && (stem == "lib" || stem == "main") {
        return None;
    }
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    Some(parts)
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn relative(file: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    file.strip_prefix(root)
        .unwrap_or(file)
        .to_string_lossy()
        .into_owned()
}

fn describe_layers() -> String {
    let mut out = String::new();
    for (i, layer) in LAYERS.iter().enumerate() {
        let _ = writeln!(out, "  layer {i}: {}", layer.join(", "));
    }
    out
}

/// `from -> to (files)` for every pair of modules, e.g.
/// `sip -> config (src/sip/registration.rs:5, src/sip/ua.rs:8)`.
fn describe_graph(refs: &[Reference]) -> String {
    let mut edges: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for r in refs {
        edges
            .entry((r.from.as_str(), r.to.as_str()))
            .or_default()
            .push(format!("{}:{}", r.file, r.line));
    }
    let mut out = String::new();
    for ((from, to), places) in edges {
        let _ = writeln!(out, "  {from} -> {to} ({})", places.join(", "));
    }
    out
}

// ---- A small Rust scanner: just enough tokens to follow paths. ----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Open,
    Close,
    Other(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

/// The tokens of `source` that matter for paths, without comments, strings and character
/// literals (a lifetime's name comes out as an identifier, which names no module).
fn tokens(source: &str) -> Vec<Token> {
    let c: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(c[i] == '\n');
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = skip_string(&c, i + 1, &mut line);
        } else if ch == '\'' {
            if at(i + 1) == '\\' {
                // An escaped character literal: '\'' '\n' '\u{1F600}'.
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                // A lifetime or label: its name follows as an identifier.
                i += 1;
            }
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let prefix = matches!(word.as_str(), "b" | "c" | "r" | "br" | "cr");
            if prefix && at(i) == '"' {
                if word.contains('r') {
                    i = skip_raw_string(&c, i, &mut line);
                } else {
                    i = skip_string(&c, i + 1, &mut line);
                }
            } else if prefix && word.contains('r') && at(i) == '#' {
                let mut j = i;
                while at(j) == '#' {
                    j += 1;
                }
                if at(j) == '"' {
                    i = skip_raw_string(&c, i, &mut line);
                } else {
                    // A raw identifier, r#type: the identifier follows.
                    i += 1;
                }
            } else if word == "b" && at(i) == '\'' {
                i += 1;
                if at(i) == '\\' {
                    i += 2;
                }
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else {
                out.push(Token {
                    tok: Tok::Ident(word),
                    line,
                });
            }
        } else if ch == ':' && at(i + 1) == ':' {
            out.push(Token {
                tok: Tok::PathSep,
                line,
            });
            i += 2;
        } else {
            let tok = match ch {
                '{' => Tok::Open,
                '}' => Tok::Close,
                other => Tok::Other(other),
            };
            out.push(Token { tok, line });
            i += 1;
        }
    }
    out
}

/// Skips a string's body from just after its opening quote; returns the index after it.
fn skip_string(c: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' => {
                // A line continuation escapes the newline itself.
                *line += usize::from(c.get(i + 1) == Some(&'\n'));
                i += 2;
            }
            '"' => return i + 1,
            '\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// Skips `#*"…"#*` from its first `#` or quote; returns the index after it.
fn skip_raw_string(c: &[char], mut i: usize, line: &mut usize) -> usize {
    let mut hashes = 0;
    while c.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    i += 1; // the opening quote
    while i < c.len() {
        if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        *line += usize::from(c[i] == '\n');
        i += 1;
    }
    i
}

/// The top-level modules `source` names (with their lines), for a file whose module path is
/// `path` (`[sip, ua]` for src/sip/ua.rs). Paths that stay inside the file's own top-level
/// module through `super::` are left out; `crate::` paths to the own module are kept (the
/// caller drops them).
fn scan(source: &str, path: &[String]) -> Vec<(String, usize)> {
    let toks = tokens(source);
    let mut found = Vec::new();
    // Inline modules (`mod tests { ... }`) deepen the path; each with the brace depth inside it.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let ident = |i: usize| match toks.get(i).map(|t| &t.tok) {
        Some(Tok::Ident(s)) => Some(s.as_str()),
        _ => None,
    };
    let is = |i: usize, tok: &Tok| toks.get(i).map(|t| &t.tok) == Some(tok);
    for i in 0..toks.len() {
        match &toks[i].tok {
            Tok::Open => {
                depth += 1;
                if i >= 2 && ident(i - 2) == Some("mod") {
                    if let Some(name) = ident(i - 1) {
                        inline.push((name.to_string(), depth));
                    }
                }
                continue;
            }
            Tok::Close => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                continue;
            }
            _ => {}
        }
        // Only where a path starts: not after `::` (`a::crate` is no path start).
        if i > 0 && is(i - 1, &Tok::PathSep) {
            continue;
        }
        let rooted_at = match ident(i) {
            Some("crate") if is(i + 1, &Tok::PathSep) => Some(i + 2),
            Some("super") => {
                let mut supers = 0;
                let mut j = i;
                while ident(j) == Some("super") && is(j + 1, &Tok::PathSep) {
                    supers += 1;
                    j += 2;
                }
                let here = path.len() + inline.len();
                (supers > 0 && supers == here).then_some(j)
            }
            _ => None,
        };
        let Some(start) = rooted_at else {
            continue;
        };
        let line = toks[i].line;
        if let Some(name) = ident(start) {
            found.push((name.to_string(), line));
        } else if is(start, &Tok::Open) {
            found.extend(group_heads(&toks, start));
        }
    }
    found
}

/// The first identifier of each item in the `{...}` group opening at `open`.
fn group_heads(toks: &[Token], open: usize) -> Vec<(String, usize)> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    for t in &toks[open..] {
        match &t.tok {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Tok::Other(',') if depth == 1 => expect_head = true,
            Tok::Ident(name) if depth == 1 && expect_head => {
                heads.push((name.clone(), t.line));
                expect_head = false;
            }
            _ => {}
        }
    }
    heads
}
