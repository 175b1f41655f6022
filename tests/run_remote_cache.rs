//! run-parallel's remote cache against the real Turborepo remote cache
//! server (`turborepo-remote-cache`, npm, installed by scripts/test.sh) on
//! loopback: a fresh clone with an empty local cache runs nothing; an
//! artifact signed with another key is a miss; the server going away
//! mid-run loses nothing.

mod common;

use assert_cmd::Command;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "test-token";

/// The server on a free loopback port, storing under `store`.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(store: &Path) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bin = common::node_modules().join(".bin/turborepo-remote-cache");
        let child = std::process::Command::new(bin)
            .env("NODE_ENV", "production")
            .env("PORT", port.to_string())
            .env("TURBO_TOKEN", TOKEN)
            // the server keeps x-artifact-tag only when it has a key set (any)
            .env("TURBO_REMOTE_CACHE_SIGNATURE_KEY", "server-side")
            .env("STORAGE_PROVIDER", "local")
            .env("STORAGE_PATH", store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("turborepo-remote-cache (scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the cache server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn plan(dir: &Path, slow: bool) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/a.txt"), "alpha\n").unwrap();
    std::fs::write(dir.join("src/b.txt"), "beta\n").unwrap();
    let wait = if slow { "sleep 1 && " } else { "" };
    std::fs::write(
        dir.join("parallel.json"),
        format!(
            r#"{{"plan_name": "remote", "achievements": [
 {{"achievement_id": "upper", "dependencies": [], "inputs": ["src/a.txt"], "outputs": ["out/upper.txt"],
  "command": "echo upper >> runs.log && mkdir -p out && tr a-z A-Z < src/a.txt > out/upper.txt"}},
 {{"achievement_id": "count", "dependencies": [], "inputs": ["src/b.txt"], "outputs": ["out/count.txt"],
  "command": "{wait}echo count >> runs.log && mkdir -p out && wc -c < src/b.txt > out/count.txt"}},
 {{"achievement_id": "join", "dependencies": ["upper", "count"], "inputs": ["out/upper.txt", "out/count.txt"], "outputs": ["out/join.txt"],
  "command": "echo join >> runs.log && cat out/upper.txt out/count.txt > out/join.txt"}}
]}}"#
        ),
    )
    .unwrap();
}

fn run(dir: &Path, server: &str, key: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["-q", "--remote-cache", server, "--remote-team", "parci"];
    args.extend_from_slice(extra);
    let o = Command::cargo_bin("run-parallel")
        .unwrap()
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("TURBO_TOKEN")
        .env("CI", "true")
        .env("PARCI_REMOTE_CACHE_TOKEN", TOKEN)
        .env("PARCI_REMOTE_CACHE_SIGNATURE_KEY", key)
        .args(&args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ran(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("runs.log")).unwrap_or_default();
    let _ = std::fs::remove_file(dir.join("runs.log"));
    let mut v: Vec<String> = text.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn a_fresh_clone_gets_every_task_from_the_remote_and_a_wrong_signature_is_a_miss() {
    let t = tempfile::tempdir().unwrap();
    let server = Server::start(&t.path().join("store"));
    let (a, b, c) = (t.path().join("a"), t.path().join("b"), t.path().join("c"));
    for d in [&a, &b, &c] {
        plan(d, false);
    }
    let (code, err) = run(&a, &server.url, "k3y", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ran(&a), ["count", "join", "upper"]);
    assert!(err.is_empty(), "{err}");

    // the dry run of another checkout sees the remote's artifacts (HEAD)
    let o = Command::cargo_bin("run-parallel")
        .unwrap()
        .current_dir(&b)
        .env("PARCI_REMOTE_CACHE_TOKEN", TOKEN)
        .args([
            "--dry-run",
            "--format",
            "json",
            "--remote-cache",
            &server.url,
            "--remote-team",
            "parci",
        ])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // (join reads its dependencies' outputs, absent before they are
    // restored: the dry run keys it on the files as they are now)
    let tasks = j["tasks"].as_array().unwrap();
    assert!(
        tasks
            .iter()
            .filter(|t| t["id"] != "join")
            .all(|t| t["cached"] == true),
        "{j}"
    );

    // another checkout, empty local cache: nothing runs, outputs identical
    let (code, err) = run(&b, &server.url, "k3y", &["--receipt", "r.json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ran(&b), Vec::<String>::new());
    for f in ["out/upper.txt", "out/count.txt", "out/join.txt"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("r.json")).unwrap()).unwrap();
    assert_eq!(r["results"]["totals"]["cached"], 3);
    assert_eq!(r["inputs"]["cache"]["remote"]["signed"], true);
    assert!(!String::from_utf8_lossy(&std::fs::read(b.join("r.json")).unwrap()).contains(TOKEN));

    // a reader with another key: every remote artifact fails its signature
    let (code, err) = run(&c, &server.url, "not-the-key", &["--cache", "read"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ran(&c), ["count", "join", "upper"]);
    assert!(err.contains("no valid signature"), "{err}");
}

#[test]
fn the_server_going_away_mid_run_loses_nothing() {
    let t = tempfile::tempdir().unwrap();
    let mut server = Server::start(&t.path().join("store"));
    let d = t.path().join("p");
    plan(&d, true);
    let url = server.url.clone();
    let d2 = d.clone();
    let runner = std::thread::spawn(move || run(&d2, &url, "k3y", &[]));
    // while `count` sleeps, the server dies (whenever it happens, the run
    // must end the same way: every task done, every artifact kept locally)
    std::thread::sleep(Duration::from_millis(300));
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let (code, err) = runner.join().unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(ran(&d), ["count", "join", "upper"]);
    assert_eq!(
        std::fs::read_to_string(d.join("out/join.txt")).unwrap(),
        "ALPHA\n5\n"
    );
    let local = std::fs::read_dir(d.join(".parci/cache"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "zst")
        })
        .count();
    assert_eq!(local, 3, "every artifact is in the local cache");
    // and the next run, server gone, restores everything locally
    let (code, _) = run(&d, &server.url, "k3y", &[]);
    assert_eq!(code, 0);
    assert_eq!(ran(&d), Vec::<String>::new());
}
