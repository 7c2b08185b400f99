//! The demo's bookkeeping: each step's paper reference, what was expected,
//! what happened and whether that was right; the narration printed as the
//! steps run, and the summary table (or one JSON object) at the end.

use serde::Serialize;

use crate::output::Report;

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

impl DemoReport {
    /// A report that narrates on stdout unless `quiet`.
    pub fn new(quiet: bool) -> Self {
        DemoReport {
            steps: Vec::new(),
            ok: true,
            quiet,
        }
    }

    /// Prints a heading for a part of the paper.
    pub fn section(&self, title: &str) {
        if !self.quiet {
            println!("\n── {title} ──");
        }
    }

    /// Prints a line of narration.
    pub fn say(&self, text: impl AsRef<str>) {
        if !self.quiet {
            println!("   {}", text.as_ref());
        }
    }

    /// Records a step that must succeed; `result` is the detail or the error.
    pub fn expect_ok(
        &mut self,
        paper: &'static str,
        step: impl Into<String>,
        result: Result<String, String>,
    ) -> bool {
        let (observed, ok) = match result {
            Ok(detail) => (detail, true),
            Err(e) => (format!("failed: {e}"), false),
        };
        self.record(paper, step.into(), "accepted".into(), observed, ok)
    }

    /// Records a step that must be refused with the error named `kind`.
    pub fn expect_refused(
        &mut self,
        paper: &'static str,
        step: impl Into<String>,
        kind: &str,
        result: Result<String, (String, String)>,
    ) -> bool {
        let (observed, ok) = match result {
            Ok(detail) => (format!("ACCEPTED ({detail})"), false),
            Err((k, message)) => (format!("refused: {message}"), k == kind),
        };
        self.record(paper, step.into(), format!("refused: {kind}"), observed, ok)
    }

    fn record(
        &mut self,
        paper: &'static str,
        step: String,
        expected: String,
        observed: String,
        ok: bool,
    ) -> bool {
        if !self.quiet {
            let mark = if ok { "✓" } else { "✗" };
            println!("{mark} [{paper}] {step}\n     → {observed}");
        }
        self.ok &= ok;
        self.steps.push(Step {
            paper,
            step,
            expected,
            observed,
            ok,
        });
        ok
    }
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
