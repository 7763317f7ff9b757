//! Applying instructions to a stage: its image config, its variables and its history.
//!
//! Owns [`StageState`], the pure part of running a stage: the [`ConfigFile`] being built, the
//! ARGs in scope, whether CMD was set in this stage, and [`apply`], which updates them for one
//! metadata instruction and returns the history entry BuildKit would write. RUN's process
//! (argv, environment, heredoc script) is computed in [`run`]; the words and history text of
//! COPY and ADD in [`copy_args`] and [`add_args`], whose file operations are the executor's.
//!
//! Which words expand follows the Dockerfile reference: ENV, LABEL, EXPOSE, VOLUME, USER,
//! WORKDIR, STOPSIGNAL and ARG defaults expand with the ENV and ARGs in scope before the
//! instruction (ENV wins over an ARG of the same name); CMD, ENTRYPOINT, SHELL, HEALTHCHECK,
//! MAINTAINER and ONBUILD do not.
//! Reference: <https://docs.docker.com/reference/dockerfile/#environment-replacement>.

mod command;
mod files;
mod gofmt;
pub mod history;
mod metadata;
mod onbuild;
pub mod run;
mod target;

use std::collections::BTreeMap;

use kiln_dockerfile::instruction::Instruction;
use kiln_dockerfile::{ExpandError, Lexer, Span};
use kiln_oci::{ConfigFile, History, Platform};

pub use files::{FileArgs, add_args, copy_args};
pub use history::{Clock, HISTORY_COMMENT};
pub use metadata::apply_labels;
pub use onbuild::trigger_instructions;
pub use run::{RunProcess, Script};
pub use target::finish_target;

use crate::error::{Error, StageRef};
use crate::plan::Plan;

/// The PATH Docker and BuildKit give a Linux image that sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The shell of shell-form commands when SHELL was never set.
pub fn default_shell(os: &str) -> Vec<String> {
    let shell: &[&str] = if os == "windows" {
        &["cmd", "/S", "/C"]
    } else {
        &["/bin/sh", "-c"]
    };
    shell.iter().map(|s| (*s).to_owned()).collect()
}

/// An ARG declared in the stage (or in the stage it is built FROM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageArg {
    pub name: String,
    /// `None` when declared without a default and given no value.
    pub value: Option<String>,
    /// Whether the value came from a `--build-arg`: it is then kept out of history.
    pub secret: bool,
}

/// A stage being built: the image config so far and the variables in scope.
#[derive(Debug, Clone)]
pub struct StageState {
    pub stage: StageRef,
    pub config: ConfigFile,
    pub(crate) lexer: Lexer,
    pub(crate) args: Vec<StageArg>,
    /// Whether CMD was set in this stage (then ENTRYPOINT keeps it).
    pub(crate) cmd_set: bool,
}

/// What applying one instruction produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The history entry; `None` for ONBUILD, which BuildKit does not record.
    pub history: Option<History>,
    /// A directory the executor creates in the rootfs (WORKDIR other than `/`), owned by the
    /// config's USER; a layer when it changed anything.
    pub create_dir: Option<String>,
}

impl StageState {
    /// A stage FROM an image with `config`. A missing PATH gets Docker's default. ONBUILD
    /// triggers stay in the config until the executor takes them with
    /// [`StageState::take_onbuild_triggers`].
    pub fn from_image(stage: StageRef, mut config: ConfigFile, escape: char) -> Self {
        ensure_path(&mut config);
        Self {
            stage,
            config,
            lexer: Lexer::new(escape),
            args: Vec::new(),
            cmd_set: false,
        }
    }

    /// A stage `FROM scratch`: BuildKit's empty image, with WORKDIR `/` and the default PATH.
    /// `platform` is the build's target platform: BuildKit ignores `FROM --platform` here.
    pub fn scratch(stage: StageRef, platform: &Platform, escape: char) -> Self {
        let mut config = ConfigFile::new(platform);
        config.config.working_dir = Some("/".to_owned());
        ensure_path(&mut config);
        Self::from_image(stage, config, escape)
    }

    /// A stage FROM this (earlier) stage: the config and ARGs carry over, "CMD was set here"
    /// does not. The earlier stage's ONBUILD triggers stay in the config: BuildKit runs them
    /// at the start of the new stage, like an image's, so the executor takes them with
    /// [`StageState::take_onbuild_triggers`] in both cases.
    pub fn child(&self, stage: StageRef) -> Self {
        Self {
            stage,
            config: self.config.clone(),
            lexer: self.lexer,
            args: self.args.clone(),
            cmd_set: false,
        }
    }

