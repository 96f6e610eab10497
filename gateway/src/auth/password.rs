//! Argon2id password hashing, off the async runtime.
//!
//! Each hash works through 19 MiB of memory. Allocating it per call let the allocator
//! keep gigabytes after a burst of sign-ins (3.7 GB after 300 wrong passwords, spread
//! over the blocking threads' arenas; issue 16, finding 11), so hashes run at most
//! [`HASHING_AT_ONCE`] at a time, each in a reused work area: the process holds
//! `HASHING_AT_ONCE` × 19 MiB for hashing, whatever the load.

use std::sync::{Mutex, PoisonError};

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Argon2id with OWASP's recommended minimum: 19 MiB, 2 passes, 1 lane.
fn params() -> Params {
    Params::new(19 * 1024, 2, 1, None).unwrap_or_default()
}

/// Hashes computed at once, process-wide (a two-core machine is busy with two). Callers
/// beyond wait their turn; the per-address sign-in rate limit keeps the queue short.
const HASHING_AT_ONCE: usize = 2;

static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(HASHING_AT_ONCE);

/// Work areas of finished hashes, for the next ones (at most [`HASHING_AT_ONCE`]).
static WORK_AREAS: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Runs `hash` with a work area of `blocks` blocks: a kept one when it fits.
fn with_work_area<T>(blocks: usize, hash: impl FnOnce(&mut [Block]) -> T) -> T {
    let kept = {
        let mut areas = WORK_AREAS.lock().unwrap_or_else(PoisonError::into_inner);
        areas
            .iter()
            .position(|area| area.len() == blocks)
            .map(|at| areas.swap_remove(at))
    };
    let mut area = kept.unwrap_or_else(|| vec![Block::default(); blocks]);
    let outcome = hash(&mut area);
    let mut areas = WORK_AREAS.lock().unwrap_or_else(PoisonError::into_inner);
    if areas.len() < HASHING_AT_ONCE {
        areas.push(area);
    }
    outcome
}

/// The raw Argon2 output of `password` under `salt`, `params`, of `length` bytes.
fn raw_hash(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: Salt<'_>,
    length: usize,
) -> anyhow::Result<Output> {
    let mut salt_bytes = [0_u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|error| anyhow::anyhow!("salt unreadable: {error}"))?;
    let blocks = params.block_count();
    let hasher = Argon2::new(algorithm, version, params);
    with_work_area(blocks, |area| {
        Output::init_with(length, |out| {
            hasher
                .hash_password_into_with_memory(password, salt_bytes, out, &mut *area)
                .map_err(|_| argon2::password_hash::Error::Crypto)
        })
    })
    .map_err(|error| anyhow::anyhow!("hashing failed: {error}"))
}

/// Hashes `password` into a PHC string.
pub async fn hash(password: String) -> anyhow::Result<String> {
    let _turn = HASHING.acquire().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let params = params();
        let output = raw_hash(
            Algorithm::Argon2id,
            Version::V0x13,
            params.clone(),
            password.as_bytes(),
            salt.as_salt(),
            Params::DEFAULT_OUTPUT_LEN,
        )?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params)
                .map_err(|error| anyhow::anyhow!("hashing failed: {error}"))?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(phc.to_string())
    })
    .await?
}

/// Whether `password` matches `phc_hash`. With no hash (unknown email) a dummy hash is
/// checked instead, so both cases take the same time and do not reveal which emails exist.
pub async fn verify(password: String, phc_hash: Option<String>) -> anyhow::Result<bool> {
    let _turn = HASHING.acquire().await?;
    tokio::task::spawn_blocking(move || {
        let known = phc_hash.is_some();
        let phc_hash = phc_hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&phc_hash)
            .map_err(|error| anyhow::anyhow!("stored hash unreadable: {error}"))?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            anyhow::bail!("stored hash has no salt or no hash");
        };
        let algorithm = Algorithm::try_from(parsed.algorithm)
            .map_err(|error| anyhow::anyhow!("stored hash unreadable: {error}"))?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|error| anyhow::anyhow!("stored hash unreadable: {error}"))?
            .unwrap_or_default();
        let params = Params::try_from(&parsed)
            .map_err(|error| anyhow::anyhow!("stored hash unreadable: {error}"))?;
        let computed = raw_hash(
            algorithm,
            version,
            params,
            password.as_bytes(),
            salt,
            expected.len(),
        )?;
        // `Output` compares in constant time.
        Ok(known && computed == expected)
    })
    .await?
}

/// Argon2id hash of a random string nobody knows, with the same parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3sE5dhvaHNDo5uQeNmvCU9hVDFuBT5ruEzPNNDcydyM";

#[cfg(test)]
mod tests {
    use argon2::PasswordHasher as _;

    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hash = hash("correct horse".into()).await.expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse".into(), Some(hash.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !verify("wrong horse".into(), Some(hash))
                .await
                .expect("verify")
        );
        assert!(!verify("anything".into(), None).await.expect("verify"));
    }

    #[tokio::test]
    async fn hashes_made_by_the_argon2_crate_itself_still_verify() {
        // Accounts registered before the work areas were reused.
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
            .hash_password(b"old password", &salt)
            .expect("hash")
            .to_string();
        assert!(
            verify("old password".into(), Some(stored.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !verify("new password".into(), Some(stored))
                .await
                .expect("verify")
        );
        // And ours read back through the crate's own parser and verifier.
        let ours = hash("mine".into()).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("phc");
        use argon2::PasswordVerifier as _;
        assert!(Argon2::default().verify_password(b"mine", &parsed).is_ok());
    }
}
