//! Several processes on one embedded chain file: a writer killed with
//! SIGKILL mid-loop leaves a file that opens and verifies; two processes
//! registering at once (and creating the file at once) both succeed.
//!
//! The child processes are this test binary re-executed on the ignored
//! `child_register_loop` test, told what to do through environment variables.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chainmail_chain::embedded::system_clock;
use chainmail_chain::{EmbeddedRegistry, Registry};
use common::{certificate_at, key};

const ENV_DB: &str = "CHAINMAIL_TEST_CHILD_DB";
const ENV_COUNT: &str = "CHAINMAIL_TEST_CHILD_COUNT";

/// Child body: registers fresh identities on the file, `COUNT` of them or forever.
#[tokio::test]
#[ignore = "run only as a child process of the tests below"]
async fn child_register_loop() {
    let Some(db) = std::env::var_os(ENV_DB) else {
        return;
    };
    let count: u64 = std::env::var(ENV_COUNT)
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(u64::MAX);
    let reg = EmbeddedRegistry::open(Path::new(&db))
        .await
        .expect("child: open");
    for _ in 0..count {
        let k = key();
        let now = reg.now().await.expect("child: now");
        reg.register(&certificate_at(&reg.domain(), &k, now))
            .await
            .expect("child: register");
    }
}

fn spawn_child(db: &Path, count: Option<u64>) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_register_loop",
        "--ignored",
        "--test-threads=1",
        "--quiet",
    ])
    .env(ENV_DB, db)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    if let Some(c) = count {
        cmd.env(ENV_COUNT, c.to_string());
    }
    cmd.spawn().expect("spawn child")
}

/// Head block number read straight from the file (no integrity check), or 0.
fn head_of(db: &Path) -> u64 {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    conn.query_row("SELECT coalesce(max(number), 0) FROM blocks", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
    .unwrap_or(0)
}

/// Kills the child; makes sure it is reaped even if the test fails.
struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn kill_9_while_registering_leaves_a_file_that_opens_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chain.db");
    let mut last = 0;
    // Several rounds: each kill lands at a different point of a block write.
    for round in 0..10u64 {
        let mut child = KillOnDrop(spawn_child(&db, None));
        let target = last + 3 + round;
        let deadline = Instant::now() + Duration::from_secs(120);
        while head_of(&db) < target {
            assert!(child.0.try_wait().unwrap().is_none(), "child exited early");
            assert!(Instant::now() < deadline, "child made no progress");
            // Poll interval: the condition is the block count, not the time.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Child::kill is SIGKILL on Unix: no destructor, no SQLite cleanup.
        child.0.kill().unwrap();
        let status = child.0.wait().unwrap();
        assert!(!status.success());
        let reg =
            EmbeddedRegistry::open_blocking(&db, system_clock()).expect("reopen after kill -9");
        let head = reg.verify().expect("verify after kill -9");
        assert!(head >= target, "round {round}: head {head} < {target}");
        // And the chain goes on.
        let k = key();
        let now = reg.now().await.unwrap();
        let outcome = reg
            .register(&certificate_at(&reg.domain(), &k, now))
            .await
            .unwrap();
        assert_eq!(outcome.block, head + 1);
        assert!(reg.is_valid(k.address()).await.unwrap());
        last = outcome.block;
    }
}

#[tokio::test]
async fn two_processes_create_and_register_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chain.db");
    const EACH: u64 = 15;
    // Both start on a file that does not exist yet: one makes the genesis, the other uses it.
    let mut a = KillOnDrop(spawn_child(&db, Some(EACH)));
    let mut b = KillOnDrop(spawn_child(&db, Some(EACH)));
    assert!(a.0.wait().unwrap().success(), "first process failed");
    assert!(b.0.wait().unwrap().success(), "second process failed");
    let reg = EmbeddedRegistry::open_blocking(&db, system_clock()).unwrap();
    assert_eq!(
        reg.verify().unwrap(),
        2 * EACH,
        "one block per registration, none lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_in_one_process_register_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chain.db");
    let first = EmbeddedRegistry::open(&db).await.unwrap();
    let second = EmbeddedRegistry::open(&db).await.unwrap();
    assert_eq!(first.domain(), second.domain());
    let run = |reg: EmbeddedRegistry| {
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..10 {
                let k = key();
                let now = reg.now().await.unwrap();
                reg.register(&certificate_at(&reg.domain(), &k, now))
                    .await
                    .unwrap();
                ids.push(k.address());
            }
            (reg, ids)
        })
    };
    let (ta, tb) = (run(first), run(second));
    let (first, ids_a) = ta.await.unwrap();
    let (second, ids_b) = tb.await.unwrap();
    for id in ids_a.iter().chain(&ids_b) {
        assert!(first.is_valid(*id).await.unwrap());
        assert!(second.is_valid(*id).await.unwrap());
    }
    assert_eq!(first.verify().unwrap(), 20);
}
