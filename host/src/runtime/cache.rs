//! On-disk cache of compiled components, so a JavaScript or Python probe (seconds and
//! hundreds of MB to compile) is compiled once per machine, not once per process.
//!
//! An entry is the output of `Component::serialize`, named
//! `<content>-<settings>.cwasm`: `content` is the SHA-256 of the bytes the user gave
//! (a component or a core module, so a hit skips adaptation too), `settings` a SHA-256 of
//! vigil's version, the engine's `precompile_compatibility_hash` (target, compiler flags,
//! tunables, wasm features, wasmtime version) and what adapting a core module depends on
//! (the bundled WIT, the preview1 adapters). Entries load with
//! `Component::deserialize_file`, which maps the file instead of copying it.
//!
//! # Why deserializing is sound here
//! `deserialize_file` is `unsafe` because wasmtime runs the machine code in the file as
//! is: the file must be one wasmtime wrote, and must not change while it is mapped. The
//! cache guarantees both as far as a process can:
//! - vigil only uses a directory that belongs to the effective user and that neither the
//!   group nor others may write (it creates it with mode 0700); otherwise the disk cache
//!   is switched off with a warning. Each entry is opened once (not following symbolic
//!   links), must be a regular file of this user that nobody else may write, and is mapped
//!   through that same descriptor (`/proc/self/fd/N`), so renaming things around the path
//!   in between cannot substitute another file. Only this user (or root) can create such
//!   a file, and they can already replace the `vigil` binary itself: the cache adds no
//!   new trust.
//! - entries are written to a temporary file, synced, and renamed into place: a reader
//!   sees a whole entry or none, never a torn one, even after a crash. Files are never
//!   modified in place (only replaced by rename or unlinked), so a mapped entry keeps its
//!   contents while any process uses it.
//! - wasmtime checks the header of what it maps (its version, the engine's settings) and
//!   refuses anything else; a file it refuses, or that is not a regular file, is deleted
//!   and compiled afresh.
//!
//! # Bounds
//! After each store, entries unused for [`MAX_IDLE`] are deleted, then the least recently
//! used ones until the cache holds at most [`MAX_BYTES`]; a hit refreshes an entry's mtime.
//! Temporary files older than an hour (a writer that crashed) are deleted too.

use sha2::{Digest, Sha256};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The most bytes of entries the cache keeps (about 40 JavaScript probes).
pub const MAX_BYTES: u64 = 2 << 30;
/// Entries not used for this long are deleted.
pub const MAX_IDLE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Temporary files older than this belong to a writer that died.
const STALE_TEMP: Duration = Duration::from_secs(3600);
/// File name suffix of entries.
const EXT: &str = "cwasm";

