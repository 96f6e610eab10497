//! The server's half of Telegram's two-step verification (SRP-2048 over SHA-256), see
//! <https://core.telegram.org/api/srp>.
//!
//! The account stores only the verifier `v = g^x mod p`, where
//! `x = PH2(password, salt1, salt2)`. For each `account.getPassword` the server draws a
//! secret `b` and publishes `B = (k·v + g^b) mod p`; `auth.checkPassword` then proves that
//! the client knew the password by matching its `M1` against the one computed here.

use std::sync::OnceLock;

use num_bigint::BigUint;
use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};

/// Telegram's generator for this prime (the same `p`, `g` pair it hands out in
/// `passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow`).
pub(crate) const G: i32 = 3;

/// Telegram's 2048-bit safe prime, as published for DH and 2FA.
const PRIME_HEX: &str = concat!(
    "c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f",
    "48198a0aa7c14058229493d22530f4dbfa336f6e0ac925139543aed44cce7c37",
    "20fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f64",
    "2477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4",
    "a4a695811051907e162753b56b0f6b410dba74d8a84b2a14b3144e0ef1284754",
    "fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4",
    "e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f",
    "0d8115f635b105ee2e4e15d04b2454bf6f4fadf034b10403119cd8e3b92fcc5b",
);

/// The prime `p` as the 256 big-endian bytes sent to clients (Telegram's, with `g` = 3).
pub fn prime_bytes() -> &'static [u8] {
    static PRIME: OnceLock<Vec<u8>> = OnceLock::new();
    PRIME.get_or_init(|| {
        (0..PRIME_HEX.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&PRIME_HEX[i..i + 2], 16).ok())
            .collect()
    })
}

fn prime() -> &'static BigUint {
    static PRIME: OnceLock<BigUint> = OnceLock::new();
    PRIME.get_or_init(|| BigUint::from_bytes_be(prime_bytes()))
}

fn pad256(value: &BigUint) -> [u8; 256] {
    let bytes = value.to_bytes_be();
    let mut out = [0u8; 256];
    // Every value here is reduced mod p, so it fits; a longer one would be a bug upstream.
    let len = bytes.len().min(256);
    out[256 - len..].copy_from_slice(&bytes[bytes.len() - len..]);
    out
}

fn h(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// SH(data, salt) := H(salt | data | salt)
fn sh(data: &[u8], salt: &[u8]) -> [u8; 32] {
    h(&[salt, data, salt])
}

/// PBKDF2-HMAC-SHA512 producing exactly one 64-byte block.
fn pbkdf2_hmac_sha512(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 64] {
    const BLOCK: usize = 128;
    let mut key = [0u8; BLOCK];
    if password.len() > BLOCK {
        key[..64].copy_from_slice(&Sha512::digest(password));
    } else {
        key[..password.len()].copy_from_slice(password);
    }
    let mut inner_pad = Sha512::new();
    let mut outer_pad = Sha512::new();
    inner_pad.update(key.map(|b| b ^ 0x36));
    outer_pad.update(key.map(|b| b ^ 0x5c));
    let hmac = |parts: &[&[u8]]| -> [u8; 64] {
        let mut inner = inner_pad.clone();
        for part in parts {
            inner.update(part);
        }
        let mut outer = outer_pad.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    };

    let mut u = hmac(&[salt, &1u32.to_be_bytes()]);
    let mut t = u;
    for _ in 1..rounds {
        u = hmac(&[&u]);
        t.iter_mut().zip(u.iter()).for_each(|(t, u)| *t ^= u);
    }
    t
}

/// PH2(password, salt1, salt2) := SH(pbkdf2(sha512, PH1(password, salt1, salt2), salt1, 100000), salt2)
fn ph2(password: &[u8], salt1: &[u8], salt2: &[u8]) -> [u8; 32] {
    let ph1 = sh(&sh(password, salt1), salt2);
    sh(&pbkdf2_hmac_sha512(&ph1, salt1, 100_000), salt2)
}

/// k := H(p | g)
fn multiplier() -> &'static BigUint {
    static MULTIPLIER: OnceLock<BigUint> = OnceLock::new();
    MULTIPLIER.get_or_init(|| {
        let g = pad256(&BigUint::from(G as u32));
        BigUint::from_bytes_be(&h(&[prime_bytes(), &g]))
    })
}

/// Bytes of the server's secret exponent `b`: 256 bits. Each SRP round costs the server
/// two exponentiations by `b` (`g^b` for `B`, then the shared secret), made under the
/// sandbox's state lock (every other call of every account waits meanwhile). With a
/// 2048-bit `b`, as `a` is on the client, the sandbox spent about 19 ms of CPU per 2FA
/// link; with a 256-bit one, an eighth of the exponentiations' work, about 7 ms
/// (docs/BENCHMARKS.md, 2026-12-06, "linking with 2FA"). An exponent of twice the security level (128 bits) is the usual size for
/// Diffie-Hellman in a 2048-bit safe-prime group (RFC 7919 §5.2: 225 bits or more); the
/// client cannot tell, its `a` stays full length.
const SECRET_EXPONENT_BYTES: usize = 32;

/// What an account with 2FA stores: never the password itself.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(into = "StoredVerifier", from = "StoredVerifier")]
pub(crate) struct PasswordVerifier {
    pub(crate) salt1: Vec<u8>,
    pub(crate) salt2: Vec<u8>,
    verifier: BigUint,
    pub(crate) hint: Option<String>,
}

/// [`PasswordVerifier`] in the state file: the verifier `v = g^x mod p` as big-endian bytes.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredVerifier {
    #[serde(with = "crate::serde_util::base64_bytes")]
    salt1: Vec<u8>,
    #[serde(with = "crate::serde_util::base64_bytes")]
    salt2: Vec<u8>,
    #[serde(with = "crate::serde_util::base64_bytes")]
    verifier: Vec<u8>,
    hint: Option<String>,
}

