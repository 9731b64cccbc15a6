//! The webhook signature rule of the provider contract, in one place so the product's webhook intake and the
//! provider simulator cannot drift apart: `X-Nova-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{raw body}">`
//! keyed by the receiving number's API key, with `X-Nova-Timestamp: <unix seconds>` at most five minutes off.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header carrying the unix time (seconds) the provider signed the request at.
pub const TIMESTAMP_HEADER: &str = "X-Nova-Timestamp";
/// The header carrying `sha256=<hex digest>`.
pub const SIGNATURE_HEADER: &str = "X-Nova-Signature";
/// The same rule signs the product's posts to a chatbot, keyed by the chatbot's signing secret, under these
/// header names.
pub const BOT_TIMESTAMP_HEADER: &str = "X-Timestamp";
pub const BOT_SIGNATURE_HEADER: &str = "X-Signature";
/// The header naming the message a chatbot post is about, stable across retries (the bot drops a repeat).
pub const BOT_IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// How far (seconds, either way) a timestamp may be from our clock.
pub const TOLERANCE_SECS: u64 = 300;

const PREFIX: &str = "sha256=";

/// Why a webhook's signature was refused. The messages are safe to return to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Nova-Timestamp header")]
    MissingTimestamp,
    #[error("X-Nova-Timestamp must be unix seconds")]
    BadTimestamp,
    #[error("X-Nova-Timestamp is more than 5 minutes off")]
    StaleTimestamp,
    #[error("missing X-Nova-Signature header")]
    MissingSignature,
    #[error("X-Nova-Signature does not match the request")]
    BadSignature,
}

impl SignatureError {
    /// A stable machine-readable code for the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingTimestamp => "MISSING_TIMESTAMP",
            Self::BadTimestamp => "BAD_TIMESTAMP",
            Self::StaleTimestamp => "STALE_TIMESTAMP",
            Self::MissingSignature => "MISSING_SIGNATURE",
            Self::BadSignature => "BAD_SIGNATURE",
        }
    }
}

