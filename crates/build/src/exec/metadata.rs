//! The instructions that only change the image config or the variables: ENV, LABEL (and
//! `--label`), ARG, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, MAINTAINER and ONBUILD.
//!
//! Owns their effect on the [`kiln_oci::Config`] and their `created_by` text, as BuildKit's
//! `dispatchEnv`, `dispatchLabel`, `dispatchArg`, `dispatchExpose` (port specs as
//! `go-connections/nat` parses them: `80`, `80/udp`, `8000-8002`, tcp by default),
//! `dispatchVolume`, `dispatchUser`, `dispatchWorkdir` (a relative path joins the previous
//! WORKDIR; the result is cleaned), `dispatchStopSignal` (a name with or without `SIG`, or a
//! non-zero number), `dispatchMaintainer` and `dispatchOnbuild` (the trigger's raw text) do.
//! `--label` values are set on the target's config after its last instruction, without a
//! history entry, as BuildKit does.
//! Reference: <https://docs.docker.com/reference/dockerfile/>.

use std::collections::{BTreeMap, BTreeSet};

use kiln_dockerfile::instruction::ArgDecl;
use kiln_dockerfile::{KeyValue, Span};
use kiln_oci::{ConfigFile, Empty};

use super::StageArg;
use super::StageState;
use crate::error::Error;
use crate::plan::{Plan, mentions_any};

pub(super) fn env(state: &mut StageState, pairs: &[KeyValue], span: Span) -> Result<String, Error> {
    let mut expanded = Vec::with_capacity(pairs.len());
    for kv in pairs {
        expanded.push((state.expand(&kv.key, span)?, state.expand(&kv.value, span)?));
    }
    let mut created_by = String::from("ENV");
    for (k, v) in expanded {
        state.set_env(&k, &v);
        created_by.push_str(&format!(" {k}={v}"));
    }
    Ok(created_by)
}

pub(super) fn label(
    state: &mut StageState,
    pairs: &[KeyValue],
    span: Span,
) -> Result<String, Error> {
    let mut created_by = String::from("LABEL");
    let mut expanded = Vec::with_capacity(pairs.len());
    for kv in pairs {
        expanded.push((state.expand(&kv.key, span)?, state.expand(&kv.value, span)?));
    }
    let labels = state.config.config.labels.get_or_insert_with(BTreeMap::new);
    for (k, v) in expanded {
        created_by.push_str(&format!(" {k}={v}"));
        labels.insert(k, v);
    }
    Ok(created_by)
}

/// The `--label` values of the command line, set on the target's config.
pub fn apply_labels(config: &mut ConfigFile, labels: &BTreeMap<String, String>) {
    if labels.is_empty() {
        return;
    }
    let target = config.config.labels.get_or_insert_with(BTreeMap::new);
    target.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
}

pub(super) fn arg(
    state: &mut StageState,
    decls: &[ArgDecl],
    span: Span,
    plan: &Plan,
) -> Result<String, Error> {
    let mut shown = Vec::with_capacity(decls.len());
    for decl in decls {
        let env = state.env();
        let value = plan.scope.declare(decl, &env, span)?;
        let secret_here: BTreeSet<String> = state
            .args
            .iter()
            .filter(|a| a.secret)
            .map(|a| a.name.clone())
            .collect();
        let secret = plan.build_args.contains_key(&decl.name)
            || match &decl.default {
                None => plan.secret_meta_args.contains(&decl.name),
                Some(default) => mentions_any(default, &secret_here),
            };
        shown.push(match (&value, secret) {
            (Some(v), false) => format!("{}={v}", decl.name),
            _ => decl.name.clone(),
        });
        let arg = StageArg {
            name: decl.name.clone(),
            value,
            secret,
        };
        match state.args.iter_mut().find(|a| a.name == decl.name) {
            Some(slot) => *slot = arg,
            None => state.args.push(arg),
        }
    }
    Ok(format!("ARG {}", shown.join(" ")))
}

pub(super) fn expose(
    state: &mut StageState,
    ports: &[String],
    span: Span,
) -> Result<String, Error> {
    let mut specs = Vec::new();
    for word in ports {
        specs.extend(state.expand_words(word, span)?);
    }
    let mut set = BTreeSet::new();
    for spec in &specs {
        let parsed = parse_port_spec(spec).map_err(|r| state.invalid(span, "EXPOSE", r))?;
        set.extend(parsed);
    }
    let exposed = state
        .config
        .config
        .exposed_ports
        .get_or_insert_with(BTreeMap::new);
    for port in &set {
        exposed.insert(port.clone(), Empty {});
    }
    let listed: Vec<String> = set.iter().map(|p| format!("{p}:{{}}")).collect();
    Ok(format!("EXPOSE map[{}]", listed.join(" ")))
}