/// Why the disk cache cannot be used or written. Never fatal: vigil then compiles as if
/// there were no cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The directory could not be created or read.
    #[error("cannot use cache directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The directory is not a directory.
    #[error("cache directory {path} is not a directory")]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// Someone else owns the directory: its files cannot be trusted as machine code.
    #[error("cache directory {path} belongs to uid {owner}, not to this user (uid {me})")]
    NotOwned {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective user of this process.
        me: u32,
    },
    /// Others may write the directory: its files cannot be trusted as machine code.
    #[error(
        "cache directory {path} is writable by group or others (mode {mode:o}); \
         `chmod 700` it to use it"
    )]
    Writable {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// An entry could not be written.
    #[error("cannot write cache entry {path}: {source}")]
    Write {
        /// The entry's final path.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
}

/// Where `vigil probe run` keeps compiled probes by default: `$XDG_CACHE_HOME/vigil`, else
/// `$HOME/.cache/vigil` (the XDG base directory rules); `None` when neither is set.
pub fn default_dir() -> Option<PathBuf> {
    default_dir_from(
        std::env::var_os("XDG_CACHE_HOME").as_deref(),
        std::env::var_os("HOME").as_deref(),
    )
}

fn default_dir_from(
    xdg_cache_home: Option<&std::ffi::OsStr>,
    home: Option<&std::ffi::OsStr>,
) -> Option<PathBuf> {
    // XDG: a relative path in the variable is invalid and must be ignored.
    let absolute = |v: &std::ffi::OsStr| {
        let p = PathBuf::from(v);
        p.is_absolute().then_some(p)
    };
    xdg_cache_home
        .and_then(absolute)
        .or_else(|| home.and_then(absolute).map(|h| h.join(".cache")))
        .map(|d| d.join("vigil"))
}

/// The SHA-256 of a probe's bytes: what the in-memory and the disk cache are keyed by.
pub type ContentHash = [u8; 32];

/// Hash the bytes a probe was given as.
pub fn content_hash(bytes: &[u8]) -> ContentHash {
    Sha256::digest(bytes).into()
}

/// A directory of compiled components, owned by this user.
#[derive(Debug)]
pub struct DiskCache {
    dir: PathBuf,
    settings: String,
}

impl DiskCache {
    /// Create (mode 0700) or check the directory, and key entries by `engine`'s settings.
    pub fn open(dir: &Path, engine: &Engine) -> Result<Self, CacheError> {
        let dir_err = |source| CacheError::Dir {
            path: dir.to_path_buf(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(dir_err)?;
        let meta = fs::metadata(dir).map_err(dir_err)?;
        check_dir(dir, &meta, effective_uid())?;
        Ok(DiskCache {
            dir: dir.to_path_buf(),
            settings: settings_key(engine),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry for `content` lives.
    pub fn entry_path(&self, content: &ContentHash) -> PathBuf {
        self.dir
            .join(format!("{}-{}.{EXT}", hex(content), self.settings))
    }

    /// The compiled component for `content`, if a usable entry exists. An unusable entry
    /// (corrupt, truncated, from another wasmtime, not a regular file) is deleted.
    pub fn load(&self, engine: &Engine, content: &ContentHash) -> Option<Component> {
        let path = self.entry_path(content);
        // Opened once, checked through the descriptor, and mapped through the same
        // descriptor: whatever happens to the path meanwhile, the bytes wasmtime maps
        // are those of the file checked here.
        let file = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                tracing::warn!(path = %path.display(), "cache entry is a symbolic link; replacing it");
                remove(&path);
                return None;
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read cache entry");
                return None;
            }
        };
        let trusted = file
            .metadata()
            .map_err(|e| e.to_string())
            .and_then(|meta| check_entry(&meta, effective_uid()));
        if let Err(why) = trusted {
            tracing::warn!(path = %path.display(), why, "untrusted cache entry; replacing it");
            remove(&path);
            return None;
        }
        // SAFETY: see the module documentation: the file is a regular file of this user
        // that nobody else may write, written whole by vigil (`Component::serialize`,
        // sync, rename) and never modified in place; wasmtime checks its header against
        // this engine.
        match unsafe { Component::deserialize_file(engine, descriptor_path(&file, &path)) } {
            Ok(component) => {
                touch(&file, &path);
                tracing::debug!(path = %path.display(), "compiled probe loaded from cache");
                Some(component)
            }
            Err(e) => {
                tracing::warn!(
                    path = %path.display(),
                    error = format!("{e:#}"),
                    "unusable cache entry; compiling again"
                );
                remove(&path);
                None
            }
        }
    }

    /// Write the entry for `content` atomically, then trim the cache to its bounds.
    pub fn store(&self, content: &ContentHash, artifact: &[u8]) -> Result<PathBuf, CacheError> {
        let path = self.entry_path(content);
        let tmp = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            hex(content),
            std::process::id(),
            next_temp_id()
        ));
        let write = || -> io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(artifact)?;
            // Synced before the rename so a crash never leaves a named entry with
            // unwritten pages: that would be machine code of unknown content.
            f.sync_all()?;
            fs::rename(&tmp, &path)
        };
        if let Err(source) = write() {
            remove(&tmp);
            return Err(CacheError::Write { path, source });
        }
        tracing::debug!(path = %path.display(), bytes = artifact.len(), "compiled probe stored in cache");
        self.trim(&path, SystemTime::now());
        Ok(path)
    }

    /// Delete stale temporaries, idle entries and, past [`MAX_BYTES`], the least recently
    /// used entries; never `keep`.
    fn trim(&self, keep: &Path, now: SystemTime) {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries = Vec::new();
        for e in dir.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            let Ok(mtime) = meta.modified() else { continue };
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".tmp") {
                if age(now, mtime) > STALE_TEMP {
                    remove(&path);
                }
            } else if meta.is_file() && name.ends_with(&format!(".{EXT}")) && path != keep {
                entries.push(Entry {
                    path,
                    mtime,
                    bytes: meta.len(),
                });
            }
        }
        let kept_bytes = fs::metadata(keep).map(|m| m.len()).unwrap_or(0);
        for victim in evictions(entries, kept_bytes, now) {
            tracing::debug!(path = %victim.display(), "evicting cache entry");
            remove(&victim);
        }
    }
}

