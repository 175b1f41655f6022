//! Cache artifacts: a task's outputs and its log as one tar.zst, the
//! format Turborepo's caches hold, named by the task's key. The local
//! store is `<cache dir>/<key hex>.tar.zst`, written to a temporary file
//! and renamed, so a reader sees a whole artifact or none; a damaged one
//! (cut short, not zstd, not tar, a path leaving the plan folder) is a miss
//! with a warning, never a wrong restore.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// Where a task's log sits inside an artifact; outputs sit under `outputs/`.
const LOG: &str = "log";
const OUTPUTS: &str = "outputs/";

/// One file of an artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Relative to the plan folder, `/`-separated.
    pub path: String,
    pub mode: u32,
    pub bytes: Vec<u8>,
}

/// A task's cached result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub files: Vec<File>,
    pub log: Vec<u8>,
}

/// The artifact's bytes: tar (ustar, no timestamps or owners, so the same
/// outputs give the same bytes) compressed with zstd.
pub fn pack(a: &Artifact) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, mode: u32, bytes: &[u8]| -> std::io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, bytes)
    };
    add(LOG, 0o644, &a.log)?;
    for f in &a.files {
        add(&format!("{OUTPUTS}{}", f.path), f.mode, &f.bytes)?;
    }
    let raw = tar.into_inner()?;
    zstd::stream::encode_all(&raw[..], 3)
}

/// Reads artifact bytes; `Err` says what is wrong with them.
pub fn unpack(bytes: &[u8]) -> Result<Artifact, String> {
    let raw = zstd::stream::decode_all(bytes).map_err(|e| format!("not zstd: {e}"))?;
    let mut ar = tar::Archive::new(&raw[..]);
    let mut files = Vec::new();
    let mut log = None;
    for e in ar.entries().map_err(|e| format!("not tar: {e}"))? {
        let mut e = e.map_err(|e| format!("not tar: {e}"))?;
        if e.header().entry_type() != tar::EntryType::Regular {
            return Err("an entry that is not a regular file".into());
        }
        let path = e
            .path()
            .map_err(|e| format!("a bad path: {e}"))?
            .to_string_lossy()
            .into_owned();
        let mode = e.header().mode().unwrap_or(0o644);
        let mut bytes = Vec::new();
        e.read_to_end(&mut bytes)
            .map_err(|e| format!("cut short: {e}"))?;
        if path == LOG {
            log = Some(bytes);
        } else if let Some(p) = path.strip_prefix(OUTPUTS) {
            if !inside(p) {
                return Err(format!("output {p:?} leaves the plan folder"));
            }
            files.push(File {
                path: p.to_string(),
                mode,
                bytes,
            });
        } else {
            return Err(format!("an unknown entry {path:?}"));
        }
    }
    Ok(Artifact {
        files,
        log: log.ok_or("no log entry")?,
    })
}

/// A relative path with no `..`, root or prefix.
fn inside(p: &str) -> bool {
    !p.is_empty()
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Reads the outputs `paths` (relative to `dir`) and the log into an
/// artifact; a symlink or unreadable file is an error naming it.
pub fn collect(dir: &Path, paths: &[String], log: Vec<u8>) -> Result<Artifact, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    for p in paths {
        let full = dir.join(p);
        let meta = std::fs::symlink_metadata(&full).map_err(|e| format!("output {p}: {e}"))?;
        if meta.file_type().is_symlink() {
            return Err(format!(
                "output {p} is a symlink; the cache stores regular files only"
            ));
        }
        let bytes = std::fs::read(&full).map_err(|e| format!("output {p}: {e}"))?;
        files.push(File {
            path: p.clone(),
            mode: meta.permissions().mode() & 0o7777,
            bytes,
        });
    }
    Ok(Artifact { files, log })
}

/// How a restore went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Files written (absent before, or different and `force`).
    pub written: usize,
    /// Files already equal to the artifact's.
    pub same: usize,
    /// Files that differ from the artifact's and were kept (no `force`).
    pub kept: Vec<String>,
}

