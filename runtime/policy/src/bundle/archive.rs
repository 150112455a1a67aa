//! Reading and writing a bundle's files: a directory or a `.tar.gz` of one.
//!
//! A bundle comes from the network, so the reader trusts nothing in it: only
//! regular files and directories, relative paths without `..`, no duplicates,
//! and hard caps on entry count, per-file size and total unpacked size,
//! enforced while decompressing (a gzip bomb stops at the cap, it is never
//! inflated to find out how big it is). Everything is read into memory; the
//! caps keep that bounded.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;

use flate2::read::GzDecoder;

/// A bundle's files: path inside the bundle -> contents.
pub type Files = BTreeMap<String, Vec<u8>>;

/// Size caps for reading a bundle.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest compressed archive, in bytes (default 64 MiB).
    pub max_archive: u64,
    /// Largest total of unpacked file contents, in bytes (default 256 MiB).
    pub max_total: u64,
    /// Largest single file, in bytes (default 64 MiB).
    pub max_file: u64,
    /// Most entries, directories included (default 4096).
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_archive: 64 << 20, max_total: 256 << 20, max_file: 64 << 20, max_entries: 4096 }
    }
}

/// Why a bundle's files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading failed.
    #[error("{0}")]
    Io(String),
    /// Not a gzip-compressed tar, or a truncated one.
    #[error("corrupt archive: {0}")]
    Corrupt(String),
    /// An entry that is neither a regular file nor a directory.
    #[error("refused entry {path:?}: {kind} entries are not allowed in a bundle")]
    EntryType {
        /// The entry's path.
        path: String,
        /// What it is (symlink, hard link, device...).
        kind: String,
    },
    /// A path that is absolute, climbs out with `..`, or is otherwise unsafe.
    #[error("refused path {0:?}: bundle paths must be relative, without '..', and plain UTF-8")]
    Path(String),
    /// The same path twice.
    #[error("refused archive: {0:?} appears twice")]
    Duplicate(String),
    /// Over a size or count cap.
    #[error("refused archive: {0}")]
    TooLarge(String),
}

/// Check and normalise a path inside a bundle (`./a//b` -> `a/b`).
pub fn clean_path(raw: &str) -> Result<String, ArchiveError> {
    let bad = || ArchiveError::Path(raw.to_string());
    if raw.starts_with('/') || raw.contains('\\') || raw.contains('\0') {
        return Err(bad());
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(bad()),
            p if p.chars().any(|c| c.is_control()) => return Err(bad()),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(bad());
    }
    Ok(parts.join("/"))
}

/// Read a bundle from a path: a directory, or a `.tar.gz` file.
pub fn read_path(path: &Path, limits: &Limits) -> Result<Files, ArchiveError> {
    let meta = std::fs::metadata(path).map_err(|e| ArchiveError::Io(format!("{}: {e}", path.display())))?;
    if meta.is_dir() {
        return read_dir(path, limits);
    }
    if meta.len() > limits.max_archive {
        return Err(ArchiveError::TooLarge(format!(
            "{} is {} bytes, over the {} byte cap",
            path.display(),
            meta.len(),
            limits.max_archive
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| ArchiveError::Io(format!("{}: {e}", path.display())))?;
    read_tar_gz(&bytes, limits)
}

/// Read a `.tar.gz` bundle from memory.
pub fn read_tar_gz(bytes: &[u8], limits: &Limits) -> Result<Files, ArchiveError> {
    if bytes.len() as u64 > limits.max_archive {
        return Err(ArchiveError::TooLarge(format!(
            "archive is {} bytes, over the {} byte cap",
            bytes.len(),
            limits.max_archive
        )));
    }
    // Tar headers and padding count too: cap the whole decompressed stream at
    // the content cap plus room for one header and padding per entry.
    let stream_cap = limits.max_total + (limits.max_entries as u64 + 2) * 1024;
    let reader = Capped { inner: GzDecoder::new(bytes), left: stream_cap };
    let mut archive = tar::Archive::new(reader);
    let mut files = Files::new();
    let mut total = 0u64;
    let entries = archive.entries().map_err(corrupt)?;
    for (n, entry) in entries.enumerate() {
        let mut entry = entry.map_err(corrupt)?;
        if n >= limits.max_entries {
            return Err(ArchiveError::TooLarge(format!("more than {} entries", limits.max_entries)));
        }
        let raw = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|e| ArchiveError::Path(String::from_utf8_lossy(e.as_bytes()).into_owned()))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            clean_dir(&raw)?;
            continue;
        }
        if !kind.is_file() {
            return Err(ArchiveError::EntryType { path: raw, kind: entry_kind(kind).into() });
        }
        let path = clean_path(&raw)?;
        let size = entry.header().size().map_err(corrupt)?;
        check_size(&path, size, &mut total, limits)?;
        let mut data = Vec::with_capacity(size as usize);
        (&mut entry).take(size).read_to_end(&mut data).map_err(corrupt)?;
        if data.len() as u64 != size {
            return Err(ArchiveError::Corrupt(format!("{path}: truncated")));
        }
        if files.insert(path.clone(), data).is_some() {
            return Err(ArchiveError::Duplicate(path));
        }
    }
    Ok(strip_top_dir(files))
}

/// `tar czf b.tar.gz mybundle/` puts everything under `mybundle/`: accept
/// that as the bundle when the manifest is not at the top.
fn strip_top_dir(files: Files) -> Files {
    if files.contains_key("manifest.json") {
        return files;
    }
    let Some(top) = files.keys().next().and_then(|k| k.split_once('/')).map(|(t, _)| t.to_string()) else {
        return files;
    };
    let prefix = format!("{top}/");
    if !files.contains_key(&format!("{prefix}manifest.json")) || !files.keys().all(|k| k.starts_with(&prefix)) {
        return files;
    }
    files.into_iter().map(|(k, v)| (k[prefix.len()..].to_string(), v)).collect()
}

fn clean_dir(raw: &str) -> Result<(), ArchiveError> {
    match raw.trim_end_matches('/') {
        "" | "." => Ok(()),
        p => clean_path(p).map(|_| ()),
    }
}

fn check_size(path: &str, size: u64, total: &mut u64, limits: &Limits) -> Result<(), ArchiveError> {
    if size > limits.max_file {
        return Err(ArchiveError::TooLarge(format!(
            "{path} is {size} bytes, over the {} byte cap per file",
            limits.max_file
        )));
    }
    *total += size;
    if *total > limits.max_total {
        return Err(ArchiveError::TooLarge(format!("contents exceed the {} byte cap (at {path})", limits.max_total)));
    }
    Ok(())
}

fn entry_kind(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symlink",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char | tar::EntryType::Block => "device",
        tar::EntryType::Fifo => "fifo",
        _ => "special",
    }
}

