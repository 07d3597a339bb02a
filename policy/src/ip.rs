//! Resolved-address policy: which IP addresses the host refuses to connect to.
//!
//! Even on the tenant's own origin, DNS may resolve to an internal address (DNS
//! rebinding, a hostile tenant entry, a misconfigured proxy). The host checks
//! every resolved address with [`check_ip`] before connecting; only public
//! unicast addresses pass. IPv6 forms that embed an IPv4 address
//! (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64
//! `64:ff9b::/96` and `64:ff9b:1::/48`, 6to4 `2002::/16`) are unwrapped and
//! judged by the embedded IPv4 address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The category of a refused address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum IpDenied {
    /// 127.0.0.0/8, ::1.
    #[error("loopback address")]
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, fc00::/7 (and deprecated site-local fec0::/10).
    #[error("private address")]
    Private,
    /// 169.254/16, fe80::/10.
    #[error("link-local address")]
    LinkLocal,
    /// 100.64/10 (carrier-grade NAT).
    #[error("carrier-grade NAT address")]
    Cgnat,
    /// Cloud instance metadata endpoints (169.254.169.254, 169.254.170.2,
    /// fd00:ec2::254, 100.100.100.200).
    #[error("cloud metadata address")]
    CloudMetadata,
    /// 0.0.0.0, ::.
    #[error("unspecified address")]
    Unspecified,
    /// 224/4, ff00::/8.
    #[error("multicast address")]
    Multicast,
    /// 255.255.255.255.
    #[error("broadcast address")]
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    #[error("documentation address")]
    Documentation,
    /// 0/8, 240/4, 192.0.0/24, 192.88.99/24, 100::/64, 2001::/32 (Teredo) and
    /// other special-purpose ranges.
    #[error("reserved address")]
    Reserved,
    /// 198.18/15, 2001:2::/48.
    #[error("benchmarking address")]
    Benchmarking,
}

/// Accepts public unicast addresses; refuses everything else with its category.
pub fn check_ip(addr: IpAddr) -> Result<(), IpDenied> {
    match addr {
        IpAddr::V4(v4) => check_v4(v4),
        IpAddr::V6(v6) => check_v6(v6),
    }
}

fn in_v4(addr: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(addr) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn in_v6(addr: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    (u128::from(addr) & mask) == (u128::from(net) & mask)
}

fn check_v4(a: Ipv4Addr) -> Result<(), IpDenied> {
    use IpDenied::*;
    // Order matters: specific addresses before the ranges that contain them.
    const METADATA: &[[u8; 4]] = &[
        [169, 254, 169, 254], // AWS, GCP, Azure, OCI, ...
        [169, 254, 170, 2],   // AWS ECS task credentials
        [100, 100, 100, 200], // Alibaba Cloud
    ];
    const RULES: &[([u8; 4], u32, IpDenied)] = &[
        ([0, 0, 0, 0], 32, Unspecified),
        ([0, 0, 0, 0], 8, Reserved),
        ([127, 0, 0, 0], 8, Loopback),
        ([10, 0, 0, 0], 8, Private),
        ([172, 16, 0, 0], 12, Private),
        ([192, 168, 0, 0], 16, Private),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([100, 64, 0, 0], 10, Cgnat),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Documentation),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([192, 88, 99, 0], 24, Reserved),
        ([198, 18, 0, 0], 15, Benchmarking),
        ([224, 0, 0, 0], 4, Multicast),
        ([255, 255, 255, 255], 32, Broadcast),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    if METADATA.iter().any(|m| a.octets() == *m) {
        return Err(CloudMetadata);
    }
    match RULES.iter().find(|(net, p, _)| in_v4(a, *net, *p)) {
        Some((_, _, why)) => Err(*why),
        None => Ok(()),
    }
}

/// The IPv4 address embedded in an IPv6 address by a translation or tunnelling
/// scheme, if any.
fn embedded_v4(a: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(a);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    let s = a.segments();
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated); :: and ::1
    // are handled as IPv6 before we get here.
    if bits >> 32 == 0xffff || bits >> 32 == 0 {
        return Some(low32);
    }
    // NAT64 well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48.
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
    {
        return Some(low32);
    }
    // 6to4: 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD.
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::from(((s[1] as u32) << 16) | s[2] as u32));
    }
    None
}

