//! flamegraph: rendering, folding and parsing (always run), every bad input
//! (exit 2, one line), and sampling with perf (skipped, with the reason
//! printed, when perf cannot sample on this machine).
mod common;

use assert_cmd::Command;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

/// flamegraph run from `dir`, writing its receipt to `dir/r.json` and its
/// files to `dir/out`.
fn fg(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("flamegraph").unwrap();
    c.current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("RUST_LOG")
        .args(["--receipt", "r.json", "--out-dir", "out"]);
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().expect("exited, not killed"),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn receipt(dir: &Path) -> Value {
    serde_json::from_slice(&fs::read(dir.join("r.json")).unwrap()).unwrap()
}

/// verify-receipt on a receipt: (exit code, stdout).
fn verify(path: &Path) -> (i32, String) {
    let t = tempfile::tempdir().unwrap();
    let (code, out, err) = run(Command::cargo_bin("verify-receipt")
        .unwrap()
        .arg("--receipt")
        .arg(t.path().join("v.json"))
        .arg(path));
    (code, out + &err)
}

/// Asserts exit 2 with exactly one stderr line containing every `want`.
fn assert_usage(c: &mut Command, wants: &[&str]) {
    let (code, out, err) = run(c);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line, got: {err}");
    assert!(err.starts_with("flamegraph: error: "), "{err}");
    for w in wants {
        assert!(err.contains(w), "{w:?} missing in: {err}");
    }
}

const FOLDED: &str = "main;parse;lex 30\nmain;hot_kernel 60\nmain 10\n";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

#[test]
fn same_folded_input_renders_byte_identical_svgs_and_a_valid_receipt() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "in.folded", FOLDED);
    let (code, out, err) = run(fg(t.path()).args(["--from-folded", "in.folded"]));
    assert_eq!(code, 0, "{out}{err}");
    let first = fs::read(t.path().join("out/in.svg")).unwrap();
    let (code, _, _) = run(fg(t.path()).args(["--from-folded", "in.folded"]));
    assert_eq!(code, 0);
    assert_eq!(
        first,
        fs::read(t.path().join("out/in.svg")).unwrap(),
        "SVG differs"
    );
    // The same stacks in another order and split differently: same bytes.
    write(
        t.path(),
        "in.folded",
        "main 4\nmain;hot_kernel 60\nmain;parse;lex 30\nmain 6\n",
    );
    let (code, _, _) = run(fg(t.path()).args(["--from-folded", "in.folded"]));
    assert_eq!(code, 0);
    assert_eq!(first, fs::read(t.path().join("out/in.svg")).unwrap());
    assert_eq!(
        fs::read_to_string(t.path().join("out/in.folded")).unwrap(),
        "main 10\nmain;hot_kernel 60\nmain;parse;lex 30\n"
    );

    let r = receipt(t.path());
    assert_eq!(r["inputs"]["mode"], "folded");
    assert_eq!(r["results"]["sampler"]["name"], "none");
    let p = &r["results"]["profiles"][0];
    assert_eq!(p["weight"], 100);
    assert_eq!(p["weight_unit"], "samples");
    assert_eq!(
        p["samples"],
        Value::Null,
        "a folded file holds weights only"
    );
    assert_eq!(p["top_self"][0]["name"], "hot_kernel");
    assert_eq!(p["top_self"][0]["weight"], 60);
    assert_eq!(p["top_self"][0]["percent"], 60.0);
    assert_eq!(p["top_inclusive"][0]["name"], "main");
    assert_eq!(
        p["files"][0]["path"], "out/in.svg",
        "relative to the receipt"
    );
    assert_eq!(p["kernel_share"], Value::Null);
    let (code, text) = verify(&t.path().join("r.json"));
    assert_eq!(code, 0, "{text}");

    // A changed SVG beside the receipt fails verification.
    fs::write(t.path().join("out/in.svg"), b"<svg/>").unwrap();
    let (code, text) = verify(&t.path().join("r.json"));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("changed or replaced"), "{text}");
}

#[test]
fn title_reverse_and_min_width_shape_the_svg() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "in.folded", "main;hot 990\nmain;tiny_frame 1\n");
    let svg = |args: &[&str]| {
        let (code, out, err) = run(fg(t.path()).args(["--from-folded", "in.folded"]).args(args));
        assert_eq!(code, 0, "{out}{err}");
        fs::read_to_string(t.path().join("out/in.svg")).unwrap()
    };
    let plain = svg(&["--title", "My Title"]);
    assert!(plain.contains(">My Title<"));
    assert!(plain.contains("tiny_frame"));
    assert!(!svg(&["--min-width", "5"]).contains("tiny_frame"));
    let rev = svg(&["--reverse"]);
    assert_ne!(rev, svg(&[]));
    assert_eq!(receipt(t.path())["inputs"]["render"]["reverse"], false);
    svg(&["--reverse"]);
    assert_eq!(receipt(t.path())["inputs"]["render"]["reverse"], true);
    assert_usage(
        fg(t.path()).args(["--from-folded", "in.folded", "--min-width=-1"]),
        &["--min-width"],
    );
}

