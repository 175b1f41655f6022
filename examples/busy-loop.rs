//! A busy loop for `flamegraph`'s tests: almost all of its CPU time is spent
//! in one function, `busy_loop_hot_spin`, so a profile must name it among the
//! hottest self frames. Usage: busy-loop [MILLISECONDS] (default 400).

use std::hint::black_box;
use std::time::{Duration, Instant};

#[inline(never)]
fn busy_loop_hot_spin(rounds: u64) -> u64 {
    // xorshift with plain operators and a while loop: nothing here is a
    // call even in a debug build, so the samples land in this function.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut i = 0;
    while i < rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        i += 1;
    }
    black_box(x)
}

fn main() {
    let ms: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(400);
    let end = Instant::now() + Duration::from_millis(ms);
    let mut acc = 0u64;
    while Instant::now() < end {
        acc ^= busy_loop_hot_spin(200_000);
    }
    println!("{acc:x}");
}
