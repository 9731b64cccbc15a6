//! The console: the browser app under `/console`, its files embedded in the binary at build time (no Node needed
//! to run the product). It is plain ES modules (`api/console/`) that talk to the public GraphQL API and its live
//! subscriptions only.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Every file of `api/console/`, by its path under `/console/`. A test checks that none is missing.
const FILES: &[(&str, &[u8])] = &[
    ("index.html", include_bytes!("../console/index.html")),
    ("style.css", include_bytes!("../console/style.css")),
    ("app.js", include_bytes!("../console/app.js")),
    ("gql.js", include_bytes!("../console/gql.js")),
    ("ui.js", include_bytes!("../console/ui.js")),
    ("channels.js", include_bytes!("../console/channels.js")),
    ("people.js", include_bytes!("../console/people.js")),
    ("desktop.js", include_bytes!("../console/desktop.js")),
    ("supervisor.js", include_bytes!("../console/supervisor.js")),
    ("vendor/preact.mjs", include_bytes!("../console/vendor/preact.mjs")),
    ("vendor/hooks.mjs", include_bytes!("../console/vendor/hooks.mjs")),
    ("vendor/htm.mjs", include_bytes!("../console/vendor/htm.mjs")),
    ("vendor/LICENSES.md", include_bytes!("../console/vendor/LICENSES.md")),
];

/// Scripts and styles from this origin only (the import map is the one inline script, pinned by its hash);
/// connections to this origin, WebSockets included; no frames.
const CSP: &str = "default-src 'self'; script-src 'self' 'sha256-IMPORTMAP'; connect-src 'self' ws: wss:; \
                   img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn router() -> Router {
    Router::new()
        .route("/console", get(|| async { file("index.html") }))
        .route("/console/", get(|| async { file("index.html") }))
        .route("/console/{*path}", get(|Path(path): Path<String>| async move { file(&path) }))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file(path: &str) -> Response {
    let Some((_, body)) = FILES.iter().find(|(p, _)| *p == path) else {
        return (StatusCode::NOT_FOUND, "no such file in the console").into_response();
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    // Files change with the binary: the browser asks again each time (cheap: they are small and in memory).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(csp) = HeaderValue::from_str(&csp()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// The policy with the import map's hash filled in, computed once.
fn csp() -> String {
    static POLICY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    POLICY.get_or_init(|| CSP.replace("sha256-IMPORTMAP", &format!("sha256-{}", import_map_hash()))).clone()
}

/// Base64 of the SHA-256 of the inline import map's text, as CSP hashes are computed.
fn import_map_hash() -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let index =
        FILES.iter().find(|(p, _)| *p == "index.html").map(|(_, b)| String::from_utf8_lossy(b)).unwrap_or_default();
    let text = index
        .split_once("<script type=\"importmap\">")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map(|(map, _)| map.to_owned())
        .unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_console_directory_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    on_disk.push(path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "api/console/ and console::FILES must list the same files");
    }

    #[test]
    fn the_policy_pins_the_import_map() {
        let policy = csp();
        assert!(policy.contains("script-src 'self' 'sha256-"), "{policy}");
        assert!(!policy.contains("IMPORTMAP"));
        assert_eq!(import_map_hash().len(), 44, "a SHA-256 in base64");
    }
}
