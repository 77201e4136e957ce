//! The virtual servers of a router, found by destination (draft-srisuresh-lsnat § 3).

use super::VirtualServer;
use crate::error::{ChooseError, ConfigError};
use crate::server::ServerId;
use nat_core::flow::{Endpoint, FlowKey, IpAddress, L4Proto};
use nat_core::time::Instant;

/// Up to `V` virtual servers, each with a pool of `N`, a Maglev table of `M` and windows of `K`
/// buckets (draft-srisuresh-lsnat § 3).
///
/// Several virtual servers may share an address if their services do not overlap (e.g. web and
/// mail pools behind one address, § 3); an inbound packet's destination finds at most one.
#[derive(Clone, Debug)]
pub struct VirtualServerTable<
    A,
    const V: usize,
    const N: usize,
    const M: usize = 0,
    const K: usize = 8,
> {
    entries: [Option<VirtualServer<A, N, M, K>>; V],
}

impl<A: IpAddress, const V: usize, const N: usize, const M: usize, const K: usize> Default
    for VirtualServerTable<A, V, N, M, K>
{
    fn default() -> Self {
        Self::new()
    }
}

fn overlaps<A: IpAddress, const N: usize, const M: usize, const K: usize>(
    a: &VirtualServer<A, N, M, K>,
    b: &VirtualServer<A, N, M, K>,
) -> bool {
    a.addr() == b.addr()
        && (a.services().next().is_none()
            || b.services().next().is_none()
            || a.services()
                .any(|s| b.services().any(|t| (s.proto, s.port) == (t.proto, t.port))))
}

