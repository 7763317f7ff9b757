//! The ONBUILD triggers of a stage's base, typed so the executor can run them first.
//!
//! Owns parsing each trigger text the way BuildKit's `initOnBuildTriggers` does: alone, as a
//! one-instruction Dockerfile with the default escape character, and refusing anything but a
//! single instruction, or a trigger that could never be one (`FROM`, `MAINTAINER`, `ONBUILD`).
//! The triggers come from a base image or from an earlier stage the stage is built FROM (as
//! in BuildKit). Errors point at the stage's FROM line, where they run. Triggers do not carry
//! into the stage's own image ([`super::StageState::take_onbuild_triggers`]).
//! Reference: <https://docs.docker.com/reference/dockerfile/#onbuild>.

use kiln_dockerfile::instruction::Instruction;
use kiln_dockerfile::{Keyword, Span, parse};

use crate::error::{Error, StageRef};

/// Types `triggers` for the stage whose FROM line is at `span`.
pub fn trigger_instructions(
    triggers: &[String],
    stage: &StageRef,
    span: Span,
) -> Result<Vec<Instruction>, Error> {
    triggers
        .iter()
        .map(|trigger| {
            let invalid =
                |reason: &str, source: Option<kiln_dockerfile::Error>| Error::InvalidTrigger {
                    span,
                    stage: stage.clone(),
                    trigger: trigger.clone(),
                    reason: reason.to_owned(),
                    source: source.map(Box::new),
                };
            let ast = parse(trigger).map_err(|e| invalid("it does not parse", Some(e)))?;
            let [node] = ast.instructions.as_slice() else {
                return Err(invalid("it must be a single instruction", None));
            };
            if matches!(
                node.keyword,
                Keyword::From | Keyword::Maintainer | Keyword::Onbuild
            ) {
                return Err(invalid(
                    &format!("{} isn't allowed as an ONBUILD trigger", node.keyword),
                    None,
                ));
            }
            Instruction::from_node(node)
                .map_err(|e| invalid("it is not a valid instruction", Some(e)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage() -> StageRef {
        StageRef {
            index: 1,
            name: Some("app".into()),
        }
    }

    #[test]
    fn triggers_type_one_instruction_each() {
        let triggers = vec!["COPY . /src".to_owned(), "RUN make -C /src".to_owned()];
        let typed = trigger_instructions(&triggers, &stage(), Span::at(4, 1)).unwrap();
        let keywords: Vec<_> = typed.iter().map(Instruction::keyword).collect();
        assert_eq!(keywords, [Keyword::Copy, Keyword::Run]);
    }

    #[test]
    fn bad_triggers_point_at_the_from_line() {
        let cases = [
            (
                "FROM x",
                "4:1: stage app: invalid ONBUILD trigger \"FROM x\" in the base image: FROM isn't allowed as an ONBUILD trigger",
            ),
            (
                "RUN a\nRUN b",
                "4:1: stage app: invalid ONBUILD trigger \"RUN a\\nRUN b\" in the base image: it must be a single instruction",
            ),
            (
                "NOPE x",
                "4:1: stage app: invalid ONBUILD trigger \"NOPE x\" in the base image: it does not parse",
            ),
            (
                "COPY --nope a b",
                "4:1: stage app: invalid ONBUILD trigger \"COPY --nope a b\" in the base image: it is not a valid instruction",
            ),
        ];
        for (trigger, want) in cases {
            let err =
                trigger_instructions(&[trigger.to_owned()], &stage(), Span::at(4, 1)).unwrap_err();
            assert_eq!(err.to_string(), want, "{trigger}");
        }
    }
}
