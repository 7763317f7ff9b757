//! The build: plan and execution.
//!
//! Owns: the stage graph, `--target`, unused stages, instruction execution, image config and
//! history, the layer cache, outputs and progress events.
//!
//! Does not own: flag parsing or rendering (the `kiln` binary), or any registry, filesystem or
//! process mechanics, which it asks of the crates before it.
