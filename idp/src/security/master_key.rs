//! The master key that seals private signing keys (and later TOTP secrets) at rest.
//! Production takes it from configuration (`KENPO_SECRETS__MASTER_KEY`, 32 bytes in base64, or
//! a `_FILE`); development creates a random one in a file next to the SQLite database.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub fn parse(b64: &str) -> Result<[u8; 32], String> {
    let bytes =
        STANDARD.decode(b64.trim()).map_err(|_| "secrets.master_key must be base64 (32 random bytes)".to_string())?;
    bytes.try_into().map_err(|_| "secrets.master_key must decode to exactly 32 bytes".to_string())
}

/// Loads the key from `path`, creating it (mode 0600) when missing.
pub fn load_or_create(path: &Path) -> Result<[u8; 32], String> {
    if path.exists() {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        return parse(&text);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let key: [u8; 32] = kenpo_shared::crypto::random_bytes();
    write_private(path, &STANDARD.encode(key))?;
    Ok(key)
}

fn write_private(path: &Path, content: &str) -> Result<(), String> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(content.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn created_key_is_reloaded() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let p = dir.path().join("k/master.key");
        let a = super::load_or_create(&p);
        let b = super::load_or_create(&p);
        assert!(a.is_ok());
        assert_eq!(a, b);
        assert!(super::parse("c2hvcnQ=").is_err());
    }
}
