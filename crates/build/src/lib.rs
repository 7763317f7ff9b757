//! The build: plan and execution.
//!
//! Owns: the stage graph, `--target`, unused stages, instruction execution, image config and
//! history, the layer cache, outputs and progress events.
//!
//! Does not own: flag parsing or rendering (the `kiln` binary), or any registry, filesystem or
//! process mechanics, which it asks of the crates before it.
//!
//! | module | what it holds |
//! |---|---|
//! | [`plan`] | [`Plan`]: which stages to build, in which order, from which bases, with which platform ARGs |
//! | [`executor`] | [`executor::build`]: the stages run in order, RUN in the sandbox, layers, the assembled image and where it goes |
//! | [`exec`] | [`exec::StageState`]: a stage's image config and variables, the metadata instructions, history entries, the process of a RUN, the words of COPY/ADD, ONBUILD triggers |
//! | [`events`] | [`events::Event`]: what a build reports as it goes, and the sink it goes to |
//! | `error` | [`Error`], with the Dockerfile span and stage of every failure |

pub mod cache;
mod error;
pub mod events;
pub mod exec;
pub mod executor;
pub mod plan;
pub mod warm;

pub use error::{Error, StageRef};
pub use plan::{Base, BuildArgs, Plan, PlanOptions, PlannedStage};