impl From<PasswordVerifier> for StoredVerifier {
    fn from(password: PasswordVerifier) -> Self {
        Self {
            salt1: password.salt1,
            salt2: password.salt2,
            verifier: password.verifier.to_bytes_be(),
            hint: password.hint,
        }
    }
}

impl From<StoredVerifier> for PasswordVerifier {
    fn from(stored: StoredVerifier) -> Self {
        Self {
            salt1: stored.salt1,
            salt2: stored.salt2,
            verifier: BigUint::from_bytes_be(&stored.verifier),
            hint: stored.hint,
        }
    }
}

impl std::fmt::Debug for PasswordVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordVerifier")
            .field("hint", &self.hint)
            .finish_non_exhaustive()
    }
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    rand::rng().fill_bytes(&mut out);
    out
}

impl PasswordVerifier {
    /// Derives the verifier with fresh salts (100,000 PBKDF2 rounds: call it once per account).
    pub(crate) fn new(password: &str, hint: Option<String>) -> Self {
        // Telegram's salt1 is a server prefix the client extended with 32 random bytes.
        let salt1 = random_bytes(40);
        let salt2 = random_bytes(16);
        let x = BigUint::from_bytes_be(&ph2(password.as_bytes(), &salt1, &salt2));
        let verifier = BigUint::from(G as u32).modpow(&x, prime());
        Self {
            salt1,
            salt2,
            verifier,
            hint,
        }
    }
}

/// One `account.getPassword` answer's secret half, kept until `auth.checkPassword`.
#[derive(Clone)]
pub(crate) struct Challenge {
    pub(crate) srp_id: i64,
    b: BigUint,
    /// `B`, padded to 256 bytes (`srp_B` on the wire).
    pub(crate) g_b: [u8; 256],
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenge")
            .field("srp_id", &self.srp_id)
            .finish_non_exhaustive()
    }
}

impl Challenge {
    pub(crate) fn new(password: &PasswordVerifier) -> Self {
        let p = prime();
        let b = BigUint::from_bytes_be(&random_bytes(SECRET_EXPONENT_BYTES));
        let g_b = (multiplier() * &password.verifier + BigUint::from(G as u32).modpow(&b, p)) % p;
        Self {
            srp_id: (rand::rng().next_u64() >> 1) as i64,
            b,
            g_b: pad256(&g_b),
        }
    }

    /// Whether `(A, M1)` proves knowledge of the password behind `password`.
    pub(crate) fn verify(&self, password: &PasswordVerifier, g_a: &[u8], m1: &[u8]) -> bool {
        let p = prime();
        let a = BigUint::from_bytes_be(g_a);
        // Reject degenerate A (0, 1, p-1 or out of range): they would fix the shared secret.
        let one = BigUint::from(1u32);
        if a <= one || a >= p - &one || g_a.len() > 256 {
            return false;
        }
        let g_a = pad256(&a);
        let u = BigUint::from_bytes_be(&h(&[&g_a, &self.g_b]));
        // S = (A · v^u)^b mod p, equal to the client's (B - k·v)^(a + u·x).
        let s = (a * password.verifier.modpow(&u, p) % p).modpow(&self.b, p);
        let k_a = h(&[&pad256(&s)]);
        let g = pad256(&BigUint::from(G as u32));
        let h_p = h(&[prime_bytes()]);
        let h_g = h(&[&g]);
        let mut p_xor_g = [0u8; 32];
        p_xor_g
            .iter_mut()
            .enumerate()
            .for_each(|(i, out)| *out = h_p[i] ^ h_g[i]);
        let expected = h(&[
            &p_xor_g,
            &h(&[&password.salt1]),
            &h(&[&password.salt2]),
            &g_a,
            &self.g_b,
            &k_a,
        ]);
        expected.as_slice() == m1
    }
}

#[cfg(test)]
mod tests {
    use grammers_crypto::two_factor_auth::{calculate_2fa, check_p_and_g};

    use super::*;

    #[test]
    fn pbkdf2_matches_rfc_vector() {
        // PBKDF2-HMAC-SHA512, password "password", salt "salt", 1 iteration (RFC 7914 style
        // vector published for SHA-512): first bytes 867f70cf1ade02cf.
        let out = pbkdf2_hmac_sha512(b"password", b"salt", 1);
        assert_eq!(&out[..8], &[0x86, 0x7f, 0x70, 0xcf, 0x1a, 0xde, 0x02, 0xcf]);
    }

    #[test]
    fn prime_and_generator_pass_the_clients_own_check() {
        assert_eq!(prime_bytes().len(), 256);
        assert!(check_p_and_g(prime_bytes(), &G));
    }

    #[test]
    fn grammers_proof_is_accepted_only_for_the_right_password() {
        let stored = PasswordVerifier::new("sandbox-2fa", Some("sandbox".into()));
        let challenge = Challenge::new(&stored);
        let a = random_bytes(256);

        let (m1, g_a) = calculate_2fa(
            &stored.salt1,
            &stored.salt2,
            prime_bytes(),
            &G,
            challenge.g_b.to_vec(),
            a.clone(),
            "sandbox-2fa",
        );
        assert!(challenge.verify(&stored, &g_a, &m1));

        let (m1, g_a) = calculate_2fa(
            &stored.salt1,
            &stored.salt2,
            prime_bytes(),
            &G,
            challenge.g_b.to_vec(),
            a,
            "wrong",
        );
        assert!(!challenge.verify(&stored, &g_a, &m1));
        assert!(!challenge.verify(&stored, &[1], &m1));
    }
}
