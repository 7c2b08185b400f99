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
    // Every part of the story ran, the attacks included, each refused by name.
    let steps = v["steps"].as_array().unwrap();
    let expected: Vec<&str> = steps
        .iter()
        .map(|s| s["expected"].as_str().unwrap())
        .collect();
    for refusal in [
        "refused: BadSignature",
        "refused: AlreadyRegistered",
        "refused: StaleTimestamp",
        "refused: Queued",
        "refused: Replay",
        "refused: Rejected",
        "refused: PeerNotValid",
    ] {
        assert!(expected.contains(&refusal), "no step expecting {refusal}");
    }
    for paper in ["Fig. 2", "§4.1.2", "§4.1.3 2", "§4.1.3 3–5", "§4.1.4"] {
        assert!(
            steps.iter().any(|s| s["paper"] == paper),
            "no step for {paper}"
        );
    }
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
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Fig. 2", "§4.1.2", "§4.1.3", "T_B", "Summary", "Alice", "Bob", "Mallory",
    ] {
        assert!(text.contains(needle), "narration lacks {needle}");
    }
}
