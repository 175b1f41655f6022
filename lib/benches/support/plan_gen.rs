//! The generated plan the plan benchmark and the plan_phases example use.

/// A plan whose achievement i depends on three random earlier ones.
pub fn plan_text(n: usize) -> String {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut t = String::with_capacity(n * 110);
    t.push_str("{\"plan_name\": \"BENCH\", \"achievements\": [\n");
    for i in 0..n {
        let mut d: Vec<u64> = if i == 0 {
            vec![]
        } else {
            (0..3).map(|_| next() % i as u64).collect()
        };
        d.sort_unstable();
        d.dedup();
        let d: Vec<String> = d.iter().map(|j| format!("\"a{j}\"")).collect();
        t.push_str(&format!(
            "  {{\"achievement_id\": \"a{i}\", \"title\": \"Achievement {i}\", \"dependencies\": [{}], \"estimated_hours\": \"{}-{}\"}}{}\n",
            d.join(", "),
            i % 7,
            i % 7 + 3,
            if i + 1 < n { "," } else { "" }
        ));
    }
    t.push_str("]}\n");
    t
}
