//! Which URLs point at this machine. Every rule that lets plain http through for loopback
//! (the issuer, `[[trust]]` issuers and their `jwks_uri`, clients' `jwks_uri`) asks here: the
//! host is parsed out of the URL, so `http://localhost.evil.example/` and
//! `http://localhost@evil.example/` are not loopback.

use std::net::IpAddr;

/// The host of an absolute URL with an authority (`scheme://[userinfo@]host[:port]/…`): without
/// userinfo, port or IPv6 brackets. `None` when there is none.
pub fn url_host(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            if !(after.is_empty() || after.starts_with(':')) {
                return None;
            }
            host
        }
        None => host_port.split(':').next().unwrap_or_default(),
    };
    (!host.is_empty()).then_some(host)
}

/// `localhost` (any case, with or without the final dot), 127.0.0.0/8 or ::1.
pub fn is_loopback_host(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host);
    name.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `url` is plain `http://` (any case).
pub fn is_plain_http(url: &str) -> bool {
    url.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
}

/// Whether `url` is a plain `http://` URL to a loopback host.
pub fn is_loopback_http(url: &str) -> bool {
    is_plain_http(url) && url_host(url).is_some_and(is_loopback_host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_decided_on_the_parsed_host() {
        for yes in [
            "http://localhost",
            "http://LOCALHOST:8080/x",
            "http://localhost./",
            "http://127.0.0.1:9/jwks",
            "http://127.1.2.3/",
            "http://[::1]:8080/",
            "http://user:pw@localhost/",
        ] {
            assert!(is_loopback_http(yes), "{yes}");
        }
        for no in [
            "http://localhost.evil.example/jwks",
            "http://localhost@evil.example/",
            "http://127.0.0.1.evil.example/",
            "http://[::1].evil/",
            "http://10.0.0.1/",
            "http://[::2]/",
            "https://localhost/",
            "http:/localhost/",
            "localhost",
            "http://",
        ] {
            assert!(!is_loopback_http(no), "{no}");
        }
        assert_eq!(url_host("https://u@[::1]:4/p"), Some("::1"));
        assert_eq!(url_host("https://id.example?x"), Some("id.example"));
    }
}