/// Writes the artifact's outputs under `dir`, each to a temporary file
/// beside it then renamed (a reader never sees half a file). A file that
/// exists with other contents is overwritten only with `force`.
pub fn restore(a: &Artifact, dir: &Path, force: bool) -> std::io::Result<Restored> {
    use std::os::unix::fs::PermissionsExt;
    let mut r = Restored::default();
    for f in &a.files {
        let path = dir.join(&f.path);
        match std::fs::read(&path) {
            Ok(old) if old == f.bytes => {
                r.same += 1;
                continue;
            }
            Ok(_) if !force => {
                r.kept.push(f.path.clone());
                continue;
            }
            _ => {}
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = tmp_beside(&path);
        let mut out = std::fs::File::create(&tmp)?;
        out.write_all(&f.bytes)?;
        out.set_permissions(std::fs::Permissions::from_mode(f.mode))?;
        drop(out);
        std::fs::rename(&tmp, &path)?;
        r.written += 1;
    }
    Ok(r)
}

fn tmp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.parci-tmp-{}", std::process::id()))
}

/// The local store: `<dir>/<key hex>.tar.zst`.
#[derive(Clone, Debug)]
pub struct Local {
    pub dir: PathBuf,
}

impl Local {
    /// The artifact file of `key` (`sha256:<hex>`).
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}.tar.zst", hex_of(key)))
    }

    /// The artifact's bytes, `Ok(None)` when there is none.
    pub fn get(&self, key: &str) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(key)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores artifact bytes under `key` (temporary file, then rename).
    pub fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        crate::fsutil::write_atomic(&self.path(key), bytes)
    }
}

/// The hex digits of a `sha256:` key (Turborepo's artifact hash form).
pub fn hex_of(key: &str) -> &str {
    key.strip_prefix("sha256:").unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Artifact {
        Artifact {
            files: vec![
                File {
                    path: "out/a.txt".into(),
                    mode: 0o644,
                    bytes: b"alpha\n".to_vec(),
                },
                File {
                    path: "bin/run".into(),
                    mode: 0o755,
                    bytes: vec![0, 1, 2, 255],
                },
            ],
            log: b"built\n".to_vec(),
        }
    }

    #[test]
    fn artifacts_round_trip_byte_for_byte_and_pack_the_same_twice() {
        let a = sample();
        let bytes = pack(&a).unwrap();
        assert_eq!(unpack(&bytes).unwrap(), a);
        assert_eq!(pack(&a).unwrap(), bytes, "no timestamps: the same bytes");
    }

    #[test]
    fn damaged_artifacts_are_errors_not_restores() {
        let bytes = pack(&sample()).unwrap();
        assert!(unpack(&bytes[..bytes.len() / 2]).is_err());
        assert!(unpack(b"hello").unwrap_err().starts_with("not zstd"));
        // a hand-made archive whose entry climbs out (tar's builder refuses
        // to write one; an attacker's server would not)
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.as_mut_bytes()[..17].copy_from_slice(b"outputs/../escape");
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append(&h, &[1u8][..]).unwrap();
        let evil = zstd::stream::encode_all(&tar.into_inner().unwrap()[..], 3).unwrap();
        let e = unpack(&evil).unwrap_err();
        assert!(e.contains("leaves the plan folder"), "{e}");
    }

    #[test]
    fn restore_writes_keeps_or_forces() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let a = sample();
        let r = restore(&a, t.path(), false).unwrap();
        assert_eq!((r.written, r.same), (2, 0));
        assert_eq!(
            std::fs::read(t.path().join("bin/run")).unwrap(),
            vec![0, 1, 2, 255]
        );
        let mode = std::fs::metadata(t.path().join("bin/run"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(restore(&a, t.path(), false).unwrap().same, 2);
        std::fs::write(t.path().join("out/a.txt"), "edited").unwrap();
        let r = restore(&a, t.path(), false).unwrap();
        assert_eq!(r.kept, vec!["out/a.txt".to_string()]);
        assert_eq!(
            std::fs::read_to_string(t.path().join("out/a.txt")).unwrap(),
            "edited"
        );
        restore(&a, t.path(), true).unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("out/a.txt")).unwrap(),
            "alpha\n"
        );
        let left: Vec<_> = std::fs::read_dir(t.path().join("out")).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary files left");
    }
}
