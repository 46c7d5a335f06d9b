//! The production randomness source.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ward_core::Entropy;

/// The operating system's CSPRNG, through aws-lc-rs.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, dest: &mut [u8]) {
        // aws-lc's RNG only fails if the OS cannot give entropy at all; continuing then would
        // hand out predictable secrets, so stopping the process is the only safe answer.
        #[allow(clippy::expect_used)]
        aws_lc_rs::rand::fill(dest).expect("the operating system's random number generator failed");
    }
}

/// `bytes` random bytes as unpadded base64url.
pub fn random_string(entropy: &dyn Entropy, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    entropy.fill(&mut buf);
    URL_SAFE_NO_PAD.encode(&buf)
}
