//! Where settings come from: a flag beats the environment, which beats the
//! home's `config.toml`, which beats the default — checked on the chain
//! setting, whose effect is visible (which chain file gets created).

mod common;

use common::{World, run};

#[test]
fn flag_beats_env_beats_config_file() {
    let w = World::new();
    let home = w.home("alice");
    std::fs::create_dir_all(&home).unwrap();
    let dir = w.dir.path();
    let (from_config, from_env, from_flag) = (
        dir.join("config.db"),
        dir.join("env.db"),
        dir.join("flag.db"),
    );
    std::fs::write(
        home.join("config.toml"),
        format!("chain = \"embedded:{}\"\n", from_config.display()),
    )
    .unwrap();
    let id = "0x000000000000000000000000000000000000dEaD";

    // Config only (no CHAINMAIL_CHAIN): the config's chain file is used.
    let out = run(w
        .cmd("alice")
        .env_remove("CHAINMAIL_CHAIN")
        .args(["--json", "lookup", id]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(from_config.exists() && !from_env.exists() && !from_flag.exists());

    // Environment beats config.
    let out = run(w
        .cmd("alice")
        .env(
            "CHAINMAIL_CHAIN",
            format!("embedded:{}", from_env.display()),
        )
        .args(["--json", "lookup", id]));
    assert_eq!(out.status.code(), Some(0));
    assert!(from_env.exists() && !from_flag.exists());

    // Flag beats environment.
    let out = run(w
        .cmd("alice")
        .env(
            "CHAINMAIL_CHAIN",
            format!("embedded:{}", from_env.display()),
        )
        .args([
            "--json",
            "--chain",
            &format!("embedded:{}", from_flag.display()),
            "lookup",
            id,
        ]));
    assert_eq!(out.status.code(), Some(0));
    assert!(from_flag.exists());

    // --home beats CHAINMAIL_HOME: an identity made with the flag is found with it.
    let other = dir.join("other-home");
    let out = run(w
        .cmd("alice")
        .args(["--json", "--home", other.to_str().unwrap(), "init"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(other.join("keystore.json").exists() && !home.join("keystore.json").exists());
}
