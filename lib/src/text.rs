//! English for counts in messages: "1 error", "2 errors", "1 dependency",
//! "3 dependencies", "2 batches". Every program that reports a count says it
//! through [`count`], so a plural is right in one place.

/// `n` and the noun, singular for exactly one.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {}", plural(noun))
    }
}

/// The plural of a regular English noun (the nouns parci counts).
pub fn plural(noun: &str) -> String {
    let b = noun.as_bytes();
    let vowel = |c: u8| b"aeiou".contains(&c);
    if let Some(stem) = noun.strip_suffix('y') {
        if b.len() >= 2 && !vowel(b[b.len() - 2]) {
            return format!("{stem}ies");
        }
    }
    if noun.ends_with("ch") || noun.ends_with("sh") || noun.ends_with('s') || noun.ends_with('x') {
        return format!("{noun}es");
    }
    format!("{noun}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(count(1u32, "error"), "1 error");
        assert_eq!(count(0u32, "error"), "0 errors");
        assert_eq!(count(2usize as u64, "dependency"), "2 dependencies");
        assert_eq!(count(1u32, "dependency"), "1 dependency");
        assert_eq!(count(3u32, "batch"), "3 batches");
        assert_eq!(count(2u32, "day"), "2 days");
        assert_eq!(count(5u32, "file"), "5 files");
        assert_eq!(count(2u32, "achievement"), "2 achievements");
    }
}
