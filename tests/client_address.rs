//! The per-IP limit's view of an end user's address (docs/abuse-limits.md): strict parsing, IPv4
//! by address, IPv6 by /64.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use faroe_worker::client_address::ClientAddress;

fn subject(value: &str) -> Option<String> {
    ClientAddress::parse(value).map(|a| a.bucket_subject())
}

#[test]
fn ipv4_is_keyed_by_the_whole_address() {
    assert_eq!(subject("203.0.113.9").as_deref(), Some("203.0.113.9"));
    assert_ne!(subject("203.0.113.9"), subject("203.0.113.10"));
}

#[test]
fn ipv6_is_keyed_by_its_64_bit_prefix() {
    assert_eq!(
        subject("2001:db8:aa:1::1").as_deref(),
        Some("2001:db8:aa:1::/64")
    );
    assert_eq!(
        subject("2001:db8:aa:1:ffff:ffff:ffff:fffe"),
        subject("2001:db8:aa:1::1")
    );
    assert_eq!(
        subject("2001:0DB8:00AA:0001:0:0:0:1"),
        subject("2001:db8:aa:1::1"),
        "any spelling of the address"
    );
    assert_ne!(subject("2001:db8:aa:2::1"), subject("2001:db8:aa:1::1"));
    assert_eq!(subject("::1").as_deref(), Some("::/64"));
}

#[test]
fn an_ipv4_mapped_ipv6_address_is_its_ipv4_address() {
    assert_eq!(
        subject("::ffff:198.51.100.20").as_deref(),
        Some("198.51.100.20")
    );
    let mapped = ClientAddress::parse("::ffff:198.51.100.20").unwrap();
    assert_eq!(mapped.as_ip().to_string(), "198.51.100.20");
}

#[test]
fn anything_but_one_plain_address_is_refused() {
    for bad in [
        "",
        " 203.0.113.9",
        "203.0.113.9 ",
        "nonsense",
        "203.0.113.9:443",
        "[2001:db8::1]",
        "2001:db8::1%eth0",
        "203.0.113.9, 10.0.0.1",
        "1.2.3",
        "256.1.1.1",
        "2001:db8::1/64",
    ] {
        assert_eq!(ClientAddress::parse(bad), None, "{bad:?}");
    }
}
