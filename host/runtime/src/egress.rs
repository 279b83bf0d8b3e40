//! The operator's egress configuration, and the address check behind Cordon's SSRF defence.
//!
//! Cedar decides *which URLs* a run may ask for; this decides *which addresses* the host will
//! connect to, whatever the policy says. Every address a host name resolves to is checked, and
//! the connection goes to a checked address (no second lookup). Loopback, link-local (cloud
//! metadata at 169.254.169.254), private, shared, unique-local, unspecified, multicast,
//! broadcast, documentation and reserved addresses are refused unless the operator allowed a
//! range containing them by name.
//!
//! ```
//! use cordon_runtime::EgressPolicy;
//!
//! let default = EgressPolicy::default();
//! assert!(default.check("169.254.169.254".parse().unwrap()).is_err());
//! assert!(default.check("10.1.2.3".parse().unwrap()).is_err());
//! assert!(default.check("93.184.215.14".parse().unwrap()).is_ok());
//!
//! let mut test = EgressPolicy::default();
//! test.allow_range("127.0.0.0/8")?;
//! assert!(test.check("127.0.0.1".parse().unwrap()).is_ok());
//! # Ok::<(), cordon_runtime::RangeError>(())
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ipnet::IpNet;

/// Where and how much a run may send and receive over http. An operator value handed to each
/// run; the default allows no special-purpose address range at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Special-purpose ranges the operator allows (e.g. `127.0.0.0/8` for a local test
    /// server, `10.20.0.0/16` for an internal service). Public addresses need no entry.
    pub allowed_ranges: Vec<IpNet>,
    /// Most bytes of one request body.
    pub max_request_bytes: u64,
    /// Most bytes of one response body; a larger response is cut and the guest gets
    /// `limit-exceeded`.
    pub max_response_bytes: u64,
    /// Most redirects followed for one request (each hop is decided by the policy again).
    pub max_redirects: u32,
    /// Most time one request may take, redirects included; a slower one is abandoned and the
    /// guest gets `limit-exceeded`. The run's own deadline applies as well and ends the run.
    pub request_timeout: Duration,
    /// Certificate authorities trusted for https besides the public web PKI, e.g. an
    /// internal CA.
    pub trusted_cas: Vec<TrustedCa>,
}

/// One or more certificate authorities, parsed (and so checked) once, when made.
#[derive(Clone)]
pub struct TrustedCa {
    /// As the operator gave them: what equality compares.
    pem: String,
    /// Parsed from `pem`, handed to each run's http client.
    certs: Vec<reqwest::Certificate>,
}

impl TrustedCa {
    /// The certificate authorities in `pem` (one or more PEM certificates).
    pub fn from_pem(pem: &str) -> Result<TrustedCa, CaError> {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| CaError {
            reason: e.to_string(),
        })?;
        if certs.is_empty() {
            return Err(CaError {
                reason: "no certificate in it".into(),
            });
        }
        Ok(TrustedCa {
            pem: pem.to_owned(),
            certs,
        })
    }

    /// The certificates, for the http client.
    pub(crate) fn certificates(&self) -> &[reqwest::Certificate] {
        &self.certs
    }
}

impl PartialEq for TrustedCa {
    fn eq(&self, other: &Self) -> bool {
        self.pem == other.pem
    }
}

impl Eq for TrustedCa {}

impl std::fmt::Debug for TrustedCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedCa")
            .field("certificates", &self.certs.len())
            .finish_non_exhaustive()
    }
}

impl Default for EgressPolicy {
    fn default() -> Self {
        EgressPolicy {
            allowed_ranges: Vec::new(),
            max_request_bytes: 1 << 20,
            max_response_bytes: 8 << 20,
            max_redirects: 5,
            request_timeout: Duration::from_secs(30),
            trusted_cas: Vec::new(),
        }
    }
}

/// An `--allow-egress-range` the operator gave is not a range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{range}` is not an address range (e.g. `127.0.0.0/8`, `fd00::/8`)")]
pub struct RangeError {
    /// What was given.
    pub range: String,
}

