//! Comparing two builds' speed: paired wall-clock runs decided with a
//! confidence interval ([`paired`]), and instruction counts read from
//! callgrind's output ([`callgrind`]); a wall-clock run's figures derived
//! from the times it records, and checked again from them ([`wall`]); an
//! instruction count counted again to replay its receipt ([`recount`]).

pub mod callgrind;
pub mod paired;
pub mod recount;
pub mod wall;
