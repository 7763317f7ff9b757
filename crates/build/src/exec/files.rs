//! The words and history text of COPY and ADD; the file operations are the executor's.
//!
//! Owns expanding what BuildKit expands before `dispatchCopy` (sources, destination,
//! `--chown`, `--chmod`, with the ENV and ARGs in scope; exec form too) and the `created_by`
//! text `dispatchCopy` writes: the keyword, then `--parents`, `--chown=...` and `--chmod=...`
//! when given, the sources, `<<NAME` for each heredoc source, and the destination as written
//! after expansion (not resolved against WORKDIR). `--from`, `--link`, `--exclude`,
//! `--checksum` and `--keep-git-dir` do not appear in history, as in BuildKit. History gets
//! ` # buildkit` appended by [`super::Clock::layer`].
//!
//! Heredoc bodies are returned unexpanded: BuildKit expands an unquoted COPY heredoc with its
//! quotes kept, and the front end does not expose that lexer mode yet.
//! Reference: <https://docs.docker.com/reference/dockerfile/#copy>.

use kiln_dockerfile::Heredoc;
use kiln_dockerfile::instruction::{Add, Copy, Files};

use super::StageState;
use crate::error::Error;

/// COPY or ADD with its words expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileArgs {
    pub sources: Vec<String>,
    pub heredocs: Vec<Heredoc>,
    /// The destination as written, expanded (relative ones resolve against WORKDIR later).
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    /// The history text, without ` # buildkit`.
    pub created_by: String,
}

fn expand_files(
    state: &StageState,
    keyword: &str,
    files: &Files,
    parents: bool,
) -> Result<FileArgs, Error> {
    let span = files.span;
    let sources = files
        .sources
        .iter()
        .map(|s| state.expand(s, span))
        .collect::<Result<Vec<_>, _>>()?;
    let dest = state.expand(&files.dest, span)?;
    let chown = files
        .chown
        .as_deref()
        .map(|c| state.expand(c, span))
        .transpose()?;
    let chmod = files
        .chmod
        .as_deref()
        .map(|c| state.expand(c, span))
        .transpose()?;
    let mut words = vec![keyword.to_owned()];
    if parents {
        words.push("--parents".to_owned());
    }
    if let Some(c) = chown.as_deref().filter(|c| !c.is_empty()) {
        words.push(format!("--chown={c}"));
    }
    if let Some(c) = chmod.as_deref().filter(|c| !c.is_empty()) {
        words.push(format!("--chmod={c}"));
    }
    words.extend(sources.iter().cloned());
    words.extend(files.heredocs.iter().map(|d| format!("<<{}", d.name)));
    words.push(dest.clone());
    Ok(FileArgs {
        sources,
        heredocs: files.heredocs.clone(),
        dest,
        chown,
        chmod,
        created_by: words.join(" "),
    })
}

/// COPY's expanded words and history text.
pub fn copy_args(state: &StageState, copy: &Copy) -> Result<FileArgs, Error> {
    expand_files(state, "COPY", &copy.files, copy.parents)
}

/// ADD's expanded words and history text.
pub fn add_args(state: &StageState, add: &Add) -> Result<FileArgs, Error> {
    expand_files(state, "ADD", &add.files, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_dockerfile::instruction::Instruction;
    use kiln_dockerfile::parse_dockerfile;
    use kiln_oci::Platform;

    use crate::error::StageRef;

    fn created_by(line: &str) -> String {
        let file = parse_dockerfile(&format!("FROM scratch\n{line}\n")).unwrap();
        let stage = StageRef {
            index: 0,
            name: None,
        };
        let mut state = StageState::scratch(stage, &Platform::new("linux", "amd64", None), '\\');
        state.set_env("D", "/dst");
        state.set_env("U", "app");
        match &file.stages[0].instructions[0] {
            Instruction::Copy(c) => copy_args(&state, c).unwrap().created_by,
            Instruction::Add(a) => add_args(&state, a).unwrap().created_by,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn copy_and_add_history_text_matches_buildkit() {
        let cases = [
            ("COPY dir /x", "COPY dir /x"),
            ("COPY a b $D/", "COPY a b /dst/"),
            ("COPY --from=build --link /out /app", "COPY /out /app"),
            (
                "COPY --chown=$U:$U --chmod=0755 --parents src/./x /",
                "COPY --parents --chown=app:app --chmod=0755 src/./x /",
            ),
            ("COPY [\"a b\", \"/c/\"]", "COPY a b /c/"),
            (
                "COPY <<one <<two /etc/\n1\none\n2\ntwo",
                "COPY <<one <<two /etc/",
            ),
            (
                "ADD --checksum=sha256:00 https://x/y.tgz /y",
                "ADD https://x/y.tgz /y",
            ),
            ("ADD --chown=1:2 a.tar.gz .", "ADD --chown=1:2 a.tar.gz ."),
        ];
        for (line, want) in cases {
            assert_eq!(created_by(line), want, "{line}");
        }
    }
}
