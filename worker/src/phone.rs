//! Phone number normalisation to E.164: a `+`, a country code not starting with 0, and 7 to 15 digits in all.
//! Spaces, dashes, dots and parentheses are dropped; a leading international `00` is read as `+`. Numbers
//! without a country code cannot be normalised (the product has no default country) and are refused.

use crate::FieldError;

pub fn normalise_e164(field: &str, raw: &str) -> Result<String, FieldError> {
    let invalid = || {
        FieldError::new(
            field,
            "INVALID_PHONE_NUMBER",
            "must be an international number with its country code, e.g. +14155550123",
        )
    };
    let compact: String = raw.trim().chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = if let Some(d) = compact.strip_prefix('+') {
        d
    } else if let Some(d) = compact.strip_prefix("00") {
        d
    } else {
        return Err(invalid());
    };
    if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return Err(invalid());
    }
    Ok(format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    use super::normalise_e164;

    #[test]
    fn accepts_and_normalises() {
        for (raw, want) in [
            ("+14155550123", "+14155550123"),
            (" +1 (415) 555-0123 ", "+14155550123"),
            ("0049 30 1234567", "+49301234567"),
            ("+44.20.7946.0958", "+442079460958"),
        ] {
            assert_eq!(normalise_e164("p", raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn refuses() {
        for raw in ["", "4155550123", "+", "+0123456789", "+1415abc0123", "+1234567890123456", "+123456", "++1415555"] {
            let e = normalise_e164("phoneNumber", raw).unwrap_err();
            assert_eq!((e.field.as_str(), e.code), ("phoneNumber", "INVALID_PHONE_NUMBER"), "{raw}");
        }
    }
}
