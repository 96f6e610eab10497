//! Randomness for keys and salts.
//!
//! `p256` 0.13 speaks `rand_core` 0.6 while the workspace is on `rand` 0.9, so rather than
//! bridging the two traits we draw bytes from `rand`'s thread RNG (a CSPRNG seeded from the
//! OS and reseeded periodically) and build keys from them.

use p256::SecretKey;
use rand::RngCore;

/// `N` random bytes.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A uniformly random P-256 private key.
///
/// 32 random bytes are a valid scalar unless they are zero or at least the group order,
/// which happens with probability below 2^-32; those draws are simply retried, which keeps
/// the distribution uniform.
pub(crate) fn random_secret_key() -> SecretKey {
    loop {
        let candidate = random_bytes::<32>();
        if let Ok(key) = SecretKey::from_bytes(&candidate.into()) {
            return key;
        }
    }
}
