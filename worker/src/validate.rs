//! Small validation rules shared by every form: one piece of code per rule.

use crate::FieldError;

/// A trimmed, required name of at most `max` characters.
pub fn name(field: &str, raw: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let v = raw.trim();
    if v.is_empty() {
        errors.push(FieldError::new(field, "REQUIRED", "must not be empty"));
    } else if v.chars().count() > max {
        errors.push(FieldError::new(field, "TOO_LONG", format!("must be at most {max} characters")));
    } else if v.chars().any(char::is_control) {
        errors.push(FieldError::new(field, "INVALID_CHARACTERS", "must not contain control characters"));
    }
    v.to_owned()
}

/// The key names are unique by: case-insensitive.
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// An integer within `min..=max`.
pub fn range(field: &str, v: i32, min: i32, max: i32, errors: &mut Vec<FieldError>) {
    if v < min || v > max {
        errors.push(FieldError::new(field, "OUT_OF_RANGE", format!("must be between {min} and {max}")));
    }
}

/// An absolute http or https URL with a host.
pub fn http_url(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> String {
    let v = raw.trim();
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => errors.push(FieldError::new(field, "INVALID_URL", "must be an absolute http or https URL")),
    }
    v.to_owned()
}

/// Parses an id; an unparsable id is reported exactly like an id that does not exist.
pub fn id(field: &str, raw: &str, what: &str, errors: &mut Vec<FieldError>) -> Option<uuid::Uuid> {
    match uuid::Uuid::parse_str(raw.trim()) {
        Ok(u) => Some(u),
        Err(_) => {
            errors.push(not_found(field, what));
            None
        }
    }
}

pub fn not_found(field: &str, what: &str) -> FieldError {
    FieldError::new(field, "NOT_FOUND", format!("no such {what} in this account"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let mut e = Vec::new();
        assert_eq!(name("name", "  Sales ", 100, &mut e), "Sales");
        assert!(e.is_empty());
        for (raw, code) in [("", "REQUIRED"), ("   ", "REQUIRED"), ("abcd", "TOO_LONG"), ("a\nb", "INVALID_CHARACTERS")]
        {
            let mut e = Vec::new();
            name("name", raw, 3, &mut e);
            assert_eq!(e.iter().map(|e| e.code).collect::<Vec<_>>(), [code], "{raw:?}");
        }
        assert_eq!(name_key(" SaLes "), "sales");
    }

    #[test]
    fn urls_and_ranges() {
        let mut e = Vec::new();
        http_url("apiUrl", "https://nova.example/api", &mut e);
        range("u", 5, 0, 10, &mut e);
        assert!(e.is_empty());
        for bad in ["ftp://x", "nova.example", "https://", "/relative"] {
            let mut e = Vec::new();
            http_url("apiUrl", bad, &mut e);
            assert_eq!(e.len(), 1, "{bad}");
        }
        range("u", 11, 0, 10, &mut e);
        assert_eq!(e[0].code, "OUT_OF_RANGE");
    }
}