impl<A: IpAddress, const V: usize, const N: usize, const M: usize, const K: usize>
    VirtualServerTable<A, V, N, M, K>
{
    /// An empty table (draft-srisuresh-lsnat § 3).
    pub fn new() -> Self {
        VirtualServerTable {
            entries: core::array::from_fn(|_| None),
        }
    }

    /// Add a virtual server; returns its index. Fails if the table is full or another virtual
    /// server already shares one of its services on the same address (draft-srisuresh-lsnat § 3).
    pub fn insert(&mut self, vs: VirtualServer<A, N, M, K>) -> Result<usize, ConfigError> {
        if self.entries.iter().flatten().any(|e| overlaps(e, &vs)) {
            return Err(ConfigError::Overlap);
        }
        let index = self
            .entries
            .iter()
            .position(Option::is_none)
            .ok_or(ConfigError::TableFull)?;
        let slot = self.entries.get_mut(index).ok_or(ConfigError::TableFull)?;
        *slot = Some(vs);
        Ok(index)
    }

    /// Remove and return the virtual server at `index` (draft-srisuresh-lsnat § 3).
    pub fn remove(&mut self, index: usize) -> Option<VirtualServer<A, N, M, K>> {
        self.entries.get_mut(index)?.take()
    }

    /// The virtual server at `index` (draft-srisuresh-lsnat § 3).
    pub fn get(&self, index: usize) -> Option<&VirtualServer<A, N, M, K>> {
        self.entries.get(index)?.as_ref()
    }

    /// The virtual server at `index`, to configure it (draft-srisuresh-lsnat § 3).
    pub fn get_mut(&mut self, index: usize) -> Option<&mut VirtualServer<A, N, M, K>> {
        self.entries.get_mut(index)?.as_mut()
    }

    /// The index of the virtual server that load-shares `dst` over `proto`, if any
    /// (draft-srisuresh-lsnat § 3).
    pub fn find(&self, proto: L4Proto, dst: Endpoint<A>) -> Option<usize> {
        self.entries.iter().position(|e| {
            e.as_ref()
                .is_some_and(|vs| vs.addr() == dst.addr && vs.serves(proto, dst.port))
        })
    }

    /// Find the virtual server for a new inbound session and choose its server; returns both
    /// (draft-srisuresh-lsnat § 3, § 4.1).
    pub fn choose(
        &mut self,
        now: Instant,
        key: &FlowKey<A>,
    ) -> Result<(usize, ServerId), ChooseError> {
        let index = self
            .find(key.proto, key.dst)
            .ok_or(ChooseError::NotLoadShared)?;
        let vs = self.get_mut(index).ok_or(ChooseError::NotLoadShared)?;
        Ok((index, vs.choose(now, key)?))
    }

    /// Run due health timers of every virtual server (draft-srisuresh-lsnat § 6).
    pub fn handle_timeout(&mut self, now: Instant) {
        for vs in self.entries.iter_mut().flatten() {
            vs.handle_timeout(now);
        }
    }

    /// The earliest instant any virtual server has timer work (draft-srisuresh-lsnat § 6).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries
            .iter()
            .flatten()
            .filter_map(VirtualServer::poll_timeout)
            .min()
    }

    /// The virtual servers with their indices (draft-srisuresh-lsnat § 3).
    pub fn iter(&self) -> impl Iterator<Item = (usize, &VirtualServer<A, N, M, K>)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|vs| (i, vs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::Algorithm;
    use crate::server::ServerSpec;
    use crate::virtual_server::{Service, VirtualServerConfig};
    use core::net::Ipv4Addr;

    type Vs = VirtualServer<Ipv4Addr, 4>;

    const VIP: Ipv4Addr = Ipv4Addr::new(172, 87, 0, 100);

    fn vs(services: &[u16], server: u8) -> Vs {
        let mut v = Vs::new(VIP, Algorithm::RoundRobin, VirtualServerConfig::default()).unwrap();
        for &p in services {
            v.add_service(Service::new(L4Proto::Tcp, p)).unwrap();
        }
        v.pool_mut()
            .add(ServerSpec::new(Ipv4Addr::new(10, 0, 0, server)))
            .unwrap();
        v
    }

    fn key(port: u16) -> FlowKey<Ipv4Addr> {
        FlowKey::new(
            L4Proto::Tcp,
            Endpoint::new(Ipv4Addr::new(198, 76, 29, 7), 1024),
            Endpoint::new(VIP, port),
        )
    }

    #[test]
    fn destination_finds_the_virtual_server_of_its_service() {
        let mut t = VirtualServerTable::<Ipv4Addr, 4, 4>::new();
        let web = t.insert(vs(&[80, 443], 1)).unwrap();
        let mail = t.insert(vs(&[25], 2)).unwrap();
        assert_eq!(t.find(L4Proto::Tcp, Endpoint::new(VIP, 443)), Some(web));
        assert_eq!(t.find(L4Proto::Tcp, Endpoint::new(VIP, 25)), Some(mail));
        assert_eq!(t.find(L4Proto::Udp, Endpoint::new(VIP, 25)), None);
        assert_eq!(t.find(L4Proto::Tcp, Endpoint::new(VIP, 22)), None);
        let (i, s) = t.choose(Instant::ZERO, &key(25)).unwrap();
        assert_eq!(i, mail);
        assert_eq!(
            t.get(mail).unwrap().pool().spec(s).unwrap().addr,
            Ipv4Addr::new(10, 0, 0, 2)
        );
        assert_eq!(
            t.choose(Instant::ZERO, &key(22)),
            Err(ChooseError::NotLoadShared)
        );
    }

    #[test]
    fn overlapping_services_on_one_address_are_refused() {
        let mut t = VirtualServerTable::<Ipv4Addr, 4, 4>::new();
        t.insert(vs(&[80], 1)).unwrap();
        assert_eq!(
            t.insert(vs(&[80, 8080], 2)).err(),
            Some(ConfigError::Overlap)
        );
        assert_eq!(t.insert(vs(&[], 2)).err(), Some(ConfigError::Overlap));
    }

    #[test]
    fn full_table_is_a_typed_error() {
        let mut t = VirtualServerTable::<Ipv4Addr, 1, 4>::new();
        t.insert(vs(&[80], 1)).unwrap();
        assert_eq!(t.insert(vs(&[81], 1)).err(), Some(ConfigError::TableFull));
        assert!(t.remove(0).is_some());
        assert!(t.insert(vs(&[81], 1)).is_ok());
    }

    #[test]
    fn table_timeout_is_the_earliest_of_its_servers() {
        let mut t = VirtualServerTable::<Ipv4Addr, 2, 4>::new();
        let a = t.insert(vs(&[80], 1)).unwrap();
        let b = t.insert(vs(&[81], 2)).unwrap();
        assert_eq!(t.poll_timeout(), None);
        for (i, at) in [(a, 5), (b, 2)] {
            let v = t.get_mut(i).unwrap();
            let id = v.pool().ids().next().unwrap();
            v.pool_mut().bind(Instant::from_secs(at), id, 1).unwrap();
        }
        assert_eq!(t.poll_timeout(), Some(Instant::from_secs(5)));
        t.handle_timeout(Instant::from_secs(5));
        assert_eq!(t.iter().count(), 2);
    }
}
