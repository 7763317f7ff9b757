//! Bringing a snapshot up to date with paths a step reports it wrote, without walking the rest.
//!
//! Owns: [`Snapshot::refresh`]. A COPY, ADD or WORKDIR knows exactly what it touched; the build
//! writes its layer from that list (`crate::layer::Changes::write`) and then refreshes the
//! snapshot, so that the next RUN's comparison does not see those paths as its own changes.
//! Does not own: the full walk (`super::walk`).

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::Error;
use super::walk::{Ignore, Snapshot, WalkState, path_order};

/// `/a/./b` → `a/b`; `None` for a path that climbs out with `..`.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

impl Snapshot {
    /// Re-records each of `paths` (relative to the root, a leading `/` allowed) and its parent
    /// directories: a path that no longer exists leaves the snapshot with everything below it,
    /// a directory is walked again in full, anything else is `stat`ed once.
    pub fn refresh<I, P>(&mut self, paths: I, ignore: &Ignore) -> Result<(), Error>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        let mut targets = BTreeSet::new();
        for p in paths {
            let rel = normalize(p.as_ref()).ok_or_else(|| Error::OutsideRoot(p.as_ref().into()))?;
            if !rel.as_os_str().is_empty() && !ignore(&rel) {
                targets.insert(rel);
            }
        }
        let parents: BTreeSet<PathBuf> = targets
            .iter()
            .flat_map(|t| t.ancestors().skip(1).map(Path::to_path_buf))
            .filter(|a| !a.as_os_str().is_empty() && !targets.contains(a))
            .collect();
        let root = self.root.clone();
        let state = WalkState::new(&root, ignore);
        let mut fresh = Vec::new();
        let lstat = |rel: &Path| match fs::symlink_metadata(root.join(rel)) {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Read {
                path: root.join(rel),
                source,
            }),
        };
        for rel in &targets {
            if let Some(meta) = lstat(rel)? {
                let stat = state.stat(rel, &meta)?;
                if stat.is_dir() {
                    state.walk_below(rel.clone());
                }
                fresh.push((rel.clone(), stat));
            }
        }
        for rel in &parents {
            if let Some(meta) = lstat(rel)? {
                fresh.push((rel.clone(), state.stat(rel, &meta)?));
            }
        }
        fresh.extend(state.finish()?);

        let dropped: HashSet<&Path> = targets.iter().map(PathBuf::as_path).collect();
        self.entries
            .retain(|(p, _)| !parents.contains(p) && !p.ancestors().any(|a| dropped.contains(a)));
        self.entries.extend(fresh);
        self.entries
            .sort_unstable_by(|(a, _), (b, _)| path_order(a, b));
        self.entries.dedup_by(|a, b| a.0 == b.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{SnapshotMode, compare, ignore_nothing, walk};

    #[test]
    fn refresh_matches_a_full_walk_after_a_copy() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("app/old")).unwrap();
        fs::write(root.join("app/old/f"), b"1").unwrap();
        fs::write(root.join("keep"), b"k").unwrap();
        let ignore = ignore_nothing();
        let mut snap = walk(root, &ignore).unwrap();

        // What a COPY might do: replace a tree, add a file deep down, remove another.
        fs::remove_dir_all(root.join("app/old")).unwrap();
        fs::create_dir_all(root.join("app/new/deep")).unwrap();
        fs::write(root.join("app/new/deep/g"), b"2").unwrap();
        fs::write(root.join("app/h"), b"3").unwrap();
        snap.refresh(["/app/new", "app/h", "app/old"], &ignore)
            .unwrap();

        let full = walk(root, &ignore).unwrap();
        assert_eq!(
            snap.paths().collect::<Vec<_>>(),
            full.paths().collect::<Vec<_>>()
        );
        assert!(
            compare(&snap, &full, SnapshotMode::Full)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn refresh_refuses_paths_that_climb_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut snap = walk(dir.path(), &ignore_nothing()).unwrap();
        let err = snap
            .refresh(["a/../../etc"], &ignore_nothing())
            .unwrap_err();
        assert!(matches!(err, Error::OutsideRoot(_)), "{err}");
    }
}