/// A certificate authority the operator gave cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a PEM certificate bundle: {reason}")]
pub struct CaError {
    /// What is wrong with it.
    pub reason: String,
}

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{address}` is {class}; cordon does not connect there unless the operator allows its range"
)]
pub struct AddressRefused {
    /// The refused address.
    pub address: IpAddr,
    /// What kind of address it is (`loopback`, `link-local`, ...).
    pub class: &'static str,
}

impl EgressPolicy {
    /// Allow a named range, e.g. `127.0.0.0/8`; a bare address allows just that address.
    pub fn allow_range(&mut self, range: &str) -> Result<(), RangeError> {
        let net = range
            .parse::<IpNet>()
            .or_else(|_| range.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| RangeError {
                range: range.to_owned(),
            })?;
        self.allowed_ranges.push(net);
        Ok(())
    }

    /// May the host connect to `address`?
    pub fn check(&self, address: IpAddr) -> Result<(), AddressRefused> {
        if self.allowed_ranges.iter().any(|r| r.contains(&address)) {
            return Ok(());
        }
        match special_class(address) {
            None => Ok(()),
            Some(class) => Err(AddressRefused { address, class }),
        }
    }
}

/// The special-purpose class of an address, or `None` for a public unicast address. IPv6
/// addresses that embed an IPv4 one (mapped, NAT64, 6to4) are judged by the embedded one.
pub(crate) fn special_class(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(a) => v4_class(a),
        IpAddr::V6(a) => v6_class(a),
    }
}

fn v4_class(a: Ipv4Addr) -> Option<&'static str> {
    let [b0, b1, b2, _] = a.octets();
    Some(match () {
        _ if a.is_unspecified() || b0 == 0 => "an unspecified (0.0.0.0/8) address",
        _ if a.is_loopback() => "a loopback address",
        _ if a.is_private() => "a private address",
        _ if a.is_link_local() => "a link-local address (cloud metadata lives here)",
        _ if b0 == 100 && (64..128).contains(&b1) => "a shared (carrier-grade NAT) address",
        _ if a.is_multicast() => "a multicast address",
        _ if a.is_broadcast() => "the broadcast address",
        _ if a.is_documentation() => "a documentation address",
        _ if b0 == 192 && b1 == 0 && b2 == 0 => "an IETF protocol-assignment address",
        _ if b0 == 198 && (18..20).contains(&b1) => "a benchmarking address",
        _ if b0 >= 240 => "a reserved address",
        _ => return None,
    })
}

fn v6_class(a: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(a) {
        return v4_class(v4);
    }
    let s = a.segments();
    Some(match () {
        _ if a.is_unspecified() => "an unspecified address",
        _ if a.is_loopback() => "a loopback address",
        _ if a.is_multicast() => "a multicast address",
        _ if (s[0] & 0xffc0) == 0xfe80 => "a link-local address",
        _ if (s[0] & 0xffc0) == 0xfec0 => "a site-local address",
        _ if (s[0] & 0xfe00) == 0xfc00 => "a unique-local address",
        _ if s[0] == 0x2001 && s[1] == 0x0db8 => "a documentation address",
        _ if s[0] == 0x0100 && s[1..4] == [0, 0, 0] => "a discard-only address",
        _ if s[0] == 0x2001 && s[1] < 0x0200 => "an IETF protocol-assignment address",
        _ if s[0] & 0xe000 != 0x2000 => "an address outside global unicast",
        _ => return None,
    })
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`),
/// NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`) address.
fn embedded_v4(a: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = a.segments();
    let o = a.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if s[..5] == [0; 5]
        && (s[5] == 0xffff || (s[5] == 0 && !a.is_loopback() && !a.is_unspecified()))
    {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(p: &EgressPolicy, a: &str) -> bool {
        p.check(a.parse().unwrap()).is_err()
    }

    #[test]
    fn the_default_refuses_every_special_purpose_range() {
        let p = EgressPolicy::default();
        for a in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "fec0::1",
        ] {
            assert!(refused(&p, a), "{a} should be refused");
        }
    }

    #[test]
    fn the_default_allows_public_addresses() {
        let p = EgressPolicy::default();
        for a in [
            "93.184.215.14",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!refused(&p, a), "{a} should be allowed");
        }
    }

    #[test]
    fn an_allowed_range_opens_exactly_that_range() {
        let mut p = EgressPolicy::default();
        p.allow_range("127.0.0.0/8").unwrap();
        p.allow_range("::1").unwrap();
        assert!(!refused(&p, "127.0.0.1"));
        assert!(!refused(&p, "::1"));
        assert!(refused(&p, "10.0.0.1"));
        assert!(refused(&p, "169.254.169.254"));
    }

    #[test]
    fn a_malformed_range_is_refused_naming_it() {
        let err = EgressPolicy::default()
            .allow_range("127.0.0.0/33")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`127.0.0.0/33` is not an address range (e.g. `127.0.0.0/8`, `fd00::/8`)"
        );
    }

    #[test]
    fn a_refusal_names_the_address_and_its_class() {
        let err = EgressPolicy::default()
            .check("169.254.169.254".parse().unwrap())
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`169.254.169.254` is a link-local")
        );
    }
}
