//! Errors building a gate from its configuration. Sessions never see these: a gate that cannot
//! be built does not start.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("no trusted issuer: add a [[trust]] section")]
    NoTrust,
    #[error("signed_identity has no key")]
    NoIdentityKey,
    #[error("certificate {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("ca_file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("upstream host {0:?} is not a valid name")]
    UpstreamHost(String),
    #[error("verify-full needs a ca_file")]
    NoCaFile,
    #[error(transparent)]
    Secret(#[from] ward_config::gate::SecretSourceError),
    #[error("{0}")]
    Template(#[from] crate::claims::TemplateError),
    #[error("no gate is named {0:?}")]
    UnknownGate(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
}