fn mac(api_key: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(api_key.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Nova-Signature` value for a body sent at `timestamp`: `sha256=<hex>`.
pub fn sign(api_key: &str, timestamp: i64, body: &[u8]) -> String {
    format!("{PREFIX}{}", hex::encode(mac(api_key, timestamp, body).finalize().into_bytes()))
}

/// Checks a webhook's headers against its raw body: both headers present and well formed, the signature matching
/// (compared in constant time), and the timestamp within five minutes of `now_unix` either way.
pub fn verify(
    api_key: &str,
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let timestamp =
        timestamp_header.map(str::trim).filter(|s| !s.is_empty()).ok_or(SignatureError::MissingTimestamp)?;
    let signature =
        signature_header.map(str::trim).filter(|s| !s.is_empty()).ok_or(SignatureError::MissingSignature)?;
    if !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::BadTimestamp);
    }
    let timestamp: i64 = timestamp.parse().map_err(|_| SignatureError::BadTimestamp)?;
    let digest = signature
        .strip_prefix(PREFIX)
        .and_then(|h| hex::decode(h).ok())
        .filter(|d| d.len() == 32)
        .ok_or(SignatureError::BadSignature)?;
    mac(api_key, timestamp, body).verify_slice(&digest).map_err(|_| SignatureError::BadSignature)?;
    if now_unix.abs_diff(timestamp) > TOLERANCE_SECS {
        return Err(SignatureError::StaleTimestamp);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sim-key-123";
    const BODY: &[u8] =
        br#"{"type":"message","id":"m1","to":"+14155550123","from":"+14155550999","timestamp":1700000000,"text":"hi"}"#;
    const NOW: i64 = 1_700_000_000;

    fn check(ts: Option<&str>, sig: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
        verify(KEY, ts, sig, body, NOW)
    }

    #[test]
    fn sign_has_the_contract_shape() {
        let sig = sign(KEY, NOW, BODY);
        let hex = sig.strip_prefix("sha256=").unwrap();
        assert_eq!(hex.len(), 64);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        // Same inputs, same signature; the timestamp is part of what is signed.
        assert_eq!(sig, sign(KEY, NOW, BODY));
        assert_ne!(sig, sign(KEY, NOW + 1, BODY));
    }

    #[test]
    fn known_vectors() {
        // Computed independently: printf '1.{}' | openssl dgst -sha256 -hmac key
        assert_eq!(sign("key", 1, b"{}"), "sha256=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224");
        assert_eq!(
            sign(KEY, NOW, br#"{"a":1}"#),
            "sha256=156bd5217a10ed8e6d58401a503c1f9472d0416fff31717c0b930b37264b15fd"
        );
    }

    #[test]
    fn a_signed_body_verifies() {
        let ts = NOW.to_string();
        let sig = sign(KEY, NOW, BODY);
        assert_eq!(check(Some(&ts), Some(&sig), BODY), Ok(()));
        // Surrounding whitespace in headers is tolerated.
        assert_eq!(check(Some(&format!(" {ts} ")), Some(&format!(" {sig}")), BODY), Ok(()));
        // An empty body is still a body.
        assert_eq!(check(Some(&ts), Some(&sign(KEY, NOW, b"")), b""), Ok(()));
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let ts = NOW.to_string();
        let sig = sign(KEY, NOW, BODY);
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(check(Some(&ts), Some(&sig), &tampered), Err(SignatureError::BadSignature));
        assert_eq!(check(Some(&ts), Some(&sig), &BODY[..BODY.len() - 1]), Err(SignatureError::BadSignature));
    }

    #[test]
    fn another_key_is_refused() {
        let ts = NOW.to_string();
        let sig = sign("another-key", NOW, BODY);
        assert_eq!(check(Some(&ts), Some(&sig), BODY), Err(SignatureError::BadSignature));
    }

    #[test]
    fn a_signature_for_another_timestamp_is_refused() {
        let sig = sign(KEY, NOW, BODY);
        assert_eq!(check(Some(&(NOW + 1).to_string()), Some(&sig), BODY), Err(SignatureError::BadSignature));
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        for (ts, ok) in [
            (NOW - 300, true),
            (NOW + 300, true),
            (NOW - 301, false),
            (NOW + 301, false),
            (NOW - 86_400, false),
            (NOW + 86_400, false),
            (0, false),
        ] {
            let got = check(Some(&ts.to_string()), Some(&sign(KEY, ts, BODY)), BODY);
            let want = if ok { Ok(()) } else { Err(SignatureError::StaleTimestamp) };
            assert_eq!(got, want, "timestamp {ts}");
        }
    }

    #[test]
    fn missing_headers_are_named() {
        let ts = NOW.to_string();
        let sig = sign(KEY, NOW, BODY);
        assert_eq!(check(None, Some(&sig), BODY), Err(SignatureError::MissingTimestamp));
        assert_eq!(check(Some("  "), Some(&sig), BODY), Err(SignatureError::MissingTimestamp));
        assert_eq!(check(Some(&ts), None, BODY), Err(SignatureError::MissingSignature));
        assert_eq!(check(Some(&ts), Some(""), BODY), Err(SignatureError::MissingSignature));
        assert_eq!(check(None, None, BODY), Err(SignatureError::MissingTimestamp));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let ts = NOW.to_string();
        let sig = sign(KEY, NOW, BODY);
        let hex = sig.strip_prefix("sha256=").unwrap();
        for bad_ts in ["abc", "1.7e9", "-1700000000", "+1700000000", "1700000000.5", "99999999999999999999999"] {
            assert_eq!(check(Some(bad_ts), Some(&sig), BODY), Err(SignatureError::BadTimestamp), "{bad_ts}");
        }
        for bad_sig in [
            hex.to_owned(),                     // no scheme
            format!("sha1={hex}"),              // another scheme
            format!("SHA256={hex}"),            // the scheme is lowercase
            format!("sha256={}", &hex[..62]),   // truncated
            format!("sha256={hex}00"),          // too long
            format!("sha256={}zz", &hex[..62]), // not hex
            "sha256=".to_owned(),               // empty digest
        ] {
            assert_eq!(check(Some(&ts), Some(&bad_sig), BODY), Err(SignatureError::BadSignature), "{bad_sig}");
        }
        // Uppercase hex decodes to the same digest.
        assert_eq!(check(Some(&ts), Some(&format!("sha256={}", hex.to_uppercase())), BODY), Ok(()));
    }

    #[test]
    fn errors_have_codes_and_messages() {
        assert_eq!(SignatureError::StaleTimestamp.code(), "STALE_TIMESTAMP");
        assert!(SignatureError::MissingSignature.to_string().contains("X-Nova-Signature"));
    }
}