fn corrupt(e: io::Error) -> ArchiveError {
    // The size cap surfaces as an I/O error from inside the tar reader.
    if e.kind() == io::ErrorKind::FileTooLarge {
        return ArchiveError::TooLarge(e.to_string());
    }
    ArchiveError::Corrupt(e.to_string())
}

/// A reader that fails once more than `left` bytes have been read through it.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One probe byte: a stream that ends exactly at the cap is fine.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(io::ErrorKind::FileTooLarge, "decompressed size exceeds the cap")),
            };
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Read a bundle directory. Symlinks and special files are refused, as in
/// archives.
pub fn read_dir(root: &Path, limits: &Limits) -> Result<Files, ArchiveError> {
    let mut files = Files::new();
    let mut total = 0u64;
    let mut count = 0usize;
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let io = |e: io::Error| ArchiveError::Io(format!("{}: {e}", dir.display()));
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            count += 1;
            if count > limits.max_entries {
                return Err(ArchiveError::TooLarge(format!("more than {} entries", limits.max_entries)));
            }
            let name =
                entry.file_name().into_string().map_err(|n| ArchiveError::Path(n.to_string_lossy().into_owned()))?;
            let rel = format!("{prefix}{name}");
            let ty = entry.file_type().map_err(io)?;
            if ty.is_dir() {
                stack.push((entry.path(), format!("{rel}/")));
            } else if ty.is_file() {
                let path = clean_path(&rel)?;
                let size = entry.metadata().map_err(io)?.len();
                check_size(&path, size, &mut total, limits)?;
                let data = std::fs::read(entry.path()).map_err(io)?;
                files.insert(path, data);
            } else {
                let kind = if ty.is_symlink() { "symlink" } else { "special" };
                return Err(ArchiveError::EntryType { path: rel, kind: kind.into() });
            }
        }
    }
    Ok(files)
}

/// Pack files as a deterministic `.tar.gz`: sorted, `manifest.json` first,
/// owner 0, mode 0644, time 0. The same files always give the same bytes.
pub fn write_tar_gz(files: &Files) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let order = files
        .keys()
        .filter(|k| *k == "manifest.json")
        .chain(files.keys().filter(|k| *k == "manifest.sig"))
        .chain(files.keys().filter(|k| *k != "manifest.json" && *k != "manifest.sig"));
    for path in order {
        let data = &files[path];
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        // Writing to memory cannot fail; a path too long for the header
        // becomes a GNU long-name entry.
        tar.append_data(&mut header, path, data.as_slice()).expect("tar into memory");
    }
    let gz = tar.into_inner().expect("tar into memory");
    gz.finish().expect("gzip into memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_or_refused() {
        assert_eq!(clean_path("./rules//a.toml").unwrap(), "rules/a.toml");
        for bad in ["../x", "a/../../x", "/etc/passwd", "a\\b", "", ".", "a/\u{7}"] {
            assert!(clean_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn archives_round_trip_deterministically() {
        let mut files = Files::new();
        files.insert("rules/a.toml".into(), b"x".to_vec());
        files.insert("manifest.json".into(), b"{}".to_vec());
        let a = write_tar_gz(&files);
        assert_eq!(a, write_tar_gz(&files));
        assert_eq!(read_tar_gz(&a, &Limits::default()).unwrap(), files);
    }

    #[test]
    fn a_wrapping_directory_is_stripped() {
        let mut files = Files::new();
        files.insert("b/manifest.json".into(), b"{}".to_vec());
        files.insert("b/rules/a.toml".into(), b"x".to_vec());
        let got = read_tar_gz(&write_tar_gz(&files), &Limits::default()).unwrap();
        assert!(got.contains_key("manifest.json") && got.contains_key("rules/a.toml"));
    }
}
