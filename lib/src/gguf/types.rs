//! The ggml tensor type table, as `ggml.h` has it today: id, name, elements per
//! block and bytes per block. Ids ggml removed are known by name so a file that
//! uses one gets a precise refusal; other ids are reported by number.

use std::fmt;

/// A live ggml tensor type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GgmlType(u32);

struct Info {
    name: &'static str,
    block: u32,
    bytes: u32,
}

const fn t(name: &'static str, block: u32, bytes: u32) -> Option<Info> {
    Some(Info { name, block, bytes })
}

/// Indexed by type id; `None` for ids that are removed or were never assigned.
static TABLE: [Option<Info>; 42] = [
    t("F32", 1, 4),        // 0
    t("F16", 1, 2),        // 1
    t("Q4_0", 32, 18),     // 2
    t("Q4_1", 32, 20),     // 3
    None,                  // 4 Q4_2, removed
    None,                  // 5 Q4_3, removed
    t("Q5_0", 32, 22),     // 6
    t("Q5_1", 32, 24),     // 7
    t("Q8_0", 32, 34),     // 8
    t("Q8_1", 32, 36),     // 9: f16 d, s + 32 qs (gguf-py still says 40, the old f32 layout)
    t("Q2_K", 256, 84),    // 10
    t("Q3_K", 256, 110),   // 11
    t("Q4_K", 256, 144),   // 12
    t("Q5_K", 256, 176),   // 13
    t("Q6_K", 256, 210),   // 14
    t("Q8_K", 256, 292),   // 15
    t("IQ2_XXS", 256, 66), // 16
    t("IQ2_XS", 256, 74),  // 17
    t("IQ3_XXS", 256, 98), // 18
    t("IQ1_S", 256, 50),   // 19
    t("IQ4_NL", 32, 18),   // 20
    t("IQ3_S", 256, 110),  // 21
    t("IQ2_S", 256, 82),   // 22
    t("IQ4_XS", 256, 136), // 23
    t("I8", 1, 1),         // 24
    t("I16", 1, 2),        // 25
    t("I32", 1, 4),        // 26
    t("I64", 1, 8),        // 27
    t("F64", 1, 8),        // 28
    t("IQ1_M", 256, 56),   // 29
    t("BF16", 1, 2),       // 30
    None,                  // 31 Q4_0_4_4, removed
    None,                  // 32 Q4_0_4_8, removed
    None,                  // 33 Q4_0_8_8, removed
    t("TQ1_0", 256, 54),   // 34
    t("TQ2_0", 256, 66),   // 35
    None,                  // 36 IQ4_NL_4_4, removed
    None,                  // 37 IQ4_NL_4_8, removed
    None,                  // 38 IQ4_NL_8_8, removed
    t("MXFP4", 32, 17),    // 39
    t("NVFP4", 64, 36),    // 40
    t("Q1_0", 128, 18),    // 41
];

/// Ids ggml once had and removed; files using them are refused by name.
static REMOVED: &[(u32, &str)] = &[
    (4, "Q4_2"),
    (5, "Q4_3"),
    (31, "Q4_0_4_4"),
    (32, "Q4_0_4_8"),
    (33, "Q4_0_8_8"),
    (36, "IQ4_NL_4_4"),
    (37, "IQ4_NL_4_8"),
    (38, "IQ4_NL_8_8"),
];

/// Why a type id is not usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    #[error("type {name} (id {id}) was removed from ggml; re-convert the model with a current llama.cpp")]
    Removed { id: u32, name: &'static str },
    #[error("unknown ggml type id {0}; this build knows ids 0..={max}", max = TABLE.len() - 1)]
    Unknown(u32),
}

impl GgmlType {
    pub const F32: GgmlType = GgmlType(0);
    pub const F16: GgmlType = GgmlType(1);
    pub const Q4_0: GgmlType = GgmlType(2);
    pub const Q4_1: GgmlType = GgmlType(3);
    pub const Q5_0: GgmlType = GgmlType(6);
    pub const Q5_1: GgmlType = GgmlType(7);
    pub const Q8_0: GgmlType = GgmlType(8);
    pub const Q8_1: GgmlType = GgmlType(9);
    pub const Q2_K: GgmlType = GgmlType(10);
    pub const Q3_K: GgmlType = GgmlType(11);
    pub const Q4_K: GgmlType = GgmlType(12);
    pub const Q5_K: GgmlType = GgmlType(13);
    pub const Q6_K: GgmlType = GgmlType(14);
    pub const Q8_K: GgmlType = GgmlType(15);
    pub const BF16: GgmlType = GgmlType(30);
    pub const TQ1_0: GgmlType = GgmlType(34);
    pub const TQ2_0: GgmlType = GgmlType(35);

    /// The type with this id, or why there is none.
    pub fn from_id(id: u32) -> Result<GgmlType, TypeError> {
        match TABLE.get(id as usize) {
            Some(Some(_)) => Ok(GgmlType(id)),
            _ => match REMOVED.iter().find(|(r, _)| *r == id) {
                Some(&(id, name)) => Err(TypeError::Removed { id, name }),
                None => Err(TypeError::Unknown(id)),
            },
        }
    }

    /// The live type named `name` (ggml's spelling, e.g. `TQ2_0`), case-insensitive.
    pub fn from_name(name: &str) -> Option<GgmlType> {
        Self::all().find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Every live type, by id.
    pub fn all() -> impl Iterator<Item = GgmlType> {
        (0..TABLE.len() as u32).filter_map(|i| Self::from_id(i).ok())
    }

    fn info(self) -> &'static Info {
        TABLE[self.0 as usize]
            .as_ref()
            .expect("GgmlType holds live ids only")
    }
    pub fn id(self) -> u32 {
        self.0
    }
    pub fn name(self) -> &'static str {
        self.info().name
    }
    /// Elements per block.
    pub fn block_size(self) -> u64 {
        self.info().block as u64
    }
    /// Bytes per block.
    pub fn type_size(self) -> u64 {
        self.info().bytes as u64
    }
    /// Bytes of a row of `n` elements; `None` if `n` is not a whole number of
    /// blocks or the size overflows.
    pub fn row_bytes(self, n: u64) -> Option<u64> {
        if !n.is_multiple_of(self.block_size()) {
            return None;
        }
        (n / self.block_size()).checked_mul(self.type_size())
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_removed_and_unknown_ids() {
        assert_eq!(GgmlType::from_id(35).unwrap().name(), "TQ2_0");
        assert_eq!(GgmlType::TQ2_0.row_bytes(512), Some(132));
        assert_eq!(GgmlType::TQ2_0.row_bytes(100), None);
        assert_eq!(
            GgmlType::from_id(32),
            Err(TypeError::Removed {
                id: 32,
                name: "Q4_0_4_8"
            })
        );
        assert_eq!(GgmlType::from_id(42), Err(TypeError::Unknown(42)));
        assert_eq!(
            GgmlType::from_id(u32::MAX),
            Err(TypeError::Unknown(u32::MAX))
        );
        assert_eq!(GgmlType::from_name("q8_0"), Some(GgmlType::Q8_0));
        assert_eq!(GgmlType::all().count(), 42 - REMOVED.len());
        for &(id, _) in REMOVED {
            assert!(TABLE[id as usize].is_none());
        }
    }
}
