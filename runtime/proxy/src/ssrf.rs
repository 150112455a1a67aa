//! The SSRF guard: which addresses the agent's traffic may reach.
//!
//! Every destination is resolved first and the *resolved* addresses are
//! checked and then dialled, so a name cannot be checked as one address and
//! connected as another. Refused unless a policy allow-range names them:
//! loopback, private (RFC 1918, IPv6 unique-local), link-local (cloud
//! metadata at 169.254.169.254 and fd00:ec2::254 among them), the cloud
//! platforms' other documented metadata and host endpoints (Azure's wire
//! server 168.63.129.16, Alibaba's 100.100.100.200 inside CGNAT, Oracle's
//! 192.0.0.192 inside 192.0.0/24), CGNAT (100.64/10), multicast,
//! unspecified and broadcast, and the IPv6 forms that carry an IPv4 address
//! inside (IPv4-mapped, IPv4-translated `::ffff:0:a.b.c.d`,
//! IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo 2001::/32),
//! judged by that IPv4.
//! Host names spelled as numbers (`2130706433`, `0x7f.1`, `0177.0.0.1`) are
//! read the way `inet_aton` reads them, so they are judged as the address
//! they are.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A CIDR range, from the policy's `allow_ranges`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    net: IpAddr,
    bits: u8,
}

impl IpRange {
    /// Parse `10.0.0.0/8`, `fd00::/8` or a single address.
    pub fn parse(s: &str) -> Result<IpRange, String> {
        let (ip, bits) = match s.split_once('/') {
            Some((ip, b)) => (ip, Some(b)),
            None => (s, None),
        };
        let net: IpAddr = ip.trim().parse().map_err(|_| format!("{s:?} is not an IP range"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => {
                b.trim().parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(|| format!("{s:?}: bad prefix length"))?
            }
            None => max,
        };
        Ok(IpRange { net, bits })
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = (bits / 8) as usize;
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    rest == 0 || (a[full] ^ b[full]) & (0xffu8 << (8 - rest)) == 0
}

/// Why `ip` may not be reached, or `None` if it may.
pub fn forbidden(ip: IpAddr, allow: &[IpRange]) -> Option<&'static str> {
    if allow.iter().any(|r| r.contains(ip)) {
        return None;
    }
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => {
                if allow.iter().any(|r| r.contains(IpAddr::V4(v4))) {
                    return None;
                }
                forbidden_v4(v4).or_else(|| forbidden_v6(v6))
            }
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        [127, ..] => "loopback",
        [10, ..] | [172, 16..=31, ..] | [192, 168, ..] => "private",
        [169, 254, 169, 254] | [168, 63, 129, 16] | [100, 100, 100, 200] | [192, 0, 0, 192] => "cloud metadata",
        [169, 254, ..] => "link-local",
        [100, 64..=127, ..] => "carrier-grade NAT",
        [0, ..] => "unspecified",
        [224..=239, ..] => "multicast",
        [255, 255, 255, 255] => "broadcast",
        [240..=255, ..] => "reserved",
        [192, 0, 0, ..] => "IETF protocol assignments",
        [198, 18 | 19, ..] => "benchmarking",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some("cloud metadata");
    }
    Some(match s[0] {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        0xfc00..=0xfdff => "unique local (private)",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address carries, in the forms that route to it.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        // IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d (not :: or ::1).
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        // IPv4-translated ::ffff:0:a.b.c.d (RFC 2765 SIIT).
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(tail),
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(tail),
        // NAT64 well-known prefix 64:ff9b::/96 (and the local-use 64:ff9b:1::/48).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        [0x64, 0xff9b, 1, ..] => Some(tail),
        // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
        [0x2002, a, b, ..] => Some(Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8)),
        // Teredo 2001:0::/32: the client address is the last 32 bits, inverted.
        [0x2001, 0, ..] => Some(Ipv4Addr::from(!u32::from(tail))),
        _ => None,
    }
}

