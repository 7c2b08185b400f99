//! The demo's bookkeeping: each step's paper reference, what was expected,
//! what happened and whether that was right; the narration printed as the
//! steps run (the report type and its summary table are in `output`).

use crate::output::{DemoReport, Step};

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
