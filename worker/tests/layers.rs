//! The engine's dependency rule (ARCHITECTURE.md): a module imports only from its own layer or lower ones. This
//! test reads every `crate::` and `super::` path in `worker/src` (the `use` lines and paths written inline,
//! outside test modules) and fails on one that reaches a higher layer, and on a module that adds methods to
//! another layer's handle (`impl Acd { .. }` outside the ACD would let it call upward unseen). A new module must
//! be given a layer here.

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

/// Each layer's handle type, and the module that layer's methods on it must come from.
const HANDLES: &[(&str, &str)] = &[
    ("Store", "store"),
    ("Acd", "acd"),
    ("Chatbots", "chatbots"),
    ("Domain", "domain"),
    ("Intake", "intake"),
    ("Engine", "engine"),
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

/// The code of a file that counts: comments dropped, and nothing from a `#[cfg(test)]` test module on.
fn counted_code(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = (0..lines.len())
        .find(|&i| {
            lines[i].trim() == "#[cfg(test)]"
                && lines[i + 1..]
                    .iter()
                    .find(|l| !l.trim().is_empty())
                    .is_some_and(|l| l.trim_start().starts_with("mod "))
        })
        .unwrap_or(lines.len());
    lines[..end].iter().filter(|l| !l.trim_start().starts_with("//")).copied().collect::<Vec<_>>().join("\n")
}

/// A file's module path below the crate root (`acd/offers.rs`: `acd::offers`; `acd/mod.rs`: `acd`).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("a file below src");
    let mut parts: Vec<String> =
        rel.components().map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// `super::` paths written as the `crate::` paths they name, so that they are checked like any other.
fn resolve_super(code: &str, module: &[String]) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(i) = rest.find("super::") {
        out.push_str(&rest[..i]);
        let mut up = 0;
        while rest[i + up * "super::".len()..].starts_with("super::") {
            up += 1;
        }
        rest = &rest[i + up * "super::".len()..];
        let parent = &module[..module.len().saturating_sub(up)];
        out.push_str("crate::");
        for p in parent {
            out.push_str(p);
            out.push_str("::");
        }
    }
    out.push_str(rest);
    out
}

/// The handle types a piece of code adds methods to (`impl Acd {`, `impl crate::store::Store {`).
fn impl_targets(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| l.trim().strip_prefix("impl ")?.strip_suffix('{').map(str::trim))
        .filter(|t| !t.contains(" for ") && !t.starts_with('<'))
        .map(|t| t.rsplit("::").next().unwrap_or(t).to_owned())
        .collect()
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
        let code = resolve_super(&counted_code(&text), &module_path(&src, file));
        let rel = file.strip_prefix(&src).expect("below src").display().to_string();
        for handle in impl_targets(&code) {
            if let Some((_, home)) = HANDLES.iter().find(|(h, _)| *h == handle)
                && layer_of(home) != Some(own)
            {
                upward.entry(rel.clone()).or_default().push(format!("methods on {handle} ({})", home));
            }
        }
        for name in named_modules(&code) {
            let target = ROOT_ITEMS.iter().find(|(n, _)| *n == name).map_or(name.as_str(), |(_, m)| m);
            let Some(theirs) = layer_of(target) else {
                panic!("{} names crate::{name}, which has no layer", file.display());
            };
            if theirs > own {
                upward.entry(rel.clone()).or_default().push(format!("crate::{name} ({})", LAYERS[theirs].0));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "modules import from a higher layer or add methods to another layer's handle (call down and act on the \
         answer instead):\n{}",
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

#[test]
fn super_paths_and_impls_are_read_too() {
    let module = vec!["acd".to_owned(), "offers".to_owned()];
    let code = resolve_super("use super::{lock_account, requeue};\nuse super::super::runtime::x;", &module);
    assert_eq!(named_modules(&code), ["acd", "runtime"]);
    assert_eq!(named_modules(&resolve_super("use super::Engine;", &["intake".to_owned()])), ["Engine"]);
    assert_eq!(
        impl_targets("impl Acd {\nimpl std::ops::Deref for Acd {\nimpl crate::store::Store {"),
        ["Acd", "Store"]
    );
    let with_tests = "use crate::db;\n#[cfg(test)]\nmod tests {\n    use crate::runtime;\n}";
    assert_eq!(named_modules(&counted_code(with_tests)), ["db"]);
    let attribute_only = "#[cfg(test)]\nfn helper() {}\nuse crate::runtime;";
    assert_eq!(named_modules(&counted_code(attribute_only)), ["runtime"]);
}
