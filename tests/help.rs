//! Every program answers --help with an example and --version, exit 0.
mod common;

#[test]
fn every_program_has_help_with_an_example_and_a_version() {
    let programs = common::programs();
    assert!(!programs.is_empty());
    for p in programs {
        let out = assert_cmd::Command::cargo_bin(&p)
            .unwrap()
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{p} --help failed");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("Examples:"),
            "{p} --help has no example:\n{text}"
        );
        assert!(
            text.contains(&format!("  {p}")),
            "{p} --help example does not run {p}"
        );
        let out = assert_cmd::Command::cargo_bin(&p)
            .unwrap()
            .arg("--version")
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            format!("{p} {}", env!("CARGO_PKG_VERSION"))
        );
    }
}
