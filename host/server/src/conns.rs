//! Which connections are open, so that neither one address nor idle connections can keep
//! everyone else out.
//!
//! - **Per address**: at most `max_connections_per_address` connections from one IPv4
//!   address or one IPv6 /64 (a single host is commonly given a whole /64); one more is closed
//!   on accept.
//! - **At the cap**: when `max_connections` are open, a new connection evicts the one that has
//!   waited longest without a request being served on it — a connection still sending its
//!   first request head (slowloris), or a kept-alive one between requests (HTTP lets a server
//!   close those at any time). Connections serving a request are never evicted; when every
//!   open connection is serving one, the new connection is closed instead.
//!
//! So connections that send nothing cannot starve `/healthz` or a tenant: a new client always
//! gets in while any open connection is idle, and an idle connection lives at most the
//! header-read timeout anyway.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::Notify;

/// What one open connection shares with the table.
#[derive(Debug)]
pub(crate) struct Activity {
    /// Requests being served on it now.
    busy: AtomicUsize,
    /// When it last became idle (accepted, or its last request answered): microseconds since
    /// the table's epoch.
    idle_since: AtomicU64,
    /// Notified when it is evicted: the connection closes.
    pub(crate) evicted: Notify,
}

/// A request being served: the connection is busy until it drops.
pub(crate) struct Serving {
    activity: Arc<Activity>,
    epoch: Instant,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.activity
            .idle_since
            .store(micros_since(self.epoch), Ordering::Relaxed);
        self.activity.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

fn micros_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}

struct Entry {
    addr: IpAddr,
    activity: Arc<Activity>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    open: HashMap<u64, Entry>,
    per_address: HashMap<IpAddr, usize>,
}

/// The table of open connections.
#[derive(Clone)]
pub(crate) struct Connections {
    inner: Arc<Mutex<Inner>>,
    epoch: Instant,
    max: usize,
    max_per_address: usize,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its address has `max_connections_per_address` open.
    Address,
    /// `max_connections` are open and every one is serving a request.
    Full,
}

/// An admitted connection: its place in the table until it drops.
pub(crate) struct Admitted {
    table: Connections,
    id: u64,
    pub(crate) activity: Arc<Activity>,
}

impl Admitted {
    /// Mark a request as being served on this connection until the guard drops.
    pub(crate) fn serving(&self) -> Serving {
        self.activity.busy.fetch_add(1, Ordering::AcqRel);
        Serving {
            activity: self.activity.clone(),
            epoch: self.table.epoch,
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.table.remove(self.id);
    }
}

impl Connections {
    pub(crate) fn new(max: usize, max_per_address: usize) -> Connections {
        Connections {
            inner: Arc::new(Mutex::new(Inner::default())),
            epoch: Instant::now(),
            max,
            max_per_address,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remove(&self, id: u64) {
        let mut inner = self.lock();
        if let Some(e) = inner.open.remove(&id) {
            release_address(&mut inner.per_address, e.addr);
        }
    }

    /// Admit a connection from `addr`, evicting the longest-idle one if the table is full.
    pub(crate) fn admit(&self, addr: IpAddr) -> Result<Admitted, Refused> {
        let addr = address_key(addr);
        let mut inner = self.lock();
        if inner.per_address.get(&addr).copied().unwrap_or(0) >= self.max_per_address {
            return Err(Refused::Address);
        }
        if inner.open.len() >= self.max {
            let victim = inner
                .open
                .iter()
                .filter(|(_, e)| e.activity.busy.load(Ordering::Acquire) == 0)
                .min_by_key(|(_, e)| e.activity.idle_since.load(Ordering::Relaxed))
                .map(|(id, _)| *id);
            let Some(victim) = victim else {
                return Err(Refused::Full);
            };
            if let Some(e) = inner.open.remove(&victim) {
                release_address(&mut inner.per_address, e.addr);
                e.activity.evicted.notify_one();
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let activity = Arc::new(Activity {
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(micros_since(self.epoch)),
            evicted: Notify::new(),
        });
        inner.open.insert(
            id,
            Entry {
                addr,
                activity: activity.clone(),
            },
        );
        *inner.per_address.entry(addr).or_insert(0) += 1;
        Ok(Admitted {
            table: self.clone(),
            id,
            activity,
        })
    }
}

/// What the per-address cap counts: an IPv4 address (IPv4-mapped IPv6 included), or an IPv6
/// address's /64.
fn address_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                v6.to_bits() & !u128::from(u64::MAX),
            )),
        },
    }
}

fn release_address(per_address: &mut HashMap<IpAddr, usize>, addr: IpAddr) {
    if let Some(n) = per_address.get_mut(&addr) {
        *n -= 1;
        if *n == 0 {
            per_address.remove(&addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn one_address_gets_at_most_its_share() {
        let t = Connections::new(10, 2);
        let _a = t.admit(ip(1)).unwrap();
        let b = t.admit(ip(1)).unwrap();
        assert_eq!(t.admit(ip(1)).err(), Some(Refused::Address));
        assert!(t.admit(ip(2)).is_ok());
        drop(b);
        assert!(t.admit(ip(1)).is_ok());
    }

    #[test]
    fn an_ipv6_slash_64_counts_as_one_address_and_mapped_ipv4_as_its_ipv4() {
        let t = Connections::new(10, 1);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _a = t.admit(a).unwrap();
        assert_eq!(t.admit(same_64).err(), Some(Refused::Address));
        assert!(t.admit(other_64).is_ok());
        let _v4 = t.admit(ip(7)).unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(t.admit(mapped).err(), Some(Refused::Address));
    }

    #[test]
    fn a_full_table_evicts_the_longest_idle_connection_never_a_busy_one() {
        let t = Connections::new(2, 10);
        let first = t.admit(ip(1)).unwrap();
        let second = t.admit(ip(2)).unwrap();
        let _busy = first.serving();
        let third = t.admit(ip(3)).unwrap();
        // `second` was idle, `first` busy: `second` goes, and its slot is the new one's.
        assert_eq!(t.lock().open.len(), 2);
        assert!(!t.lock().per_address.contains_key(&ip(2)));
        drop(second);
        assert_eq!(
            t.lock().open.len(),
            2,
            "dropping an evicted one frees nothing twice"
        );
        let _also_busy = third.serving();
        assert_eq!(t.admit(ip(4)).err(), Some(Refused::Full));
    }
}
