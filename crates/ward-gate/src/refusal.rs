//! Why a client was turned away: the label of `ward_<gate>_auth_failures_total{reason}` and
//! the `reason` of a `refused` audit event. One enum, so the README's list of labels is the
//! list of variants (a test holds it to that).

use ward_token::remote::VerifyError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// Authentication took longer than `auth_timeout`.
    Timeout,
    /// The client spoke something other than the protocol.
    Protocol,
    /// The connection failed during the handshake.
    Io,
    /// The TLS handshake failed.
    Tls,
    /// A replication connection (PostgreSQL).
    Replication,
    /// A token as a cleartext password, without TLS, from off the machine.
    InsecurePassword,
    /// No token, an empty one, or not a JWT.
    Malformed,
    /// An OAUTHBEARER client asked where to get a token (not a failure of its own making).
    Discovery,
    /// The client's user name is not the token's identity (`match_user`).
    UserMismatch,
    /// No role rule matches the token's roles.
    NoMapping,
    /// The gate is at `max_client_connections`.
    TooManyClients,
    /// Every backend connection stayed busy for `queue_timeout`.
    QueueTimeout,
    /// The backend could not be reached or refused the service account.
    Backend,
    UntrustedIssuer,
    Algorithm,
    CriticalHeader,
    UnknownKey,
    KeysUnavailable,
    Signature,
    Expired,
    NotYetValid,
    Audience,
    Scope,
    Claim,
    TokenType,
    Lifetime,
}

impl RefusalReason {
    pub const ALL: [Self; 26] = [
        Self::Timeout,
        Self::Protocol,
        Self::Io,
        Self::Tls,
        Self::Replication,
        Self::InsecurePassword,
        Self::Malformed,
        Self::Discovery,
        Self::UserMismatch,
        Self::NoMapping,
        Self::TooManyClients,
        Self::QueueTimeout,
        Self::Backend,
        Self::UntrustedIssuer,
        Self::Algorithm,
        Self::CriticalHeader,
        Self::UnknownKey,
        Self::KeysUnavailable,
        Self::Signature,
        Self::Expired,
        Self::NotYetValid,
        Self::Audience,
        Self::Scope,
        Self::Claim,
        Self::TokenType,
        Self::Lifetime,
    ];

    /// The metric label and audit `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Protocol => "protocol",
            Self::Io => "io",
            Self::Tls => "tls",
            Self::Replication => "replication",
            Self::InsecurePassword => "insecure_password",
            Self::Malformed => "malformed",
            Self::Discovery => "discovery",
            Self::UserMismatch => "user_mismatch",
            Self::NoMapping => "no_mapping",
            Self::TooManyClients => "too_many_clients",
            Self::QueueTimeout => "queue_timeout",
            Self::Backend => "backend",
            Self::UntrustedIssuer => "untrusted_issuer",
            Self::Algorithm => "algorithm",
            Self::CriticalHeader => "crit",
            Self::UnknownKey => "unknown_kid",
            Self::KeysUnavailable => "keys_unavailable",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Audience => "audience",
            Self::Scope => "scope",
            Self::Claim => "claim",
            Self::TokenType => "typ",
            Self::Lifetime => "lifetime",
        }
    }
}

impl From<&VerifyError> for RefusalReason {
    fn from(e: &VerifyError) -> Self {
        match e {
            VerifyError::Malformed => Self::Malformed,
            VerifyError::UntrustedIssuer => Self::UntrustedIssuer,
            VerifyError::Algorithm => Self::Algorithm,
            VerifyError::CriticalHeader => Self::CriticalHeader,
            VerifyError::UnknownKey => Self::UnknownKey,
            VerifyError::KeysUnavailable => Self::KeysUnavailable,
            VerifyError::BadSignature => Self::Signature,
            VerifyError::Expired => Self::Expired,
            VerifyError::NotYetValid => Self::NotYetValid,
            VerifyError::Audience => Self::Audience,
            VerifyError::MissingScope(_) => Self::Scope,
            VerifyError::MissingClaim(_) => Self::Claim,
            VerifyError::TokenType => Self::TokenType,
            VerifyError::Lifetime => Self::Lifetime,
        }
    }
}

impl std::fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_refusals_keep_the_verifiers_labels() {
        for e in [VerifyError::Expired, VerifyError::MissingScope("x".into()), VerifyError::CriticalHeader] {
            assert_eq!(RefusalReason::from(&e).as_str(), e.reason());
        }
    }

    #[test]
    fn the_readme_lists_every_label() {
        let readme = include_str!("../../../README.md");
        let section = readme.split("_auth_failures_total{reason}").nth(1).unwrap_or_default();
        let listed = section.split("`ward_pg_pool_wait_seconds").next().unwrap_or_default();
        for reason in RefusalReason::ALL {
            assert!(listed.contains(&format!("`{}`", reason.as_str())), "README misses the label {reason}");
        }
    }
}