/// One entry, as seen when trimming.
#[derive(Debug, Clone)]
struct Entry {
    path: PathBuf,
    mtime: SystemTime,
    bytes: u64,
}

/// Which entries to delete: the idle ones, then the oldest until what is left, plus
/// `kept_bytes` (the entry just written), fits [`MAX_BYTES`].
fn evictions(mut entries: Vec<Entry>, kept_bytes: u64, now: SystemTime) -> Vec<PathBuf> {
    entries.sort_by_key(|e| e.mtime);
    let mut total: u64 = kept_bytes + entries.iter().map(|e| e.bytes).sum::<u64>();
    let mut out = Vec::new();
    for e in entries {
        if age(now, e.mtime) > MAX_IDLE || total > MAX_BYTES {
            total -= e.bytes;
            out.push(e.path);
        }
    }
    out
}

fn age(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or(Duration::ZERO)
}

/// Why a directory may not hold machine code this process will run.
fn check_dir(path: &Path, meta: &fs::Metadata, me: u32) -> Result<(), CacheError> {
    if !meta.is_dir() {
        return Err(CacheError::NotADirectory {
            path: path.to_path_buf(),
        });
    }
    if meta.uid() != me {
        return Err(CacheError::NotOwned {
            path: path.to_path_buf(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(CacheError::Writable {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Why an entry may not be run as machine code, if it may not: it must be a regular file
/// of this user that neither the group nor others may write.
fn check_entry(meta: &fs::Metadata, me: u32) -> Result<(), String> {
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.uid() != me {
        return Err(format!("owned by uid {}, not {me}", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "writable by others (mode {:o})",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// A path that names exactly the open `file`: `/proc/self/fd/N` where procfs exists, else
/// `path` (the ownership checks then still hold for the directory, see the module docs).
fn descriptor_path(file: &fs::File, path: &Path) -> PathBuf {
    use std::os::fd::AsRawFd;
    let by_fd = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    if by_fd.exists() {
        by_fd
    } else {
        path.to_path_buf()
    }
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The part of an entry's name that changes with vigil or the engine's settings.
fn settings_key(engine: &Engine) -> String {
    let mut h = Sha256Hasher(Sha256::new());
    env!("CARGO_PKG_VERSION").hash(&mut h);
    engine.precompile_compatibility_hash().hash(&mut h);
    // A core module's entry holds what adaptation made of it.
    super::adapt::hash_inputs(&mut h);
    hex(&h.0.finalize())[..16].to_string()
}

/// Feeds `Hash` impls into SHA-256, whose output, unlike `DefaultHasher`'s, is the same
/// in every build.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let d = self.0.clone().finalize();
        u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn next_temp_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Mark an entry as just used, for LRU eviction. Through the read-only descriptor: the
/// contents of an entry never change once it is named.
fn touch(file: &fs::File, path: &Path) {
    if let Err(e) = file.set_modified(SystemTime::now()) {
        tracing::debug!(path = %path.display(), error = %e, "cannot refresh cache entry's mtime");
    }
}

fn remove(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot delete cache file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn entry(name: &str, days_ago: u64, bytes: u64, now: SystemTime) -> Entry {
        Entry {
            path: PathBuf::from(name),
            mtime: now - DAY * days_ago as u32,
            bytes,
        }
    }

    #[test]
    fn idle_entries_go_recent_ones_stay() {
        let now = SystemTime::UNIX_EPOCH + DAY * 1000;
        let out = evictions(
            vec![
                entry("recent", 1, 10, now),
                entry("idle", 31, 10, now),
                entry("month", 29, 10, now),
            ],
            10,
            now,
        );
        assert_eq!(out, vec![PathBuf::from("idle")]);
    }

    #[test]
    fn over_budget_the_least_recently_used_go_first() {
        let now = SystemTime::UNIX_EPOCH + DAY * 1000;
        let gib = 1 << 30;
        let out = evictions(
            vec![
                entry("newest", 1, gib / 2, now),
                entry("oldest", 5, gib / 2, now),
                entry("middle", 3, gib / 2, now),
            ],
            gib,
            now,
        );
        // 2.5 GiB in all: dropping the oldest half GiB brings it to the 2 GiB budget.
        assert_eq!(out, vec![PathBuf::from("oldest")]);
    }

    #[test]
    fn default_dir_follows_xdg() {
        use std::ffi::OsStr;
        let home = Some(OsStr::new("/home/u"));
        assert_eq!(
            default_dir_from(Some(OsStr::new("/xdg")), home),
            Some(PathBuf::from("/xdg/vigil"))
        );
        assert_eq!(
            default_dir_from(None, home),
            Some(PathBuf::from("/home/u/.cache/vigil"))
        );
        assert_eq!(
            default_dir_from(Some(OsStr::new("relative")), home),
            Some(PathBuf::from("/home/u/.cache/vigil"))
        );
        assert_eq!(default_dir_from(None, None), None);
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0, 0xab, 0x0f]), "00ab0f");
    }

    #[test]
    fn content_hash_is_sha256() {
        assert_eq!(
            hex(&content_hash(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "vigil-cache-unit-{name}-{}-{}",
            std::process::id(),
            next_temp_id()
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        let d = temp_dir("writable");
        fs::create_dir_all(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        let engine = Engine::default();
        let err = DiskCache::open(&d, &engine).unwrap_err();
        assert!(
            matches!(err, CacheError::Writable { mode: 0o777, .. }),
            "{err}"
        );
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(DiskCache::open(&d, &engine).is_ok());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_is_not_a_cache_directory() {
        let d = temp_dir("file");
        fs::write(&d, b"x").unwrap();
        let err = DiskCache::open(&d, &Engine::default()).unwrap_err();
        assert!(matches!(err, CacheError::Dir { .. }), "{err}");
        let _ = fs::remove_file(&d);
    }

    #[test]
    fn garbage_entries_are_deleted_and_missed() {
        let d = temp_dir("garbage");
        let engine = Engine::default();
        let cache = DiskCache::open(&d, &engine).unwrap();
        let key = content_hash(b"component");
        let path = cache.store(&key, b"not an artifact").unwrap();
        assert!(path.exists());
        assert!(cache.load(&engine, &key).is_none());
        assert!(!path.exists(), "the unusable entry should be gone");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn symlinked_or_shared_entries_are_not_trusted() {
        let d = temp_dir("untrusted");
        let engine = Engine::default();
        let cache = DiskCache::open(&d, &engine).unwrap();

        // A real artifact, so only the checks can refuse it.
        let component = Component::new(&engine, wat::parse_str("(component)").unwrap()).unwrap();
        let artifact = component.serialize().unwrap();
        let real = content_hash(b"real");
        let real_path = cache.store(&real, &artifact).unwrap();
        assert!(cache.load(&engine, &real).is_some());

        let linked = content_hash(b"linked");
        std::os::unix::fs::symlink(&real_path, cache.entry_path(&linked)).unwrap();
        assert!(cache.load(&engine, &linked).is_none());
        assert!(
            fs::symlink_metadata(cache.entry_path(&linked)).is_err(),
            "the link should be gone"
        );

        fs::set_permissions(&real_path, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(cache.load(&engine, &real).is_none());
        assert!(!real_path.exists(), "the shared entry should be gone");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn settings_differ_between_engines_with_different_settings() {
        let a = Engine::default();
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let b = Engine::new(&config).unwrap();
        assert_eq!(settings_key(&a), settings_key(&Engine::default()));
        assert_ne!(settings_key(&a), settings_key(&b));
    }
}
