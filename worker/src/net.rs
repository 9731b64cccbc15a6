//! Outbound requests to URLs an admin typed (a chatbot's `endpointUrl`, a channel's provider `apiUrl`): they must not
//! become a way to probe the deployment's own network. Unless the [`UrlPolicy`] allows it (`APP_ALLOW_PRIVATE_URLS`,
//! on by default with the embedded SQLite, off with PostgreSQL), addresses in loopback, private, link-local and other
//! non-public ranges are refused twice: when the URL is saved ([`UrlPolicy::check_at_save`]) and at every connection
//! ([`UrlPolicy::check_connect`] for IP-literal hosts and `localhost`, the [`GuardedResolver`] of
//! [`UrlPolicy::client_builder`] for names, so a name re-pointed after it was saved is caught too).

use crate::FieldError;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::{Host, Url};

/// The setting that allows private addresses.
pub const ALLOW_PRIVATE_VAR: &str = "APP_ALLOW_PRIVATE_URLS";
/// How long the save-time check waits for a name to resolve before giving up (and accepting).
pub const SAVE_LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether outbound requests may reach loopback, private and link-local addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlPolicy {
    pub allow_private: bool,
}

impl Default for UrlPolicy {
    fn default() -> Self {
        Self { allow_private: true }
    }
}

/// Why an outbound URL is refused. The message names the host or address, never a path, query or credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    /// The URL's host is an IP address in a refused range.
    #[error("{ip} is a loopback, private or link-local address; set APP_ALLOW_PRIVATE_URLS=true to allow it")]
    PrivateIp { ip: IpAddr },
    /// The URL's host is `localhost` or a `*.localhost` name.
    #[error("{host} is a loopback name; set APP_ALLOW_PRIVATE_URLS=true to allow it")]
    LocalName { host: String },
    /// The host's name resolves to refused addresses only (comma-separated in `addrs`).
    #[error("{host} resolves only to private addresses ({addrs}); set APP_ALLOW_PRIVATE_URLS=true to allow them")]
    PrivateResolution { host: String, addrs: String },
}

/// A failed request in words, down to its root cause, without the URL (which could hold credentials): what
/// went wrong (timed out, cannot connect, cannot read the answer) and its causes. `Err` when the URL policy's
/// resolver refused the address: another attempt would be refused the same way. The one description of
/// transport failures, for provider calls and chatbot posts alike.
pub fn request_failure(e: &reqwest::Error) -> Result<String, &UrlRefused> {
    if let Some(refused) = refusal_in(e) {
        return Err(refused);
    }
    let what = if e.is_timeout() {
        "the request timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "cannot read the answer"
    } else {
        "the request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    causes.dedup();
    Ok(if causes.is_empty() { what.to_owned() } else { format!("{what}: {}", causes.join(": ")) })
}

/// The [`UrlRefused`] somewhere in an error's source chain (e.g. a resolver refusal inside a `reqwest::Error`).
pub fn refusal_in<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a UrlRefused> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<UrlRefused>() {
            return Some(r);
        }
        current = e.source();
    }
    None
}

/// Whether `ip` is an address outbound requests must not reach by default: loopback, unspecified, private,
/// shared (CGNAT), link-local, benchmarking, IETF protocol assignments, multicast, reserved and broadcast in IPv4;
/// loopback, unspecified, unique local, link-local, (deprecated) site-local and multicast in IPv6, where IPv4-mapped,
/// IPv4-compatible and NAT64 (`64:ff9b::/96`) addresses are judged by their IPv4 part.
pub fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // 0.0.0.0/8 "this network"
        || a == 10 // 10/8
        || a == 127 // 127/8 loopback
        || (a == 100 && b & 0xc0 == 64) // 100.64/10 shared address space (CGNAT)
        || (a == 169 && b == 254) // 169.254/16 link-local (cloud metadata)
        || (a == 172 && b & 0xf0 == 16) // 172.16/12
        || (a == 192 && b == 0 && c == 0) // 192.0.0/24 IETF protocol assignments
        || (a == 192 && b == 168) // 192.168/16
        || (a == 198 && b & 0xfe == 18) // 198.18/15 benchmarking
        || a >= 224 // 224/4 multicast, 240/4 reserved, 255.255.255.255 broadcast
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0, 0, 0, 0, 0, 0] {
        // ::, ::1 and the IPv4-compatible ::a.b.c.d (the first two fall in 0.0.0.0/8).
        return is_private_v4(embedded());
    }
    if s[..6] == [0, 0, 0, 0, 0, 0xffff] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // IPv4-mapped ::ffff:a.b.c.d and NAT64 64:ff9b::a.b.c.d.
        return is_private_v4(embedded());
    }
    s[0] & 0xfe00 == 0xfc00 // fc00::/7 unique local
        || s[0] & 0xffc0 == 0xfe80 // fe80::/10 link-local
        || s[0] & 0xffc0 == 0xfec0 // fec0::/10 site-local (deprecated, still routed on some networks)
        || s[0] & 0xff00 == 0xff00 // ff00::/8 multicast
}