    /// Removes and returns the base image's ONBUILD triggers, which run before the stage's
    /// own instructions and do not carry into the result.
    pub fn take_onbuild_triggers(&mut self) -> Vec<String> {
        self.config.config.on_build.take().unwrap_or_default()
    }

    /// The ARGs in scope, in declaration order.
    pub fn args(&self) -> &[StageArg] {
        &self.args
    }

    /// The image's ENV as `(key, value)`, in order.
    pub fn image_env(&self) -> Vec<(String, String)> {
        self.config
            .config
            .env
            .iter()
            .flatten()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (kv.clone(), String::new()),
            })
            .collect()
    }

    /// What words expand with: the ARGs with a value, then the image ENV over them.
    pub fn env(&self) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = self
            .args
            .iter()
            .filter_map(|a| Some((a.name.clone(), a.value.clone()?)))
            .collect();
        env.extend(self.image_env());
        env
    }

    pub(crate) fn expand(&self, word: &str, span: Span) -> Result<String, Error> {
        let env = self.env();
        self.lexer
            .expand_word(word, &env)
            .map_err(|source| self.expand_error(word, span, source))
    }

    pub(crate) fn expand_words(&self, word: &str, span: Span) -> Result<Vec<String>, Error> {
        let env = self.env();
        self.lexer
            .expand_words(word, &env)
            .map_err(|source| self.expand_error(word, span, source))
    }

    fn expand_error(&self, word: &str, span: Span, source: ExpandError) -> Error {
        Error::Expand {
            span,
            stage: self.stage.clone(),
            word: word.to_owned(),
            source: Box::new(source),
        }
    }

    pub(crate) fn invalid(&self, span: Span, instruction: &'static str, reason: String) -> Error {
        Error::InvalidValue {
            span,
            stage: self.stage.clone(),
            instruction,
            reason,
        }
    }

    /// Sets `key` in the image ENV: replaced where it is, else appended (BuildKit `addEnv`).
    pub(crate) fn set_env(&mut self, key: &str, value: &str) {
        let env = self.config.config.env.get_or_insert_with(Vec::new);
        let entry = format!("{key}={value}");
        match env
            .iter_mut()
            .find(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = entry,
            None => env.push(entry),
        }
    }
}

fn ensure_path(config: &mut ConfigFile) {
    let env = config.config.env.get_or_insert_with(Vec::new);
    if !env.iter().any(|kv| kv.starts_with("PATH=")) {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
}

/// Applies one metadata instruction (everything but FROM, RUN, COPY and ADD) to `state`, with
/// `plan` for ARG values and `clock` for history.
pub fn apply(
    state: &mut StageState,
    instruction: &Instruction,
    plan: &Plan,
    clock: &Clock,
) -> Result<Outcome, Error> {
    use Instruction as I;
    let mut create_dir = None;
    let created_by = match instruction {
        I::Env { pairs, span } => metadata::env(state, pairs, *span)?,
        I::Label { pairs, span } => metadata::label(state, pairs, *span)?,
        I::Arg { args, span } => metadata::arg(state, args, *span, plan)?,
        I::Expose { ports, span } => metadata::expose(state, ports, *span)?,
        I::Volume { paths, span } => metadata::volume(state, paths, *span)?,
        I::User { user, span } => metadata::user(state, user, *span)?,
        I::Workdir { path, span } => {
            let wd = metadata::workdir(state, path, *span)?;
            if wd != "/" {
                create_dir = Some(wd.clone());
            }
            let history = clock.entry(format!("WORKDIR {wd}"), create_dir.is_some());
            return Ok(Outcome {
                history: Some(history),
                create_dir,
            });
        }
        I::Stopsignal { signal, span } => metadata::stopsignal(state, signal, *span)?,
        I::Maintainer { name, .. } => metadata::maintainer(state, name),
        I::Onbuild { expression, .. } => {
            metadata::onbuild(state, expression);
            return Ok(Outcome {
                history: None,
                create_dir: None,
            });
        }
        I::Cmd { command, .. } => command::cmd(state, command),
        I::Entrypoint { command, .. } => command::entrypoint(state, command),
        I::Shell { shell, .. } => command::shell(state, shell),
        I::Healthcheck(check) => command::healthcheck(state, check),
        other => {
            return Err(Error::NotMetadata {
                span: other.span(),
                stage: state.stage.clone(),
                instruction: other.keyword().as_str(),
            });
        }
    };
    Ok(Outcome {
        history: Some(clock.metadata(created_by)),
        create_dir,
    })
}

#[cfg(test)]
mod tests;
