//! GitHub Actions output: workflow-command annotations and the step summary.

use crate::cli::Env;
use std::io::Write;

#[derive(Copy, Clone, Debug)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

/// Escapes a workflow-command message (`%`, CR, LF).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow-command property value (also `:` and `,`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The `::error file=…,line=…,title=…::message` line for one finding.
pub fn annotation(
    level: Level,
    file: &str,
    line: Option<u64>,
    title: &str,
    message: &str,
) -> String {
    let cmd = match level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Notice => "notice",
    };
    let mut props = format!("file={}", escape_property(file));
    if let Some(l) = line {
        props.push_str(&format!(",line={l}"));
    }
    props.push_str(&format!(",title={}", escape_property(title)));
    format!("::{cmd} {props}::{}", escape_data(message))
}

/// Prints an annotation on stdout when running on GitHub Actions.
pub fn annotate(
    env: &Env,
    level: Level,
    file: &str,
    line: Option<u64>,
    title: &str,
    message: &str,
) {
    if env.github_actions {
        println!("{}", annotation(level, file, line, title, message));
    }
}

/// Escapes text for a Markdown table cell.
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Appends Markdown to `$GITHUB_STEP_SUMMARY` when it is set.
pub fn append_summary(env: &Env, markdown: &str) -> anyhow::Result<()> {
    let Some(path) = &env.step_summary else {
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot append the step summary: {e}", path.display()))?;
    f.write_all(markdown.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_escapes_properties_and_data() {
        let a = annotation(Level::Error, "a,b:c.json", Some(3), "t", "50% bad\nline");
        assert_eq!(
            a,
            "::error file=a%2Cb%3Ac.json,line=3,title=t::50%25 bad%0Aline"
        );
        let w = annotation(Level::Warning, "f", None, "x", "m");
        assert_eq!(w, "::warning file=f,title=x::m");
    }
}
