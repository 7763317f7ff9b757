//! Sources that are not files of a tree: heredoc bodies and ADD's URLs. Each becomes a file
//! in a directory of the step's scratch space, copied from there with the step's flags, as
//! BuildKit copies from a `Mkfile` on scratch (mode 0644, owner 0:0) or from its HTTP source
//! (mode 0600, mtime from `Last-Modified`, never extracted).
//!
//! Heredoc bodies are expanded as BuildKit's `ExpandRaw` does for COPY and ADD: unless the
//! delimiter was quoted, with the ENV and ARGs in scope, `\` as the escape character and
//! quotes left as they are (`SkipProcessQuotes`).

use std::path::Path;

use kiln_dockerfile::{Heredoc, Lexer, Span};
use kiln_fs::copy::{CopyOp, Error, Source};
use kiln_fs::layer::Changes;

use super::CopyContext;
use crate::exec::StageState;

/// Each heredoc's name and body as the file holds it.
pub(super) fn heredoc_bodies(
    state: &StageState,
    docs: &[Heredoc],
    span: Span,
) -> Result<Vec<(String, String)>, crate::Error> {
    let env = state.env();
    let lexer = Lexer::new('\\').with_skip_quotes(true);
    docs.iter()
        .map(|doc| {
            let body = doc.body();
            if !doc.expand {
                return Ok((doc.name.clone(), body));
            }
            let expanded =
                lexer
                    .expand_word(&body, &env)
                    .map_err(|source| crate::Error::Expand {
                        span,
                        stage: state.stage.clone(),
                        word: body.clone(),
                        source: Box::new(source),
                    })?;
            Ok((doc.name.clone(), expanded))
        })
        .collect()
}

/// Writes the heredoc files into `dir` (mode 0644) and returns their names.
pub(super) fn write_heredocs(dir: &Path, docs: &[(String, String)]) -> Result<Vec<String>, Error> {
    use std::os::unix::fs::PermissionsExt;
    let content_error = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Content { path, source }
    };
    std::fs::create_dir_all(dir).map_err(content_error(dir))?;
    let mut names = Vec::new();
    for (name, body) in docs {
        // The delimiter names a file of the directory, never a path out of it.
        if name.contains('/') || name == "." || name == ".." {
            return Err(Error::NotFound {
                path: format!("<<{name}"),
            });
        }
        let path = dir.join(name);
        std::fs::write(&path, body).map_err(content_error(&path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .map_err(content_error(&path))?;
        names.push(name.clone());
    }
    Ok(names)
}

/// Downloads `url` into `dir` and returns the file's name.
pub(super) fn download(ctx: &CopyContext<'_>, url: &str, dir: &Path) -> Result<String, Error> {
    tracing::info!("downloading {}", kiln_fs::fetch::redact(url));
    let client = kiln_fs::fetch::client()?;
    let fetched = ctx.runtime.block_on(kiln_fs::fetch::fetch(
        &client,
        url,
        dir,
        ctx.checksum.as_ref(),
    ))?;
    Ok(fetched.name)
}

/// Copies the files `names` of `dir` as the step copies its sources, never extracting.
pub(super) fn copy_from_dir(
    dir: &Path,
    names: &[String],
    target: &kiln_fs::resolve::Root,
    op: &CopyOp,
) -> Result<Changes, Error> {
    let root = kiln_fs::resolve::Root::open(dir).map_err(|source| Error::Read {
        path: dir.to_owned(),
        source,
    })?;
    let op = CopyOp {
        sources: names.to_vec(),
        add: false,
        parents: false,
        exclude: Vec::new(),
        ..op.clone()
    };
    let copied = kiln_fs::copy::copy(&Source::stage(root), target, &op)?;
    Ok(copied.changes)
}
