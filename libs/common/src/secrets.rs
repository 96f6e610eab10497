//! Secrets that the embedded default may generate for itself.
//!
//! A deployment configures its secrets; a single process with nothing configured gets a
//! random one, generated once and kept in the data directory (mode 0600), so restarts keep
//! tokens valid and stored sessions readable.

use std::io::Write as _;
use std::path::Path;

use rand::RngCore;

/// Creates `dir` and any missing parents readable by their owner only (0700): the data
/// directory holds cached messages, phone numbers, push keys and session keys. An
/// existing directory is left as its operator made it.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates the SQLite database file at `path` readable and writable by its owner only
/// (0600), or takes an existing one (and its `-wal` and `-shm` files, which SQLite gives
/// the database file's mode) to that mode: such files hold messages and phone numbers.
pub fn private_database_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut sidecar = path.as_os_str().to_owned();
            sidecar.push(suffix);
            let sidecar = Path::new(&sidecar);
            if sidecar.exists() {
                std::fs::set_permissions(sidecar, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    // No file modes to set off Unix; `path` is otherwise unused there.
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The configured secret when there is one, else the bytes of `<data_dir>/<file_name>`,
/// created with `length` random bytes on first use.
pub fn configured_or_generated(
    configured: Option<Vec<u8>>,
    data_dir: &Path,
    file_name: &str,
    length: usize,
) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret);
    }
    let path = data_dir.join(file_name);
    match std::fs::read(&path) {
        Ok(existing) if existing.len() == length => return Ok(existing),
        Ok(existing) => anyhow::bail!(
            "{} holds {} bytes; {length} expected",
            path.display(),
            existing.len()
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => anyhow::bail!("cannot read {}: {error}", path.display()),
    }
    create_private_dir(data_dir)?;
    let mut secret = vec![0_u8; length];
    rand::rng().fill_bytes(&mut secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .map_err(|error| anyhow::anyhow!("cannot create {}: {error}", path.display()))?;
    file.write_all(&secret)?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "generated a secret");
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_kept_and_a_configured_one_wins() {
        let dir = std::env::temp_dir().join(format!("talkapp-secrets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = configured_or_generated(None, &dir, "k.key", 32).expect("generated");
        let again = configured_or_generated(None, &dir, "k.key", 32).expect("read back");
        assert_eq!(first, again);
        assert_eq!(first.len(), 32);
        let configured =
            configured_or_generated(Some(vec![1; 32]), &dir, "k.key", 32).expect("configured");
        assert_eq!(configured, vec![1; 32]);
        assert!(configured_or_generated(None, &dir, "k.key", 64).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
