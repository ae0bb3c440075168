//! Which addresses outgoing requests may reach.
//!
//! The default is "the public internet only": loopback, private, link-local (which
//! holds the cloud metadata service), CGNAT, unspecified, multicast, documentation,
//! relay and other special-purpose ranges (IANA's special-purpose registries) are
//! refused. The operator opens specific networks with
//! `FLOWHOOK_EGRESS_ALLOW_CIDRS`. The check runs on resolved addresses, so a public
//! name that resolves to a private address is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The destination rule of the egress client.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allow: Vec<IpNet>,
}

impl EgressPolicy {
    /// A policy that also allows the given networks although they are special.
    pub fn new(allow: Vec<IpNet>) -> EgressPolicy {
        EgressPolicy { allow }
    }

    pub fn allowed_networks(&self) -> &[IpNet] {
        &self.allow
    }

    /// `Ok` if `ip` may be reached; otherwise what kind of address it is.
    pub fn check(&self, ip: IpAddr) -> Result<(), &'static str> {
        let ip = flowhook_core::account::canonical(ip);
        match special_range(ip) {
            Some(kind) if !self.allow.iter().any(|n| n.contains(&ip)) => Err(kind),
            _ => Ok(()),
        }
    }
}

/// Names the special-purpose range `ip` is in, if any.
fn special_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local (cloud metadata)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("carrier-grade NAT")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("multicast or reserved")
    } else if a == 192 && b == 0 && ip.octets()[2] == 0 {
        Some("IETF protocol assignment")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("benchmarking")
    } else if matches!(
        ip.octets(),
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _]
    ) {
        // TEST-NET-1, -2 and -3 (RFC 5737).
        Some("documentation")
    } else if matches!(ip.octets(), [192, 88, 99, _]) {
        Some("6to4 relay anycast")
    } else {
        None
    }
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if seg[0] & 0xfe00 == 0xfc00 {
        Some("unique local (private)")
    } else if seg[0] & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if seg[0] & 0xffc0 == 0xfec0 {
        Some("site-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if seg[..3] == [0x64, 0xff9b, 1] {
        Some("local-use NAT64")
    } else if seg[..2] == [0x2001, 0xdb8] {
        Some("documentation")
    } else if seg[..2] == [0x2001, 0] {
        // Teredo tunnels to an address hidden in the rest of this one.
        Some("Teredo")
    } else if seg[..4] == [0x100, 0, 0, 0] {
        Some("discard-only")
    } else if seg[..6] == [0, 0, 0, 0, 0, 0] || seg[..6] == [0, 0, 0, 0, 0xffff, 0] {
        // IPv4-compatible (::a.b.c.d) and IPv4-translated (::ffff:0:a.b.c.d).
        special_v4(Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        ))
    } else if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 embeds an IPv4 address in the last 32 bits.
        special_v4(Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        ))
    } else if seg[0] == 0x2002 {
        // 6to4 embeds an IPv4 address in bits 16..48.
        special_v4(Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    //! Tests of the rule alone: addresses here are only classified, never sent
    //! to (the project's rule for guard tests allows loopback targets only).
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn loopback_is_refused_by_default() {
        let p = EgressPolicy::default();
        assert_eq!(p.check(ip("127.0.0.1")), Err("loopback"));
        assert_eq!(p.check(ip("127.8.9.10")), Err("loopback"));
        assert_eq!(p.check(ip("::1")), Err("loopback"));
        assert_eq!(
            p.check(ip("::ffff:127.0.0.1")),
            Err("loopback"),
            "v4-mapped"
        );
        assert_eq!(
            p.check(ip("64:ff9b::7f00:1")),
            Err("loopback"),
            "NAT64 of 127.0.0.1"
        );
        assert_eq!(
            p.check(ip("2002:7f00:1::")),
            Err("loopback"),
            "6to4 of 127.0.0.1"
        );
        assert_eq!(
            p.check(ip("::127.0.0.1")),
            Err("loopback"),
            "IPv4-compatible"
        );
        assert_eq!(
            p.check(ip("::ffff:0:127.0.0.1")),
            Err("loopback"),
            "IPv4-translated"
        );
    }

    #[test]
    fn allowed_networks_open_exactly_themselves() {
        let p = EgressPolicy::new(vec!["127.0.0.1/32".parse().expect("net")]);
        assert_eq!(p.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(p.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(p.check(ip("127.0.0.2")), Err("loopback"));
        assert_eq!(p.check(ip("::1")), Err("loopback"));
    }

    #[test]
    fn documentation_relay_and_discard_ranges_are_refused() {
        let p = EgressPolicy::default();
        let cases = [
            ("192.0.2.1", "documentation"),
            ("192.0.2.255", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.200", "documentation"),
            ("192.88.99.1", "6to4 relay anycast"),
            ("2001:db8::1", "documentation"),
            ("2001:db8:ffff:ffff::1", "documentation"),
            ("2001::1", "Teredo"),
            ("2001:0:ffff::1", "Teredo"),
            ("100::1", "discard-only"),
            ("100::ffff:ffff:ffff:ffff", "discard-only"),
            ("::ffff:192.0.2.1", "documentation"),
            ("64:ff9b::c633:6401", "documentation"),
        ];
        for (text, kind) in cases {
            assert_eq!(p.check(ip(text)), Err(kind), "{text}");
        }
    }

    #[test]
    fn neighbours_of_the_special_ranges_are_public() {
        // Just outside each range above: these must not be caught by a prefix
        // that is one bit too short.
        let p = EgressPolicy::default();
        for text in [
            "192.0.3.1",
            "198.51.101.1",
            "203.0.112.1",
            "192.88.98.1",
            "2001:db9::1",
            "2001:200::1",
            "100:0:0:1::1",
        ] {
            assert_eq!(p.check(ip(text)), Ok(()), "{text}");
        }
    }
}
