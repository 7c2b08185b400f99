//! What `demo` prints: each step's paper reference, what was expected, what
//! happened and whether that was right, as a summary table or one JSON
//! object (the narration while it runs is `demo::report`'s).

use serde::Serialize;

use super::Report;

/// One step of the demo.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Where in the paper (`Fig. 2`, `§4.1.2`…).
    pub paper: &'static str,
    /// What the step does.
    pub step: String,
    /// What must happen (`accepted`, `refused: AlreadyRegistered`…).
    pub expected: String,
    /// What happened.
    pub observed: String,
    /// Whether it happened as expected.
    pub ok: bool,
}

/// The whole run.
#[derive(Debug, Default, Serialize)]
pub struct DemoReport {
    /// Every step, in order.
    pub steps: Vec<Step>,
    /// True when every step behaved as expected.
    pub ok: bool,
    /// Narration printed live (not with --json).
    #[serde(skip)]
    pub quiet: bool,
}

impl Report for DemoReport {
    fn human(&self) -> String {
        let w_paper = self
            .steps
            .iter()
            .map(|s| s.paper.chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        let w_step = self
            .steps
            .iter()
            .map(|s| s.step.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        let w_exp = self
            .steps
            .iter()
            .map(|s| s.expected.chars().count())
            .max()
            .unwrap_or(8)
            .max(8);
        let pad =
            |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
        let mut out = String::from("\nSummary\n");
        out.push_str(&format!(
            " #  {}  {}  {}  result\n",
            pad("paper", w_paper),
            pad("step", w_step),
            pad("expected", w_exp)
        ));
        for (i, s) in self.steps.iter().enumerate() {
            out.push_str(&format!(
                "{:>2}  {}  {}  {}  {}\n",
                i + 1,
                pad(s.paper, w_paper),
                pad(&s.step, w_step),
                pad(&s.expected, w_exp),
                if s.ok { "ok" } else { "WRONG" }
            ));
        }
        let bad = self.steps.iter().filter(|s| !s.ok).count();
        if bad == 0 {
            out.push_str(&format!(
                "\nall {} steps behaved as expected",
                self.steps.len()
            ));
        } else {
            out.push_str(&format!(
                "\n{bad} of {} steps did NOT behave as expected",
                self.steps.len()
            ));
        }
        out
    }
}
