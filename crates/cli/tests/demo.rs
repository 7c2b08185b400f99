//! `chainmail demo` runs the paper's flow, every step behaving as expected
//! (exit 0), reports it as schema-valid JSON, and leaves nothing behind.

mod common;

use common::{assert_schema, bare_command, one_json, run};

#[test]
fn demo_passes_every_step_and_cleans_up() {
    let root = tempfile::tempdir().unwrap();
    let tmp = root.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = run(bare_command(root.path())
        .env("TMPDIR", &tmp)
        .args(["demo", "--json"]));
    let v = one_json(&out);
    assert_schema("demo", &v);
    let failed: Vec<_> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["ok"] != true)
        .collect();
    assert!(failed.is_empty(), "steps not as expected: {failed:#?}");
    assert_eq!(v["ok"], true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing left behind: the temporary directory is empty again, and no
    // home or chain appeared in the (fake) user's directories.
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "demo left files in TMPDIR"
    );
    for d in ["userhome", "xdg-config", "xdg-data"] {
        assert!(!root.path().join(d).exists(), "demo wrote into {d}");
    }
}

#[test]
fn demo_narrates_with_the_papers_names() {
    let root = tempfile::tempdir().unwrap();
    let out = run(bare_command(root.path()).arg("demo"));
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Fig. 2", "§4.1.2", "§4.1.3", "T_B", "Summary", "Alice", "Bob", "Mallory",
    ] {
        assert!(text.contains(needle), "narration lacks {needle}");
    }
}
