//! Login throttling, with its state in the database so that it holds across every `api` process.
//!
//! Each sign-in attempt is counted, before its password is checked, in fixed 15-minute windows (a window starts
//! with the first attempt after the previous one ended) under three scopes:
//!
//! - `EMAIL_ADDR` (`"{email} {addr}"`): 5 attempts for one email from one client address;
//! - `EMAIL` (the email): 20 attempts for one email from anywhere;
//! - `ADDR` (the address): 50 attempts from one client address, whatever the emails. Addresses in
//!   [`LoginSettings::trusted_networks`] are exempt from this scope only (a contact-center floor behind one NAT).
//!
//! An attempt beyond a limit is refused with [`Error::TooManyAttempts`] and its password is never checked. The
//! scopes are counted from the broadest source to the target (`ADDR`, `EMAIL_ADDR`, `EMAIL`) and counting stops
//! at the first refusal, so a refused attempt adds only to counts of its own source: one stranger adds at most
//! 5 to an email's count, and cannot lock its owner out elsewhere. A request without a client address counts
//! under `EMAIL` only. Every count is one atomic upsert that increments and returns the row, so concurrent
//! guesses cannot slip past a limit. A successful sign-in deletes the email's `EMAIL` and `EMAIL_ADDR` rows and
//! takes itself back out of its address's `ADDR` count (only failures accumulate per address). Unknown emails
//! are counted exactly like known ones.

use crate::actor::ClientInfo;
use crate::domain::Domain;
use crate::{Error, Result};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, Statement};
use std::net::IpAddr;

/// Login throttling settings.
#[derive(Debug, Clone, Default)]
pub struct LoginSettings {
    /// Networks exempt from the per-address limit (a contact-center floor behind one NAT).
    pub trusted_networks: Vec<ipnet::IpNet>,
    /// Proxies whose `X-Forwarded-For` entry names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Attempts for one email from one client address, per window.
pub const EMAIL_ADDR_LIMIT: i32 = 5;
/// Attempts for one email from anywhere, per window.
pub const EMAIL_LIMIT: i32 = 20;
/// Attempts from one client address (outside the trusted networks), per window.
pub const ADDR_LIMIT: i32 = 50;
/// The length of a window, from its first attempt.
pub const WINDOW_SECS: i64 = 15 * 60;
/// Emails are counted by their first this many characters (no account has a longer one; the column has room
/// for it with an address).
const EMAIL_KEY_CHARS: usize = 254;

const SCOPE_EMAIL_ADDR: &str = "EMAIL_ADDR";
const SCOPE_EMAIL: &str = "EMAIL";
const SCOPE_ADDR: &str = "ADDR";

fn window() -> TimeDelta {
    TimeDelta::seconds(WINDOW_SECS)
}

fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    e.parse::<IpAddr>()
        .ok()
        .or_else(|| e.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| e.strip_prefix('[').and_then(|r| r.strip_suffix(']')).and_then(|r| r.parse().ok()))
        .map(canonical)
}

impl LoginSettings {
    /// Whether `ip` is in a trusted network (exempt from the per-address limit).
    pub fn is_trusted_network(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted_networks.iter().any(|n| n.contains(&ip))
    }

    fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy; then the `X-Forwarded-For` entries
    /// (`forwarded_for`: the header values in order, each a comma-separated list) are walked from the right,
    /// skipping trusted proxies and unparsable entries, and the first other entry is the client. When every entry
    /// is a trusted proxy, the leftmost one; when none parses, the peer.
    pub fn client_addr<'a>(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> Option<IpAddr> {
        let peer = peer.map(canonical)?;
        if !self.is_trusted_proxy(peer) {
            return Some(peer);
        }
        let entries: Vec<IpAddr> =
            forwarded_for.into_iter().flat_map(|v| v.split(',')).filter_map(parse_forwarded).collect();
        entries.iter().rev().find(|ip| !self.is_trusted_proxy(**ip)).or(entries.first()).copied().or(Some(peer))
    }
}

/// The email as counted: lower-cased already, cut to a length no account exceeds.
fn email_key(email: &str) -> String {
    email.chars().take(EMAIL_KEY_CHARS).collect()
}