/// One `[ip:][hostPort:]containerPort[/proto]` spec to the exposed `port/proto` keys.
fn parse_port_spec(spec: &str) -> Result<Vec<String>, String> {
    let container = spec.rsplit(':').next().unwrap_or(spec);
    let mut parts = container.split('/');
    let port = parts.next().unwrap_or_default();
    let proto = match parts.next() {
        None | Some("") => "tcp".to_owned(),
        Some(p) => p.to_ascii_lowercase(),
    };
    if port.is_empty() {
        return Err(format!("no port specified: {spec}<empty>"));
    }
    let invalid = || format!("invalid containerPort: {port}");
    let (start, end) = match port.split_once('-') {
        None => {
            let p: u16 = port.parse().map_err(|_| invalid())?;
            (p, p)
        }
        Some((a, b)) => {
            let a: u16 = a.parse().map_err(|_| invalid())?;
            let b: u16 = b.parse().map_err(|_| invalid())?;
            if b < a {
                return Err(invalid());
            }
            (a, b)
        }
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

pub(super) fn volume(
    state: &mut StageState,
    paths: &[String],
    span: Span,
) -> Result<String, Error> {
    let mut expanded = Vec::with_capacity(paths.len());
    for p in paths {
        let v = state.expand(p, span)?;
        if v.is_empty() {
            return Err(state.invalid(
                span,
                "VOLUME",
                "VOLUME specified can not be an empty string".to_owned(),
            ));
        }
        expanded.push(v);
    }
    let volumes = state
        .config
        .config
        .volumes
        .get_or_insert_with(BTreeMap::new);
    for v in &expanded {
        volumes.insert(v.clone(), Empty {});
    }
    Ok(format!("VOLUME {}", super::gofmt::list(&expanded)))
}

pub(super) fn user(state: &mut StageState, user: &str, span: Span) -> Result<String, Error> {
    let user = state.expand(user, span)?;
    state.config.config.user = Some(user.clone());
    Ok(format!("USER {user}"))
}

/// Sets the WORKDIR and returns it, normalised.
pub(super) fn workdir(state: &mut StageState, path: &str, span: Span) -> Result<String, Error> {
    let requested = state.expand(path, span)?;
    if requested.is_empty() {
        return Err(state.invalid(span, "WORKDIR", "cannot normalize nothing".to_owned()));
    }
    let current = state.config.config.working_dir.as_deref().unwrap_or("/");
    let wd = if requested.starts_with('/') {
        clean(&requested)
    } else {
        clean(&format!("/{current}/{requested}"))
    };
    state.config.config.working_dir = Some(wd.clone());
    Ok(wd)
}

/// Lexical clean of an absolute path (Go `path.Clean`).
pub(crate) fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

pub(super) fn stopsignal(
    state: &mut StageState,
    signal: &str,
    span: Span,
) -> Result<String, Error> {
    let signal = state.expand(signal, span)?;
    if !valid_signal(&signal) {
        return Err(state.invalid(span, "STOPSIGNAL", format!("invalid signal: {signal}")));
    }
    state.config.config.stop_signal = Some(signal.clone());
    Ok(format!("STOPSIGNAL {signal}"))
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

/// moby's `signal.ParseSignal` on Linux.
fn valid_signal(signal: &str) -> bool {
    if let Ok(n) = signal.parse::<i64>() {
        return n != 0;
    }
    let upper = signal.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if SIGNALS.contains(&name) {
        return true;
    }
    let offset = |rest: &str| rest.parse::<u8>().is_ok_and(|n| (1..=15).contains(&n));
    name.strip_prefix("RTMIN+").is_some_and(offset)
        || name.strip_prefix("RTMAX-").is_some_and(offset)
}

pub(super) fn maintainer(state: &mut StageState, name: &str) -> String {
    state.config.author = Some(name.to_owned());
    format!("MAINTAINER {name}")
}

pub(super) fn onbuild(state: &mut StageState, expression: &str) {
    state
        .config
        .config
        .on_build
        .get_or_insert_with(Vec::new)
        .push(expression.to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs_parse_as_docker_parses_them() {
        let cases: &[(&str, Result<&[&str], &str>)] = &[
            ("80", Ok(&["80/tcp"])),
            ("80/udp", Ok(&["80/udp"])),
            ("53/UDP", Ok(&["53/udp"])),
            ("8000-8002", Ok(&["8000/tcp", "8001/tcp", "8002/tcp"])),
            ("9000-9001/sctp", Ok(&["9000/sctp", "9001/sctp"])),
            ("8080:80", Ok(&["80/tcp"])),
            ("80/", Ok(&["80/tcp"])),
            ("x", Err("invalid containerPort: x")),
            ("90-80", Err("invalid containerPort: 90-80")),
            ("70000", Err("invalid containerPort: 70000")),
            ("80/icmp", Err("invalid proto: icmp")),
            ("/tcp", Err("no port specified: /tcp<empty>")),
        ];
        for (spec, want) in cases {
            let got = parse_port_spec(spec);
            match want {
                Ok(ports) => assert_eq!(got.unwrap(), *ports, "{spec}"),
                Err(msg) => assert_eq!(got, Err(msg.to_string()), "{spec}"),
            }
        }
    }

    #[test]
    fn signals_are_names_with_or_without_sig_or_numbers() {
        let cases = [
            ("SIGTERM", true),
            ("term", true),
            ("SIGRTMIN+3", true),
            ("RTMAX-15", true),
            ("9", true),
            ("0", false),
            ("SIGNOPE", false),
            ("RTMIN+16", false),
            ("", false),
        ];
        for (s, want) in cases {
            assert_eq!(valid_signal(s), want, "{s}");
        }
    }

    #[test]
    fn paths_clean_like_go() {
        let cases = [
            ("/", "/"),
            ("/a/b/", "/a/b"),
            ("//a/./b/../c", "/a/c"),
            ("/../..", "/"),
        ];
        for (p, want) in cases {
            assert_eq!(clean(p), want, "{p}");
        }
    }
}
