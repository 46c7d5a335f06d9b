//! Randomness as a parameter. The production source lives in `ward-token` (aws-lc-rs);
//! tests may pass a deterministic one.

pub trait Entropy: Send + Sync + 'static {
    /// Fills `dest` with cryptographically secure random bytes.
    fn fill(&self, dest: &mut [u8]);
}
