//! Folded stacks → SVG with inferno, deterministically: the same folded input
//! and options always give the same bytes (no random colours, sorted input).

use super::folded::Folded;
use inferno::flamegraph::{self, color, Direction, Options};

/// How to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderOptions {
    /// Top line of the SVG: what was profiled.
    pub title: String,
    /// Second line: commit, host, samples.
    pub subtitle: Option<String>,
    /// Icicle view: stacks reversed (hot leaf functions form the top row,
    /// their callers hang below) and drawn top-down.
    pub reverse: bool,
    /// Frames narrower than this many pixels are left out.
    pub min_width: f64,
    /// What a count is, in the tooltips: `samples`, `ns`, `cycles`, …
    pub count_name: String,
}

/// Default `min_width` in pixels (FlameGraph's default).
pub const DEFAULT_MIN_WIDTH: f64 = 0.1;

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            title: "Flame Graph".into(),
            subtitle: None,
            reverse: false,
            min_width: DEFAULT_MIN_WIDTH,
            count_name: "samples".into(),
        }
    }
}

fn options(o: &RenderOptions) -> Options<'static> {
    let mut opt = Options::default();
    opt.deterministic = true;
    opt.colors = color::Palette::Multi(color::MultiPalette::Rust);
    opt.title = o.title.clone();
    opt.subtitle = o.subtitle.clone();
    opt.min_width = o.min_width;
    opt.count_name = o.count_name.clone();
    if o.reverse {
        opt.reverse_stack_order = true;
        opt.direction = Direction::Inverted;
    }
    opt
}

/// Renders a flame graph of `folded`.
pub fn svg(folded: &Folded, o: &RenderOptions) -> std::io::Result<Vec<u8>> {
    let text = folded.to_text();
    let mut out = Vec::new();
    flamegraph::from_lines(&mut options(o), text.lines(), &mut out)?;
    Ok(out)
}

/// Renders a differential flame graph: the shape of `now`, each frame red
/// where it grew and blue where it shrank since `base`. `base` is first scaled
/// to `now`'s total samples (inferno's `normalize`), so profiles of different
/// lengths compare by share.
pub fn diff_svg(base: &Folded, now: &Folded, o: &RenderOptions) -> std::io::Result<Vec<u8>> {
    let (b, n) = (base.to_text(), now.to_text());
    let mut lines = Vec::new();
    let diff_opts = inferno::differential::Options {
        normalize: true,
        strip_hex: false,
    };
    inferno::differential::from_readers(diff_opts, b.as_bytes(), n.as_bytes(), &mut lines)?;
    let lines = String::from_utf8_lossy(&lines).into_owned();
    let mut opt = options(o);
    // Differential colours (red grew, blue shrank) replace the palette.
    opt.colors = color::Palette::Basic(color::BasicPalette::Hot);
    let mut out = Vec::new();
    flamegraph::from_lines(&mut opt, lines.lines(), &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn folded(s: &str) -> Folded {
        Folded::parse(s, Path::new("t")).unwrap()
    }

    #[test]
    fn same_folded_input_gives_identical_bytes() {
        let f = folded("main;a;hot 90\nmain;b 7\nmain;a 3\n");
        // The same stacks in another order fold to the same profile.
        let g = folded("main;a 3\nmain;b 7\nmain;a;hot 90\n");
        let o = RenderOptions {
            title: "t".into(),
            subtitle: Some("s".into()),
            ..RenderOptions::default()
        };
        let a = svg(&f, &o).unwrap();
        let b = svg(&g, &o).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert!(text.starts_with("<?xml"));
        assert!(text.contains(">hot (90 samples, 90.00%)<"), "{text}");
        assert!(text.contains(">t<") && text.contains(">s<"));
    }

    #[test]
    fn reverse_and_min_width_change_the_drawing() {
        let f = folded("main;a;hot 990\nmain;tiny 1\n");
        let plain = String::from_utf8(svg(&f, &RenderOptions::default()).unwrap()).unwrap();
        assert!(plain.contains("tiny (1 samples"));
        let wide = RenderOptions {
            min_width: 5.0,
            ..RenderOptions::default()
        };
        let wide = String::from_utf8(svg(&f, &wide).unwrap()).unwrap();
        assert!(!wide.contains("tiny (1 samples"), "narrow frame kept");
        let rev = RenderOptions {
            reverse: true,
            ..RenderOptions::default()
        };
        let rev = svg(&f, &rev).unwrap();
        assert_ne!(rev, plain.as_bytes());
        assert_eq!(
            rev,
            svg(
                &f,
                &RenderOptions {
                    reverse: true,
                    ..RenderOptions::default()
                }
            )
            .unwrap()
        );
    }

    #[test]
    fn differential_graph_is_deterministic_and_differential() {
        let base = folded("main;a 50\nmain;b 50\n");
        let now = folded("main;a 90\nmain;b 10\n");
        let a = diff_svg(&base, &now, &RenderOptions::default()).unwrap();
        assert_eq!(a, diff_svg(&base, &now, &RenderOptions::default()).unwrap());
        let text = String::from_utf8(a).unwrap();
        // inferno labels differential frames with the change in percent.
        assert!(
            text.contains("+40.00%") || text.contains("+80.00%"),
            "{text}"
        );
    }
}