#[test]
fn diff_renders_a_differential_graph_and_lists_changes() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "base.folded", "main;a 50\nmain;b 50\n");
    write(t.path(), "new.folded", "main;a 80\nmain;b 10\nmain;c 10\n");
    let (code, out, err) =
        run(fg(t.path()).args(["--from-folded", "new.folded", "--diff", "base.folded"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(t.path().join("out/new.diff.svg").is_file());
    let r = receipt(t.path());
    let d = &r["results"]["profiles"][0]["diff"];
    assert_eq!(d["base_weight"], 100);
    assert_eq!(d["grown"][0]["name"], "a");
    assert_eq!(d["grown"][0]["delta_points"], 30.0);
    assert_eq!(d["grown"][1]["name"], "c");
    assert_eq!(d["shrunk"][0]["name"], "b");
    assert_eq!(d["shrunk"][0]["delta_points"], -40.0);
    assert_eq!(r["inputs"]["diff_base"]["path"], "base.folded");
    assert!(out.contains("grew"), "{out}");
    assert_eq!(verify(&t.path().join("r.json")).0, 0);
}

#[test]
fn perf_script_samples_weigh_their_period_with_demangled_names() {
    let t = tempfile::tempdir().unwrap();
    let script = "\
app 10/10 [000] 1.000000:    1003009 cpu-clock:u: \n\
\t  55d0 _ZN3app3hot17h0123456789abcdefE+0x10 (/x/app)\n\
\t  55f0 main (/x/app)\n\
\n\
app 10/10 [000] 1.001000:    2006018 cpu-clock:u: \n\
\t  55d0 _ZN3app3hot17h0123456789abcdefE+0x10 (/x/app)\n\
\t  55f0 main (/x/app)\n";
    write(t.path(), "perf.txt", script);
    let (code, out, err) =
        run(fg(t.path()).args(["--from-perf-script", "perf.txt", "--format", "json"]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        fs::read_to_string(t.path().join("out/perf.folded")).unwrap(),
        "app;main;app::hot 3009027\n"
    );
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["inputs"]["mode"], "perf-script");
    let p = &r["results"]["profiles"][0];
    assert_eq!(p["weight"], 3009027, "nanoseconds of cpu-clock");
    assert_eq!(p["weight_unit"], "ns");
    assert_eq!(p["samples"], 2);
    let svg = fs::read_to_string(t.path().join("out/perf.svg")).unwrap();
    assert!(
        svg.contains("app::hot (3,009,027 ns, 100.00%)"),
        "the unit is in the SVG"
    );
    assert!(
        svg.contains("3009027 ns in 2 samples"),
        "and in its subtitle"
    );
    assert_eq!(verify(&t.path().join("r.json")).0, 0);

    // Two events: a profile each, named by the event; --event picks one.
    let two = format!(
        "{script}\napp 10/10 [000] 1.002000:    7 page-faults:u: \n\t  55f0 main (/x/app)\n"
    );
    write(t.path(), "two.txt", &two);
    let (code, out, err) =
        run(fg(t.path()).args(["--from-perf-script", "two.txt", "--format", "json"]));
    assert_eq!(code, 0, "{out}{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = r["results"]["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["two-cpu-clock", "two-page-faults"]);
    assert_eq!(r["results"]["profiles"][1]["weight_unit"], "page-faults");
    assert_eq!(r["results"]["profiles"][1]["weight"], 7);
    let (code, out, err) = run(fg(t.path()).args([
        "--from-perf-script",
        "two.txt",
        "--event",
        "page-faults",
        "--format",
        "json",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["results"]["profiles"].as_array().unwrap().len(), 1);
    assert_usage(
        fg(t.path()).args(["--from-perf-script", "two.txt", "--event", "cycles"]),
        &[
            "--event cycles",
            "it has cpu-clock (2 samples), page-faults (1 sample)",
        ],
    );
}

#[test]
fn lines_inferno_skips_are_warnings_and_strict_refuses_them() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "odd.txt",
        "app 1 1.0: cpu-clock:\n\t55d0 main (/x)\n\nthis is not perf output\n",
    );
    let (code, out, err) =
        run(fg(t.path()).args(["--from-perf-script", "odd.txt", "--pid", "--kernel"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("odd.txt:4: an event line that is not"),
        "{err}"
    );
    let r = receipt(t.path());
    assert_eq!(r["verdict"]["status"], "warn");
    assert!(
        r["verdict"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("odd.txt:4:"),
        "{}",
        r["verdict"]
    );
    assert_eq!(
        fs::read_to_string(t.path().join("out/odd.folded")).unwrap(),
        "app-?;main 1\n"
    );
    assert_usage(
        fg(t.path()).args(["--from-perf-script", "odd.txt", "--strict"]),
        &["odd.txt:4:", "event line", "--strict"],
    );
}

#[test]
fn bad_inputs_give_one_line_and_exit_2() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "bad.folded", "main;a 1\nmain;b lots\n");
    assert_usage(
        fg(t.path()).args(["--from-folded", "bad.folded"]),
        &["bad.folded:2:", "not a whole number"],
    );
    write(t.path(), "empty.folded", "");
    assert_usage(
        fg(t.path()).args(["--from-folded", "empty.folded"]),
        &["empty.folded", "no samples"],
    );
    assert_usage(
        fg(t.path()).args(["--from-folded", "missing.folded"]),
        &["missing.folded", "cannot read"],
    );
    write(t.path(), "empty.txt", "");
    assert_usage(
        fg(t.path()).args(["--from-perf-script", "empty.txt"]),
        &["empty.txt", "no samples"],
    );
    write(t.path(), "notperf.txt", "{\"not\": \"perf\"}\n");
    assert_usage(
        fg(t.path()).args(["--from-perf-script", "notperf.txt"]),
        &["notperf.txt", "no samples (line 1: an event line"],
    );
    write(t.path(), "base.folded", "main 1 2\n");
    write(t.path(), "ok.folded", FOLDED);
    assert_usage(
        fg(t.path()).args(["--from-folded", "ok.folded", "--diff", "base.folded"]),
        &["base.folded:1:", "two sample counts"],
    );
    assert_usage(
        fg(t.path()).args(["--", "/no/such/program"]),
        &["/no/such/program", "no such program"],
    );
    // No receipt is written for bad input.
    assert!(!t.path().join("r.json").exists());
}

#[test]
fn perf_missing_or_refused_is_one_line_with_the_fix() {
    let t = tempfile::tempdir().unwrap();
    assert_usage(
        fg(t.path()).args(["--perf", "/nonexistent/perf", "--", "true"]),
        &[
            "perf is missing",
            "/nonexistent/perf: not found",
            "apt-get install",
        ],
    );
    // The workload without perf and --sampler perf: no silent fallback.
    assert_usage(
        fg(t.path()).args([
            "--perf",
            "/nonexistent/perf",
            "--sampler",
            "perf",
            "--preset",
            "tiny",
            "--tokens",
            "1",
        ]),
        &["perf is missing", "--sampler in-process"],
    );
    // A perf the kernel refuses (as at perf_event_paranoid 3 without root).
    let fake = t.path().join("perf");
    fs::write(
        &fake,
        "#!/bin/sh\n\
         if [ \"$1\" = --version ]; then echo 'perf version 6.1.0'; exit 0; fi\n\
         echo 'Error:' >&2\n\
         echo 'Access to performance monitoring and observability operations is limited.' >&2\n\
         echo 'Consider adjusting /proc/sys/kernel/perf_event_paranoid setting' >&2\n\
         exit 255\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    assert_usage(
        fg(t.path()).arg("--perf").arg(&fake).args(["--", "true"]),
        &["perf was refused", "perf_event_paranoid", "sysctl"],
    );
}

/// Whether perf can sample here; prints why not.
/// Whether `perf record -e cycles` records hardware cycles here (perf falls
/// back to cpu-clock silently where the PMU is not exposed, as in these VMs).
fn perf_counts_hardware_cycles() -> bool {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("c.data");
    let rec = std::process::Command::new("perf")
        .args(["record", "-q", "-e", "cycles", "-o"])
        .arg(&data)
        .args(["--", "true"])
        .output()
        .unwrap();
    if !rec.status.success() {
        return false;
    }
    let ev = std::process::Command::new("perf")
        .args(["evlist", "-i"])
        .arg(&data)
        .output()
        .unwrap();
    String::from_utf8_lossy(&ev.stdout)
        .lines()
        .any(|l| l.trim().split(':').next() == Some("cycles"))
}

fn perf_usable() -> bool {
    let t = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("perf")
        .args(["record", "-q", "-e", "cpu-clock", "-g", "-o"])
        .arg(t.path().join("p.data"))
        .args(["--", "true"])
        .output();
    match out {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!(
                "SKIP: perf cannot sample here: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            );
            false
        }
        Err(e) => {
            eprintln!("SKIP: perf is not installed ({e})");
            false
        }
    }
}

/// The busy-loop example (scripts/test.sh builds it with `cargo build --examples`).
fn busy_loop() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_flamegraph"))
        .with_file_name("examples")
        .join("busy-loop");
    assert!(
        p.is_file(),
        "{} is missing: run the tests with scripts/test.sh, which builds the examples first (`cargo build --examples`)",
        p.display()
    );
    p
}

#[test]
fn perf_names_the_busy_loops_hot_function_in_the_top_3_self_frames() {
    if !perf_usable() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (code, out, err) = run(fg(t.path()).arg("--").arg(busy_loop()).arg("300"));
    assert_eq!(code, 0, "{out}{err}");
    let r = receipt(t.path());
    assert_eq!(r["results"]["sampler"]["name"], "perf");
    assert_eq!(r["inputs"]["mode"], "command");
    let top: Vec<&str> = r["results"]["profiles"][0]["top_self"]
        .as_array()
        .unwrap()
        .iter()
        .take(3)
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        top.iter().any(|n| n.ends_with("busy_loop_hot_spin")),
        "{top:?}"
    );
    assert_eq!(verify(&t.path().join("r.json")).0, 0);
}

#[test]
fn a_command_that_exits_before_a_sample_or_fails() {
    if !perf_usable() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    // At the default frequency perf may catch `true` during exec (seen: one
    // sample in `__d_lookup_rcu` in 1 of 3 runs). At 1 Hz the software
    // cpu-clock event samples after 1 s of the task's own CPU time, which
    // `true` never uses, however loaded the machine: no sample, every time.
    // Hardware cycles in frequency mode start with a period of one event and
    // would sample at once, so where perf counts cycles this part is skipped.
    if perf_counts_hardware_cycles() {
        eprintln!(
            "SKIP: perf counts hardware cycles here; 1 Hz does not rule out a sample of `true`"
        );
    } else {
        assert_usage(
            fg(t.path()).args(["--frequency", "1", "--", "true"]),
            &["before perf took a sample", "--frequency"],
        );
    }
    let script = format!("{} 200; exit 3", busy_loop().display());
    let (code, out, err) = run(fg(t.path()).args(["--name", "fails", "--", "sh", "-c", &script]));
    assert_eq!(code, 1, "{out}{err}");
    let r = receipt(t.path());
    assert_eq!(r["verdict"]["status"], "fail");
    assert_eq!(r["results"]["profiles"][0]["command_status"], 3);
    assert!(r["verdict"]["reasons"][0]
        .as_str()
        .unwrap()
        .contains("exited with status 3"));
}

#[test]
fn perf_profiles_the_workload_once_per_token_count() {
    if !perf_usable() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (code, out, err) = run(fg(t.path())
        .args(["--preset", "tiny", "--tokens", "1,4", "--repeats", "2"])
        .arg("--perf-smoke")
        .arg(env!("CARGO_BIN_EXE_perf-smoke")));
    assert_eq!(code, 0, "{out}{err}");
    let r = receipt(t.path());
    let s = &r["results"]["sampler"];
    assert_eq!(s["name"], "perf");
    // A debug perf-smoke has no frame pointers: DWARF unwinding is chosen.
    assert_eq!(s["call_graph"], "dwarf");
    assert_eq!(s["binary"]["frame_pointers"], false);
    let ps = r["results"]["profiles"].as_array().unwrap();
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0]["name"], "tiny-1tok");
    assert_eq!(ps[1]["tokens"], 4);
    for p in ps {
        let k = &p["kernel_share"];
        assert!(
            k["percent"].as_f64().unwrap() > 0.0,
            "no kernel frame sampled: {p}"
        );
        assert!(k["perf_smoke_matvec_share_percent"].as_f64().is_some());
    }
    assert!(t.path().join("out/tiny-4tok.svg").is_file());
    assert_eq!(verify(&t.path().join("r.json")).0, 0);
}

#[test]
fn in_process_sampler_profiles_the_workload_without_perf() {
    let t = tempfile::tempdir().unwrap();
    let (code, out, err) = run(fg(t.path()).args([
        "--sampler",
        "in-process",
        "--preset",
        "tiny",
        "--tokens",
        "16",
        "--repeats",
        "3",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let r = receipt(t.path());
    let s = &r["results"]["sampler"];
    assert_eq!(s["name"], "pprof");
    assert!(s["why"].as_str().unwrap().contains("--sampler in-process"));
    assert!(r["results"]["profiles"][0]["samples"].as_u64().unwrap() > 0);
    assert_eq!(verify(&t.path().join("r.json")).0, 0);
    // A command cannot be profiled in-process.
    assert_usage(
        fg(t.path()).args(["--sampler", "in-process", "--", "true"]),
        &["needs perf"],
    );
}