/// Whole seconds from `now` until the window that started at `start` ends (at least 1).
fn retry_after(start: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let ms = (start + window() - now).num_milliseconds();
    u64::try_from((ms + 999) / 1000).unwrap_or(0).clamp(1, WINDOW_SECS.unsigned_abs())
}

impl Domain {
    /// Counts a sign-in attempt for `email` from `client` before its password is checked; refuses it when a
    /// limit is reached.
    pub(crate) async fn count_login_attempt(&self, email: &str, client: &ClientInfo) -> Result<()> {
        let email = email_key(email);
        let mut scopes: Vec<(&'static str, String, i32)> = Vec::with_capacity(3);
        if let Some(addr) = client.addr.map(canonical) {
            if !self.login.is_trusted_network(addr) {
                scopes.push((SCOPE_ADDR, addr.to_string(), ADDR_LIMIT));
            }
            scopes.push((SCOPE_EMAIL_ADDR, format!("{email} {addr}"), EMAIL_ADDR_LIMIT));
        }
        scopes.push((SCOPE_EMAIL, email, EMAIL_LIMIT));
        let now = crate::clock::db_now(&self.db).await?;
        for (i, (scope, subject, limit)) in scopes.iter().enumerate() {
            let (attempts, start) = self.count_attempt(scope, subject, now).await?;
            if attempts > *limit {
                // Refused: the other scopes are not counted, but the wait is the longest any of them imposes.
                let mut wait = retry_after(start, now);
                for (scope, subject, limit) in &scopes[i + 1..] {
                    if let Some(start) = self.exhausted_since(scope, subject, *limit, now).await? {
                        wait = wait.max(retry_after(start, now));
                    }
                }
                return Err(Error::TooManyAttempts { retry_after_secs: wait });
            }
        }
        Ok(())
    }

    /// Adds one attempt to a scope's row (a new window when the last one has ended): its attempts and window
    /// start after this one. One statement, so concurrent attempts each see their own count.
    async fn count_attempt(&self, scope: &str, subject: &str, now: DateTime<Utc>) -> Result<(i32, DateTime<Utc>)> {
        let backend = self.db.get_database_backend();
        let sql = "INSERT INTO login_throttle (scope, subject, window_start, attempts) VALUES ($1, $2, $3, 1) \
                   ON CONFLICT (scope, subject) DO UPDATE SET \
                   attempts = CASE WHEN login_throttle.window_start <= $4 THEN 1 \
                                   ELSE login_throttle.attempts + 1 END, \
                   window_start = CASE WHEN login_throttle.window_start <= $4 THEN excluded.window_start \
                                       ELSE login_throttle.window_start END \
                   RETURNING attempts, window_start";
        let values: Vec<sea_orm::Value> = vec![scope.into(), subject.into(), now.into(), (now - window()).into()];
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?
            .ok_or_else(|| anyhow::anyhow!("counting a sign-in attempt returned no row"))?;
        Ok((row.try_get("", "attempts")?, row.try_get("", "window_start")?))
    }

    /// When a scope's window started, if its limit is used up in a window that has not ended.
    async fn exhausted_since(
        &self,
        scope: &str,
        subject: &str,
        limit: i32,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let backend = self.db.get_database_backend();
        let sql = "SELECT attempts, window_start FROM login_throttle \
                   WHERE scope = $1 AND subject = $2 AND window_start > $3 AND attempts >= $4";
        let values: Vec<sea_orm::Value> = vec![scope.into(), subject.into(), (now - window()).into(), limit.into()];
        let row = self.db.query_one_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
        Ok(row.map(|r| r.try_get("", "window_start")).transpose()?)
    }

    /// A successful sign-in clears the email's counts (`EMAIL`, and `EMAIL_ADDR` from every address) and takes
    /// itself back out of its address's count, so only failures accumulate per address.
    pub(crate) async fn login_succeeded(&self, email: &str, client: &ClientInfo) -> Result<()> {
        let email = email_key(email);
        let backend = self.db.get_database_backend();
        // `!` escapes LIKE's wildcards in the email; the prefix is the email and the space before the address.
        let prefix = email.replace('!', "!!").replace('%', "!%").replace('_', "!_");
        let sql = "DELETE FROM login_throttle WHERE (scope = $1 AND subject = $2) \
                   OR (scope = $3 AND subject LIKE $4 ESCAPE '!')";
        let values: Vec<sea_orm::Value> =
            vec![SCOPE_EMAIL.into(), email.into(), SCOPE_EMAIL_ADDR.into(), format!("{prefix} %").into()];
        self.db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
        if let Some(addr) = client.addr.map(canonical) {
            let sql = "UPDATE login_throttle SET attempts = attempts - 1 \
                       WHERE scope = $1 AND subject = $2 AND attempts > 0";
            let values: Vec<sea_orm::Value> = vec![SCOPE_ADDR.into(), addr.to_string().into()];
            self.db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(proxies: &[&str]) -> LoginSettings {
        LoginSettings {
            trusted_networks: vec![],
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_even_with_a_forged_header() {
        let s = settings(&["10.0.0.0/8"]);
        assert_eq!(s.client_addr(ip("203.0.113.9"), ["1.2.3.4"]), ip("203.0.113.9"));
        assert_eq!(s.client_addr(ip("203.0.113.9"), []), ip("203.0.113.9"));
        assert_eq!(settings(&[]).client_addr(ip("10.0.0.1"), ["1.2.3.4"]), ip("10.0.0.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_entry_is_the_client() {
        let s = settings(&["10.0.0.0/8", "fd00::/8"]);
        // The client forged "1.2.3.4"; the first proxy appended what it saw (198.51.100.7), then 10.0.0.2.
        assert_eq!(s.client_addr(ip("10.0.0.1"), ["1.2.3.4, 198.51.100.7", "10.0.0.2"]), ip("198.51.100.7"));
        assert_eq!(s.client_addr(ip("fd00::1"), ["2001:db8::5"]), ip("2001:db8::5"));
        assert_eq!(s.client_addr(ip("10.0.0.1"), ["198.51.100.7:4711"]), ip("198.51.100.7"));
        assert_eq!(s.client_addr(ip("10.0.0.1"), ["[2001:db8::5]:80"]), ip("2001:db8::5"));
        // An IPv4-mapped peer is the IPv4 address.
        assert_eq!(s.client_addr(ip("::ffff:10.0.0.1"), ["198.51.100.7"]), ip("198.51.100.7"));
    }

    #[test]
    fn when_every_entry_is_a_trusted_proxy_the_leftmost_is_the_client() {
        let s = settings(&["10.0.0.0/8"]);
        assert_eq!(s.client_addr(ip("10.0.0.1"), ["10.1.1.1, 10.2.2.2"]), ip("10.1.1.1"));
    }

    #[test]
    fn garbage_is_ignored_and_without_entries_the_peer_is_the_client() {
        let s = settings(&["10.0.0.0/8"]);
        assert_eq!(s.client_addr(ip("10.0.0.1"), ["not an address, , unknown"]), ip("10.0.0.1"));
        assert_eq!(s.client_addr(ip("10.0.0.1"), []), ip("10.0.0.1"));
        assert_eq!(s.client_addr(ip("10.0.0.1"), ["198.51.100.7, garbage"]), ip("198.51.100.7"));
        assert_eq!(s.client_addr(None, ["198.51.100.7"]), None);
    }

    #[test]
    fn trusted_networks_match_mapped_addresses() {
        let s = LoginSettings { trusted_networks: vec!["192.168.0.0/16".parse().unwrap()], trusted_proxies: vec![] };
        assert!(s.is_trusted_network("192.168.4.2".parse().unwrap()));
        assert!(s.is_trusted_network("::ffff:192.168.4.2".parse().unwrap()));
        assert!(!s.is_trusted_network("192.169.0.1".parse().unwrap()));
    }

    #[test]
    fn the_wait_is_what_is_left_of_the_window() {
        let start = Utc::now();
        assert_eq!(retry_after(start, start), 900);
        assert_eq!(retry_after(start, start + TimeDelta::milliseconds(1500)), 899);
        assert_eq!(retry_after(start, start + TimeDelta::seconds(900)), 1);
    }
}
