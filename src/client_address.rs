//! The end user's network address as the per-IP limit sees it: parsed strictly, and reduced to
//! the unit one user controls (an IPv4 address, or an IPv6 /64, which ISPs hand to one customer).

use std::net::{IpAddr, Ipv6Addr};

/// The header through which an authenticated caller (an app calling through a service binding or
/// over HTTPS with the bearer secret) names the end user's address. Ignored from anyone else.
pub const CLIENT_ADDRESS_HEADER: &str = "X-Faroe-Client-Address";

/// An end user's address, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(IpAddr);

impl ClientAddress {
    /// Parses a plain IPv4 or IPv6 address (no port, zone, brackets or surrounding spaces).
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 address it maps.
    pub fn parse(value: &str) -> Option<Self> {
        let address: IpAddr = value.parse().ok()?;
        Some(Self(match address {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        }))
    }

    /// The address in its canonical text form (what Turnstile's `remoteip` gets).
    pub fn as_ip(&self) -> IpAddr {
        self.0
    }

    /// The per-IP bucket's subject: the IPv4 address, or the IPv6 /64 as `prefix::/64`, so every
    /// address one customer gets from its ISP shares one bucket.
    pub fn bucket_subject(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(network))
            }
        }
    }
}