/// Read a host that is an IP literal, in any spelling a resolver accepts:
/// bracketed IPv6, dotted quads, and `inet_aton` forms (1 to 4 parts, each
/// decimal, octal with a leading 0, or hex with 0x).
pub fn ip_literal(host: &str) -> Option<IpAddr> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Some(ip);
    }
    // IPv6 with a zone (fe80::1%eth0) is link-local whatever the zone.
    if let Some((addr, _zone)) = h.split_once('%') {
        if let Ok(ip) = addr.parse::<Ipv6Addr>() {
            return Some(IpAddr::V6(ip));
        }
    }
    inet_aton(h.trim_end_matches('.')).map(IpAddr::V4)
}

fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let nums: Vec<u64> = parts.iter().map(|p| number(p)).collect::<Option<_>>()?;
    let (last, init) = nums.split_last()?;
    if init.iter().any(|n| *n > 255) {
        return None;
    }
    let room = 8 * (4 - init.len() as u32);
    if *last >= 1u64 << room {
        return None;
    }
    let mut v: u64 = 0;
    for (i, n) in init.iter().enumerate() {
        v |= n << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from((v | last) as u32))
}

fn number(p: &str) -> Option<u64> {
    if p.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        (h, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    if digits.is_empty() {
        return (radix == 16).then_some(0);
    }
    u64::from_str_radix(digits, radix).ok().filter(|n| *n <= u32::MAX as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(host: &str) -> Option<&'static str> {
        forbidden(ip_literal(host).unwrap_or_else(|| panic!("{host} is an IP literal")), &[])
    }

    #[test]
    fn every_internal_spelling_is_refused() {
        for host in [
            "127.0.0.1",
            "127.1",
            "2130706433",
            "0x7f000001",
            "0x7f.0.0.1",
            "0177.0.0.1",
            "017700000001",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "[::1]",
            "::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "fe80::1%eth0",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "127.0.0.1.",
        ] {
            assert!(refused(host).is_some(), "{host} must be refused");
        }
        assert_eq!(refused("169.254.169.254"), Some("cloud metadata"));
    }

    /// Issue 14 (12): the wire server, IPv4-translated addresses and the
    /// other documented metadata endpoints are refused (decided here, no
    /// packet sent).
    #[test]
    fn issue_14_cloud_metadata_and_ipv4_translated_are_refused() {
        for host in ["168.63.129.16", "100.100.100.200", "192.0.0.192", "[::ffff:a83f:8110]", "::ffff:168.63.129.16"] {
            assert_eq!(refused(host), Some("cloud metadata"), "{host}");
        }
        for host in ["[::ffff:0:127.0.0.1]", "::ffff:0:7f00:1", "::ffff:0:169.254.169.254", "::ffff:0:10.0.0.1"] {
            assert!(refused(host).is_some(), "{host} must be refused");
        }
        assert_eq!(refused("::ffff:0:8.8.8.8"), None, "a public IPv4 translated stays public");
        assert_eq!(refused("2001:0:4136:e378:8000:63bf:80ff:fffe"), Some("loopback"), "Teredo client 127.0.0.1");
    }

    #[test]
    fn public_addresses_pass_and_allow_ranges_open_holes() {
        for host in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "1.1.1.1"] {
            assert_eq!(refused(host), None, "{host}");
        }
        let allow = [IpRange::parse("10.5.0.0/16").unwrap()];
        assert_eq!(forbidden("10.5.3.4".parse().unwrap(), &allow), None);
        assert!(forbidden("10.6.3.4".parse().unwrap(), &allow).is_some());
        assert_eq!(forbidden("::ffff:10.5.0.1".parse().unwrap(), &allow), None);
        assert!(IpRange::parse("10.0.0.0/33").is_err());
        assert_eq!(ip_literal("example.com"), None);
        assert_eq!(ip_literal("1.2.3.256"), None);
    }
}
