//! Comparing two builds' speed: paired wall-clock runs decided with a
//! confidence interval ([`paired`]), and instruction counts read from
//! callgrind's output ([`callgrind`]).

pub mod callgrind;
pub mod paired;