/// A `localhost` or `*.localhost` name (RFC 6761), which resolvers may answer without asking DNS.
fn is_local_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

/// A DNS resolver for `reqwest` that resolves with the system resolver and, unless the policy allows private
/// addresses, drops them; a name left with no address fails with [`UrlRefused::PrivateResolution`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver {
    policy: UrlPolicy,
}

impl GuardedResolver {
    pub fn new(policy: UrlPolicy) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.policy.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if allow_private {
                return Ok(Box::new(addrs.into_iter()) as Addrs);
            }
            let (refused, allowed): (Vec<SocketAddr>, Vec<SocketAddr>) =
                addrs.into_iter().partition(|a| is_private_ip(a.ip()));
            if allowed.is_empty() && !refused.is_empty() {
                let mut ips: Vec<String> = Vec::new();
                for a in &refused {
                    let ip = a.ip().to_string();
                    if !ips.contains(&ip) {
                        ips.push(ip);
                    }
                }
                tracing::warn!(%host, addrs = %ips.join(", "), "outbound request to a private address refused");
                return Err(Box::new(UrlRefused::PrivateResolution { host, addrs: ips.join(", ") }) as _);
            }
            if !refused.is_empty() {
                tracing::debug!(%host, dropped = refused.len(), "private addresses dropped from a resolution");
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

impl UrlPolicy {
    /// A client builder for requests to admin-typed URLs: redirects are not followed (a redirect could lead
    /// anywhere) and, unless private addresses are allowed, names resolve through the [`GuardedResolver`]. IP-literal
    /// hosts never reach a resolver: call [`UrlPolicy::check_connect`] before each request too.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if self.allow_private { builder } else { builder.dns_resolver(Arc::new(GuardedResolver::new(*self))) }
    }

    /// The connect-time check of what a resolver cannot see: an IP-literal host in a refused range, and the
    /// `localhost` names.
    pub fn check_connect(&self, url: &Url) -> Result<(), UrlRefused> {
        if self.allow_private {
            return Ok(());
        }
        match url.host() {
            Some(Host::Ipv4(ip)) if is_private_ip(IpAddr::V4(ip)) => Err(UrlRefused::PrivateIp { ip: IpAddr::V4(ip) }),
            Some(Host::Ipv6(ip)) if is_private_ip(IpAddr::V6(ip)) => Err(UrlRefused::PrivateIp { ip: IpAddr::V6(ip) }),
            Some(Host::Domain(d)) if is_local_name(d) => Err(UrlRefused::LocalName { host: d.to_owned() }),
            _ => Ok(()),
        }
    }

    /// The save-time check of a URL field: refuses (code `PRIVATE_ADDRESS`) a host that is, or resolves to, a
    /// refused address. A URL that does not parse is left to the field's other validation; a name that does not
    /// resolve within [`SAVE_LOOKUP_TIMEOUT`] is accepted (the connect-time guard still applies).
    pub async fn check_at_save(&self, field: &str, raw: &str) -> Result<(), FieldError> {
        if self.allow_private {
            return Ok(());
        }
        let Ok(url) = Url::parse(raw.trim()) else {
            return Ok(());
        };
        self.check_connect(&url).map_err(|e| FieldError::new(field, "PRIVATE_ADDRESS", e.to_string()))?;
        let Some(Host::Domain(host)) = url.host() else {
            return Ok(());
        };
        let port = url.port_or_known_default().unwrap_or(0);
        let Ok(Ok(addrs)) = tokio::time::timeout(SAVE_LOOKUP_TIMEOUT, tokio::net::lookup_host((host, port))).await
        else {
            return Ok(());
        };
        for addr in addrs {
            if is_private_ip(addr.ip()) {
                return Err(FieldError::new(
                    field,
                    "PRIVATE_ADDRESS",
                    format!(
                        "{host} resolves to {}, a loopback, private or link-local address; set \
                         APP_ALLOW_PRIVATE_URLS=true to allow it",
                        addr.ip()
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const STRICT: UrlPolicy = UrlPolicy { allow_private: false };
    const OPEN: UrlPolicy = UrlPolicy { allow_private: true };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_ipv4() {
        for s in [
            "127.0.0.1",
            "127.255.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "198.18.0.1",
            "198.19.255.255",
            "255.255.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
        ] {
            assert!(is_private_ip(ip(s)), "{s}");
        }
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "11.0.0.1",
            "126.255.255.255",
            "128.0.0.1",
        ] {
            assert!(!is_private_ip(ip(s)), "{s}");
        }
    }

    #[test]
    fn private_ipv6() {
        for s in [
            "::1",
            "::",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:192.168.0.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::192.168.1.1",
        ] {
            assert!(is_private_ip(ip(s)), "{s}");
        }
        for s in [
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "64:ff9b::8.8.8.8",
            "fb00::1",
            "fe00::1",
            "2002:c000:204::1",
        ] {
            assert!(!is_private_ip(ip(s)), "{s}");
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn connect_check_refuses_private_literals_and_localhost() {
        for s in [
            "http://127.0.0.1:9090/api",
            "https://10.0.0.5/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:8080/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://localhost:8080/",
            "http://LOCALHOST./",
            "http://api.localhost/",
        ] {
            let err = STRICT.check_connect(&url(s)).unwrap_err();
            assert!(err.to_string().contains("APP_ALLOW_PRIVATE_URLS=true"), "{s}: {err}");
            assert!(OPEN.check_connect(&url(s)).is_ok(), "{s}");
        }
        assert_eq!(
            STRICT.check_connect(&url("http://user:pw@127.0.0.1/secret?k=v")).unwrap_err().to_string(),
            "127.0.0.1 is a loopback, private or link-local address; set APP_ALLOW_PRIVATE_URLS=true to allow it"
        );
        for s in [
            "https://nova.example.test/api",
            "http://8.8.8.8/",
            "http://[2001:4860:4860::8888]/",
            "http://notlocalhost/",
            "http://localhost.example.com/",
        ] {
            assert!(STRICT.check_connect(&url(s)).is_ok(), "{s}");
        }
    }

    #[tokio::test]
    async fn save_check() {
        let err = STRICT.check_at_save("apiUrl", "http://127.0.0.1:9/x").await.unwrap_err();
        assert_eq!((err.field.as_str(), err.code), ("apiUrl", "PRIVATE_ADDRESS"));
        assert!(err.message.contains("127.0.0.1"), "{}", err.message);
        assert!(OPEN.check_at_save("apiUrl", "http://127.0.0.1:9/x").await.is_ok());
        let err = STRICT.check_at_save("endpointUrl", "http://localhost:9/x").await.unwrap_err();
        assert_eq!((err.field.as_str(), err.code), ("endpointUrl", "PRIVATE_ADDRESS"));
        // Left to the field's own validation.
        assert!(STRICT.check_at_save("apiUrl", "not a url").await.is_ok());
        // A public literal needs no lookup.
        assert!(STRICT.check_at_save("apiUrl", "https://8.8.8.8/").await.is_ok());
        // A name that does not resolve is accepted (`.invalid` never resolves).
        assert!(STRICT.check_at_save("apiUrl", "https://nowhere.invalid/").await.is_ok());
    }

    /// A one-answer-per-connection HTTP server on 127.0.0.1.
    async fn serve_ok() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let _ =
                        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn guarded_client_refuses_a_name_resolving_to_loopback() {
        let port = serve_ok().await;
        let target = format!("http://localhost:{port}/");

        let strict = STRICT.client_builder().build().unwrap();
        let err = strict.get(&target).send().await.unwrap_err();
        let refusal = refusal_in(&err).unwrap_or_else(|| panic!("not a refusal: {err:?}"));
        assert!(matches!(refusal, UrlRefused::PrivateResolution { host, .. } if host == "localhost"), "{refusal}");
        let text = refusal.to_string();
        assert!(text.starts_with("localhost resolves only to private addresses ("), "{text}");
        assert!(text.ends_with("; set APP_ALLOW_PRIVATE_URLS=true to allow them"), "{text}");

        let open = OPEN.client_builder().build().unwrap();
        let answer = open.get(&target).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.text().await.unwrap(), "ok");
    }

    #[tokio::test]
    async fn guarded_resolver_alone() {
        // The resolver alone, on a name that resolves to loopback only.
        let err = match GuardedResolver::new(STRICT).resolve("localhost".parse().unwrap()).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        assert!(refusal_in(&*err).is_some(), "{err}");
        let addrs: Vec<_> = GuardedResolver::new(OPEN).resolve("localhost".parse().unwrap()).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty(), "{addrs:?}");
    }

    #[test]
    fn default_is_permissive() {
        assert!(UrlPolicy::default().allow_private);
        assert_eq!(GuardedResolver::default().policy, UrlPolicy::default());
    }
}
