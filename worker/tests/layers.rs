//! The engine's dependency rule (ARCHITECTURE.md): a module imports only from its own layer or lower ones. This
//! test reads every `crate::` path in `worker/src` (the `use` lines and paths written inline, outside test
//! modules) and fails on one that reaches a higher layer. A new module must be given a layer here.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom to top. A top-level module of `worker/src` belongs to exactly one layer.
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &["error", "actor", "clock", "validate", "phone", "crypto", "net", "db"]),
    ("storage", &["store", "jobs", "live", "provider"]),
    ("acd", &["acd"]),
    ("chatbots", &["chatbots"]),
    ("domain", &["domain", "accounts", "channels", "phone_numbers", "conversations"]),
    ("intake", &["intake"]),
    ("application", &["engine", "config", "runtime", "lib"]),
];

/// Names the crate root re-exports, and the layer they come from.
const ROOT_ITEMS: &[(&str, &str)] =
    &[("Error", "error"), ("FieldError", "error"), ("Result", "error"), ("Engine", "engine")];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `worker/src` belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("a file below src");
    let first = rel.components().next().expect("a path").as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// The top-level modules (or root items) a piece of code names through `crate::`, including inside
/// `use crate::{a::b, c}` groups.
fn named_modules(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // A group: every first segment at depth 0 inside the braces.
            let mut depth = 0;
            let mut start = 0;
            let bytes: Vec<char> = group.chars().collect();
            let mut end = bytes.len();
            for (k, c) in bytes.iter().enumerate() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        end = k;
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.push(first_segment(&bytes[start..k].iter().collect::<String>()));
                        start = k + 1;
                    }
                    _ => {}
                }
            }
            names.push(first_segment(&bytes[start..end].iter().collect::<String>()));
        } else {
            names.push(first_segment(rest));
        }
    }
    names.into_iter().filter(|n| !n.is_empty() && n != "self").collect()
}

fn first_segment(s: &str) -> String {
    s.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// The code of a file that counts: comments dropped, and nothing after its first `#[cfg(test)]`.
fn counted_code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

#[test]
fn no_module_imports_from_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut upward: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some(own) = layer_of(&module) else {
            panic!("worker/src/{module} has no layer: add it to LAYERS in worker/tests/layers.rs");
        };
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for name in named_modules(&counted_code(&text)) {
            let target = ROOT_ITEMS.iter().find(|(n, _)| *n == name).map_or(name.as_str(), |(_, m)| m);
            let Some(theirs) = layer_of(target) else {
                panic!("{} names crate::{name}, which has no layer", file.display());
            };
            if theirs > own {
                let rel = file.strip_prefix(&src).expect("below src").display().to_string();
                upward.entry(rel).or_default().push(format!("crate::{name} ({})", LAYERS[theirs].0));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "modules import from a higher layer (call down and act on the answer instead):\n{}",
        upward.iter().map(|(f, names)| format!("  {f}: {}", names.join(", "))).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_reader_finds_grouped_and_inline_paths() {
    let code = "use crate::{Error, acd::{Acd, lifecycle::hand_off}, live::Uow};\nlet x = crate::runtime::go();";
    assert_eq!(named_modules(code), ["Error", "acd", "live", "runtime"]);
    assert!(named_modules("// use crate::runtime;").contains(&"runtime".to_owned()));
    assert!(named_modules(&counted_code("// use crate::runtime;\nuse crate::db;")).eq(&["db".to_owned()]));
}
