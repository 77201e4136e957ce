//! Stateless IP/ICMP translation (SIIT, RFC 7915) and IPv6 address mapping (RFC 6052, RFC 7757).
