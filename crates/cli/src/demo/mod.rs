//! `chainmail demo`: the paper's section 4 on a throw-away embedded chain.
use crate::error::Failure;

/// Runs the demo.
pub fn run(_json: bool) -> Result<u8, Failure> {
    Err(Failure::new(
        "NotImplemented",
        "the demo is not built yet",
        "",
    ))
}