fn check_v6(a: Ipv6Addr) -> Result<(), IpDenied> {
    use IpDenied::*;
    if a.is_unspecified() {
        return Err(Unspecified);
    }
    if a.is_loopback() {
        return Err(Loopback);
    }
    if a == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Err(CloudMetadata);
    }
    if let Some(v4) = embedded_v4(a) {
        return check_v4(v4);
    }
    const RULES: &[(Ipv6Addr, u32, IpDenied)] = &[
        (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, Private),
        (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, Private),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, LinkLocal),
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, Multicast),
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
            32,
            Documentation,
        ),
        (
            Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
            20,
            Documentation,
        ),
        (
            Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0),
            48,
            Benchmarking,
        ),
        (Ipv6Addr::new(0x0100, 0, 0, 0, 0, 0, 0, 0), 64, Reserved),
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, Reserved),
        // Everything outside 2000::/3 is not global unicast.
        (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 3, Reserved),
        (Ipv6Addr::new(0x4000, 0, 0, 0, 0, 0, 0, 0), 2, Reserved),
        (Ipv6Addr::new(0x8000, 0, 0, 0, 0, 0, 0, 0), 1, Reserved),
    ];
    match RULES.iter().find(|(net, p, _)| in_v6(a, *net, *p)) {
        Some((_, _, why)) => Err(*why),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IpDenied::*;

    const CASES: &[(&str, Result<(), IpDenied>)] = &[
        // Public.
        ("8.8.8.8", Ok(())),
        ("1.1.1.1", Ok(())),
        ("34.120.0.1", Ok(())),
        ("172.15.255.255", Ok(())),
        ("172.32.0.0", Ok(())),
        ("100.63.255.255", Ok(())),
        ("100.128.0.0", Ok(())),
        ("169.253.255.255", Ok(())),
        ("198.17.255.255", Ok(())),
        ("198.20.0.0", Ok(())),
        ("223.255.255.255", Ok(())),
        ("2606:4700:4700::1111", Ok(())),
        ("2a00:1450:4001:80b::200e", Ok(())),
        ("::ffff:8.8.8.8", Ok(())),
        ("64:ff9b::808:808", Ok(())),
        ("2002:0808:0808::1", Ok(())),
        // Loopback.
        ("127.0.0.1", Err(Loopback)),
        ("127.255.255.254", Err(Loopback)),
        ("::1", Err(Loopback)),
        ("::ffff:127.0.0.1", Err(Loopback)),
        ("::127.0.0.1", Err(Loopback)),
        ("64:ff9b::7f00:1", Err(Loopback)),
        ("2002:7f00:0001::", Err(Loopback)),
        // Private.
        ("10.0.0.1", Err(Private)),
        ("10.255.255.255", Err(Private)),
        ("172.16.0.1", Err(Private)),
        ("172.31.255.255", Err(Private)),
        ("192.168.1.1", Err(Private)),
        ("fc00::1", Err(Private)),
        ("fd12:3456::1", Err(Private)),
        ("fec0::1", Err(Private)),
        ("::ffff:10.0.0.1", Err(Private)),
        ("::ffff:192.168.0.1", Err(Private)),
        ("64:ff9b::a00:1", Err(Private)),
        ("64:ff9b:1::c0a8:101", Err(Private)),
        ("2002:c0a8:0101::1", Err(Private)),
        ("2002:0a00:0001::", Err(Private)),
        // Link-local.
        ("169.254.0.1", Err(LinkLocal)),
        ("169.254.169.253", Err(LinkLocal)),
        ("fe80::1", Err(LinkLocal)),
        ("febf::1", Err(LinkLocal)),
        ("::ffff:169.254.1.1", Err(LinkLocal)),
        // CGNAT.
        ("100.64.0.1", Err(Cgnat)),
        ("100.127.255.255", Err(Cgnat)),
        // Cloud metadata wins over link-local / CGNAT / private.
        ("169.254.169.254", Err(CloudMetadata)),
        ("169.254.170.2", Err(CloudMetadata)),
        ("100.100.100.200", Err(CloudMetadata)),
        ("fd00:ec2::254", Err(CloudMetadata)),
        ("::ffff:169.254.169.254", Err(CloudMetadata)),
        ("::ffff:a9fe:a9fe", Err(CloudMetadata)),
        ("64:ff9b::a9fe:a9fe", Err(CloudMetadata)),
        ("2002:a9fe:a9fe::", Err(CloudMetadata)),
        // Unspecified.
        ("0.0.0.0", Err(Unspecified)),
        ("::", Err(Unspecified)),
        ("::ffff:0.0.0.0", Err(Unspecified)),
        // Multicast and broadcast.
        ("224.0.0.1", Err(Multicast)),
        ("239.255.255.250", Err(Multicast)),
        ("ff02::1", Err(Multicast)),
        ("ff05::1:3", Err(Multicast)),
        ("255.255.255.255", Err(Broadcast)),
        ("::ffff:255.255.255.255", Err(Broadcast)),
        // Documentation.
        ("192.0.2.1", Err(Documentation)),
        ("198.51.100.7", Err(Documentation)),
        ("203.0.113.255", Err(Documentation)),
        ("2001:db8::1", Err(Documentation)),
        ("3fff::1", Err(Documentation)),
        // Reserved.
        ("0.1.2.3", Err(Reserved)),
        ("240.0.0.1", Err(Reserved)),
        ("255.255.255.254", Err(Reserved)),
        ("192.0.0.8", Err(Reserved)),
        ("192.88.99.1", Err(Reserved)),
        ("100::1", Err(Reserved)),
        ("2001::1", Err(Reserved)),
        ("4000::1", Err(Reserved)),
        ("::2:0:0:1", Err(Reserved)),
        // Benchmarking.
        ("198.18.0.1", Err(Benchmarking)),
        ("198.19.255.255", Err(Benchmarking)),
        ("2001:2::1", Err(Benchmarking)),
    ];

    #[test]
    fn table() {
        for (text, want) in CASES {
            let addr: IpAddr = text.parse().unwrap_or_else(|e| panic!("case {text}: {e}"));
            assert_eq!(check_ip(addr), *want, "case {text}");
        }
    }

    #[test]
    fn denied_messages_name_the_category() {
        const MESSAGES: &[(IpDenied, &str)] = &[
            (CloudMetadata, "cloud metadata address"),
            (Loopback, "loopback address"),
            (Cgnat, "carrier-grade NAT address"),
        ];
        for (denied, want) in MESSAGES {
            assert_eq!(denied.to_string(), *want, "case {denied:?}");
        }
    }
}
