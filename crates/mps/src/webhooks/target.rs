//! Where a webhook may be sent (SSRF): https only when required, and never to a loopback,
//! private, link-local, metadata or otherwise non-public address — checked on every address the
//! host resolves to, each time it is sent, and the connection pinned to the checked address so a
//! second DNS answer cannot swap it (rebinding). Hosts and networks in `WEBHOOK_ALLOW_HOSTS` are
//! exempt (tests use `127.0.0.1`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::config::WebhookConfig;

/// A URL checked for sending: its host and the address the request must connect to.
#[derive(Debug, Clone)]
pub struct CheckedTarget {
    pub url: reqwest::Url,
    /// The host name as written in the URL (a name, or an address literal).
    pub host: String,
    pub addr: SocketAddr,
}

/// Why a URL is refused, for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Checks the URL's form only (scheme, host, no credentials): what registration checks before
/// resolving.
pub fn parse_url(config: &WebhookConfig, raw: &str) -> Result<reqwest::Url, Refused> {
    let url = reqwest::Url::parse(raw).map_err(|_| Refused("is not an absolute URL".into()))?;
    match url.scheme() {
        "https" => {}
        "http" if !config.require_https => {}
        "http" => return Err(Refused("must be an https:// URL".into())),
        _ => return Err(Refused("must be an https:// URL".into())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused("must not carry credentials".into()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Refused("has no host".into()));
    }
    Ok(url)
}

/// Parses, resolves and checks every address of the URL's host; the first one is where to connect.
pub async fn check(config: &WebhookConfig, raw: &str) -> Result<CheckedTarget, Refused> {
    let url = parse_url(config, raw)?;
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| Refused(format!("host `{host}` does not resolve")))?
            .collect(),
    };
    let Some(first) = addrs.first().copied() else {
        return Err(Refused(format!("host `{host}` does not resolve")));
    };
    let host_allowed = config.allow_hosts.contains(&host);
    for addr in &addrs {
        let ip = addr.ip().to_canonical();
        let allowed = host_allowed || config.allow_networks.iter().any(|net| net.contains(ip));
        if !allowed && !is_public(ip) {
            return Err(Refused(format!("resolves to {ip}, which is not a public address")));
        }
    }
    Ok(CheckedTarget { url, host, addr: first })
}

/// True for an address on the public internet: not loopback, private, link-local (the cloud
/// metadata address 169.254.169.254 among them), shared, reserved, documentation or multicast.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    if first == 0x64 && ip.segments()[1] == 0xff9b {
        // NAT64: judge the IPv4 address it carries.
        let [.., a, b, c, d] = ip.octets();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} is refused");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} is allowed");
        }
    }
}
