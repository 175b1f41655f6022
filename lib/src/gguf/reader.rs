//! GGUF v2/v3 reader: validates the whole header, metadata and tensor table
//! with checked arithmetic before anything is used, then exposes metadata and
//! tensor data as slices borrowed from the bytes (memory-mapped by [`MappedFile`]).
//!
//! Every count and length is compared with the bytes that remain *before*
//! anything is allocated for it, so a hostile file cannot make the reader
//! allocate more than a small multiple of its own size.

use super::types::{GgmlType, TypeError};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

pub const MAGIC: &[u8; 4] = b"GGUF";
/// Alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml's GGML_MAX_DIMS.
pub const MAX_DIMS: u32 = 4;
/// Deepest nesting of arrays inside arrays that is accepted.
pub const MAX_ARRAY_DEPTH: u32 = 8;
/// ggml's GGML_MAX_NAME: longer tensor names are accepted but warned about.
pub const GGML_MAX_NAME: usize = 64;

/// Metadata value types, by their GGUF id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    Str = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl ValueType {
    pub fn from_id(id: u32) -> Option<ValueType> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => Str,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }
    /// Size of a fixed-size value; `None` for strings and arrays.
    pub fn fixed_size(self) -> Option<u64> {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            Str | Array => None,
        }
    }
    /// The smallest number of bytes one value of this type occupies.
    fn min_size(self) -> u64 {
        match self {
            ValueType::Str => 8,
            ValueType::Array => 12,
            t => t.fixed_size().unwrap_or(1),
        }
    }
    /// The type's name as the GGUF spec spells it (`uint32`, `string`, …).
    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "uint8",
            I8 => "int8",
            U16 => "uint16",
            I16 => "int16",
            U32 => "uint32",
            I32 => "int32",
            F32 => "float32",
            Bool => "bool",
            Str => "string",
            Array => "array",
            U64 => "uint64",
            I64 => "int64",
            F64 => "float64",
        }
    }
}

/// A GGUF string: bytes as stored. Keys and tensor names are checked UTF-8;
/// string values may not be (the reader warns), so they stay bytes here.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct GStr<'a>(pub &'a [u8]);

impl<'a> GStr<'a> {
    pub fn as_str(&self) -> std::result::Result<&'a str, std::str::Utf8Error> {
        std::str::from_utf8(self.0)
    }
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(self.0).into_owned()
    }
}

impl fmt::Debug for GStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(self.0), f)
    }
}

/// A metadata value borrowed from the file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(GStr<'a>),
    Array(Array<'a>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value<'_> {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::Str(_) => ValueType::Str,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }
}

/// An array value: validated element bytes, decoded lazily.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Array<'a> {
    pub elem: ValueType,
    pub len: u64,
    bytes: &'a [u8],
    /// Absolute offset of `bytes` in the file, for error messages.
    offset: u64,
}

impl<'a> Array<'a> {
    /// The elements in order. The array was validated when the file was
    /// parsed, so decoding cannot fail here.
    pub fn iter(&self) -> impl Iterator<Item = Value<'a>> + 'a {
        let mut cur = Cursor {
            b: self.bytes,
            pos: 0,
            base: self.offset,
        };
        let elem = self.elem;
        (0..self.len).map_while(move |_| cur.value(elem, 1, &mut |_| ()).ok())
    }
    /// The elements of a string array as bytes, decoded without the
    /// general value machinery (a tokenizer reads 262 144 of them); empty
    /// for any other element type.
    pub fn strs(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut rest = if self.elem == ValueType::Str {
            self.bytes
        } else {
            &[]
        };
        (0..self.len).map_while(move |_| {
            // Validated when the file was parsed: a u64 length, then that many bytes.
            let (len, tail) = rest.split_first_chunk::<8>()?;
            let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
            let (s, tail) = tail.split_at_checked(len)?;
            rest = tail;
            Some(s)
        })
    }
    /// The element bytes (for fixed-size element types, `len * size` bytes).
    pub fn raw(&self) -> &'a [u8] {
        self.bytes
    }
}

/// One metadata key/value pair.
#[derive(Clone, Copy, Debug)]
pub struct Kv<'a> {
    pub key: &'a str,
    pub value: Value<'a>,
    /// Byte offset of the key in the file.
    pub offset: u64,
}

/// One tensor's description and data.
#[derive(Clone, Copy, Debug)]
pub struct TensorInfo<'a> {
    pub name: &'a str,
    /// Number of dimensions as stored (0..=4); `ne` is padded with 1s.
    pub n_dims: u32,
    /// Shape in ggml order: `ne[0]` is the contiguous (row) dimension.
    pub ne: [u64; 4],
    pub ty: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    /// Bytes of data.
    pub size: u64,
    /// The data itself, borrowed from the file.
    pub data: &'a [u8],
}

impl TensorInfo<'_> {
    pub fn n_elements(&self) -> u64 {
        self.ne.iter().product()
    }
    /// The stored dimensions, ggml order.
    pub fn shape(&self) -> &[u64] {
        &self.ne[..self.n_dims as usize]
    }
}

/// Something a file does that ggml's reader or the spec dislikes but that is
/// safe to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub offset: u64,
    pub message: String,
}

/// What is wrong, without the place.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("file ends after {have} bytes, {need} more needed")]
    Truncated { need: u64, have: u64 },
    #[error("bad magic {0:02x?}: not a GGUF file (expected \"GGUF\")")]
    BadMagic([u8; 4]),
    #[error("version {0} looks byte-swapped: big-endian GGUF files are not supported")]
    BigEndian(u32),
    #[error("GGUF version 1 is not supported (v2 and v3 are); re-convert the model with a current llama.cpp")]
    VersionOne,
    #[error("unknown GGUF version {0}; this reader supports 2 and 3")]
    UnknownVersion(u32),
    #[error("length {len} is larger than the {remaining} bytes left in the file")]
    LengthTooLarge { len: u64, remaining: u64 },
    #[error(
        "count {count} needs at least {min_bytes} bytes each but only {remaining} bytes are left"
    )]
    CountTooLarge {
        count: u64,
        min_bytes: u64,
        remaining: u64,
    },
    #[error("invalid UTF-8")]
    InvalidUtf8,
    #[error("unknown metadata value type {0}; valid types are 0..=12")]
    UnknownValueType(u32),
    #[error("arrays nested deeper than {MAX_ARRAY_DEPTH} levels")]
    ArrayTooDeep,
    #[error("duplicate key {0:?}")]
    DuplicateKey(String),
    #[error("{0}")]
    BadAlignment(String),
    #[error("{0} dimensions; ggml supports at most {MAX_DIMS}")]
    TooManyDims(u32),
    #[error("dimension {0} is larger than ggml's int64 limit")]
    DimTooLarge(u64),
    #[error("element count of shape {0:?} overflows int64")]
    ShapeOverflow(Vec<u64>),
    #[error("{0}")]
    Type(#[from] TypeError),
    #[error("first dimension {ne0} is not a multiple of the {ty} block size {block}")]
    NotBlockMultiple { ne0: u64, ty: GgmlType, block: u64 },
    #[error("data offset {offset} is not a multiple of the alignment {alignment}")]
    Misaligned { offset: u64, alignment: u64 },
    #[error("data [{offset}, {offset}+{size}) lies outside the {data_len}-byte data section")]
    OutOfBounds {
        offset: u64,
        size: u64,
        data_len: u64,
    },
    #[error("data overlaps tensor {0:?}")]
    Overlap(String),
    #[error("duplicate tensor name {0:?}")]
    DuplicateTensor(String),
    #[error("empty tensor name")]
    EmptyName,
}

/// A refusal: where (byte offset and field) and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}: {field}: {kind}")]
pub struct GgufError {
    pub offset: u64,
    pub field: String,
    pub kind: ErrorKind,
}

type Result<T> = std::result::Result<T, GgufError>;

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
    /// Absolute file offset of `b[0]`.
    base: u64,
}

impl<'a> Cursor<'a> {
    fn at(&self) -> u64 {
        self.base + self.pos as u64
    }
    fn remaining(&self) -> u64 {
        (self.b.len() - self.pos) as u64
    }
    fn err(&self, field: &str, kind: ErrorKind) -> GgufError {
        GgufError {
            offset: self.at(),
            field: field.to_string(),
            kind,
        }
    }
    fn take(&mut self, n: u64, field: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err(
                field,
                ErrorKind::Truncated {
                    need: n - self.remaining(),
                    have: self.base + self.b.len() as u64,
                },
            ));
        }
        let s = &self.b[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N]> {
        let s = self.take(N as u64, field)?;
        Ok(s.try_into().expect("take returned N bytes"))
    }
    fn u32(&mut self, field: &str) -> Result<u32> {
        self.array(field).map(u32::from_le_bytes)
    }
    fn u64(&mut self, field: &str) -> Result<u64> {
        self.array(field).map(u64::from_le_bytes)
    }
    /// A length-prefixed string, its length checked against what remains.
    fn gstr(&mut self, field: &str) -> Result<GStr<'a>> {
        let at = self.at();
        let len = self.u64(field)?;
        if len > self.remaining() {
            return Err(GgufError {
                offset: at,
                field: field.to_string(),
                kind: ErrorKind::LengthTooLarge {
                    len,
                    remaining: self.remaining(),
                },
            });
        }
        self.take(len, field).map(GStr)
    }
    fn utf8(&mut self, field: &str) -> Result<&'a str> {
        let at = self.at();
        let s = self.gstr(field)?;
        s.as_str().map_err(|_| GgufError {
            offset: at,
            field: field.to_string(),
            kind: ErrorKind::InvalidUtf8,
        })
    }
    fn value_type(&mut self, field: &str) -> Result<ValueType> {
        let at = self.at();
        let id = self.u32(field)?;
        ValueType::from_id(id).ok_or(GgufError {
            offset: at,
            field: field.to_string(),
            kind: ErrorKind::UnknownValueType(id),
        })
    }
    /// One value of type `ty`; `depth` counts array nesting. `bad_utf8` is
    /// called with the offset of each string value that is not UTF-8.
    fn value(
        &mut self,
        ty: ValueType,
        depth: u32,
        bad_utf8: &mut dyn FnMut(u64),
    ) -> Result<Value<'a>> {
        let f = "value";
        Ok(match ty {
            ValueType::U8 => Value::U8(self.array::<1>(f)?[0]),
            ValueType::I8 => Value::I8(self.array::<1>(f)?[0] as i8),
            ValueType::Bool => Value::Bool(self.array::<1>(f)?[0] != 0),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(f)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(f)?)),
            ValueType::U32 => Value::U32(u32::from_le_bytes(self.array(f)?)),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array(f)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array(f)?)),
            ValueType::U64 => Value::U64(u64::from_le_bytes(self.array(f)?)),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array(f)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array(f)?)),
            ValueType::Str => {
                let at = self.at();
                let s = self.gstr("string value")?;
                if s.as_str().is_err() {
                    bad_utf8(at);
                }
                Value::Str(s)
            }
            ValueType::Array => {
                if depth > MAX_ARRAY_DEPTH {
                    return Err(self.err("array", ErrorKind::ArrayTooDeep));
                }
                let elem = self.value_type("array element type")?;
                let count_at = self.at();
                let len = self.u64("array count")?;
                let min = elem.min_size();
                if len > self.remaining() / min {
                    return Err(GgufError {
                        offset: count_at,
                        field: "array count".into(),
                        kind: ErrorKind::CountTooLarge {
                            count: len,
                            min_bytes: min,
                            remaining: self.remaining(),
                        },
                    });
                }
                let start = self.pos;
                let offset = self.at();
                match elem.fixed_size() {
                    Some(size) => {
                        self.take(len * size, "array data")?;
                    }
                    None => {
                        for _ in 0..len {
                            self.value(elem, depth + 1, bad_utf8)?;
                        }
                    }
                }
                Value::Array(Array {
                    elem,
                    len,
                    bytes: &self.b[start..self.pos],
                    offset,
                })
            }
        })
    }
}

/// A parsed, validated GGUF file borrowing from its bytes.
#[derive(Debug)]
pub struct Gguf<'a> {
    pub version: u32,
    pub alignment: u64,
    /// Absolute offset of the tensor data section.
    pub data_offset: u64,
    kvs: Vec<Kv<'a>>,
    kv_index: HashMap<&'a str, usize>,
    tensors: Vec<TensorInfo<'a>>,
    tensor_index: HashMap<&'a str, usize>,
    warnings: Vec<Warning>,
    file_len: u64,
}

fn align_up(x: u64, a: u64) -> Option<u64> {
    x.checked_add(a - 1).map(|v| v / a * a)
}

impl<'a> Gguf<'a> {
    /// Parses and validates `bytes` as a GGUF file.
    pub fn parse(bytes: &'a [u8]) -> Result<Gguf<'a>> {
        let mut c = Cursor {
            b: bytes,
            pos: 0,
            base: 0,
        };
        let magic = c.array::<4>("magic")?;
        if &magic != MAGIC {
            return Err(GgufError {
                offset: 0,
                field: "magic".into(),
                kind: ErrorKind::BadMagic(magic),
            });
        }
        let version = c.u32("version")?;
        match version {
            2 | 3 => {}
            1 => {
                return Err(GgufError {
                    offset: 4,
                    field: "version".into(),
                    kind: ErrorKind::VersionOne,
                })
            }
            v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
                return Err(GgufError {
                    offset: 4,
                    field: "version".into(),
                    kind: ErrorKind::BigEndian(v),
                })
            }
            v => {
                return Err(GgufError {
                    offset: 4,
                    field: "version".into(),
                    kind: ErrorKind::UnknownVersion(v),
                })
            }
        }
        let n_tensors_at = c.at();
        let n_tensors = c.u64("tensor count")?;
        let n_kv_at = c.at();
        let n_kv = c.u64("metadata count")?;
        // A KV is at least key length (8) + type (4) + 1 byte; a tensor info at
        // least name length (8) + n_dims (4) + type (4) + offset (8).
        for (count, min, at, field) in [
            (n_kv, 13u64, n_kv_at, "metadata count"),
            (n_tensors, 24u64, n_tensors_at, "tensor count"),
        ] {
            if count > c.remaining() / min {
                return Err(GgufError {
                    offset: at,
                    field: field.into(),
                    kind: ErrorKind::CountTooLarge {
                        count,
                        min_bytes: min,
                        remaining: c.remaining(),
                    },
                });
            }
        }

        let mut warnings = Vec::new();
        let mut kvs = Vec::with_capacity(n_kv as usize);
        let mut kv_index = HashMap::with_capacity(n_kv as usize);
        for i in 0..n_kv {
            let offset = c.at();
            let key = c.utf8(&format!("metadata key #{i}"))?;
            let ty = c.value_type(&format!("type of {key:?}"))?;
            let mut bad = Vec::new();
            let value = c.value(ty, 1, &mut |at| bad.push(at)).map_err(|mut e| {
                e.field = format!("value of {key:?}: {}", e.field);
                e
            })?;
            if let Some(&first) = bad.first() {
                warnings.push(Warning {
                    offset: first,
                    message: format!(
                        "value of {key:?} has {} string(s) that are not valid UTF-8",
                        bad.len()
                    ),
                });
            }
            if kv_index.insert(key, kvs.len()).is_some() {
                return Err(GgufError {
                    offset,
                    field: format!("metadata key #{i}"),
                    kind: ErrorKind::DuplicateKey(key.into()),
                });
            }
            kvs.push(Kv { key, value, offset });
        }

        let alignment = match kv_index.get("general.alignment").map(|&i| &kvs[i]) {
            None => DEFAULT_ALIGNMENT,
            Some(kv) => match kv.value {
                Value::U32(a) if a != 0 && a.is_power_of_two() => a as u64,
                Value::U32(a) => {
                    return Err(GgufError {
                        offset: kv.offset,
                        field: "general.alignment".into(),
                        kind: ErrorKind::BadAlignment(format!(
                            "alignment {a} is not a power of two"
                        )),
                    })
                }
                other => {
                    return Err(GgufError {
                        offset: kv.offset,
                        field: "general.alignment".into(),
                        kind: ErrorKind::BadAlignment(format!(
                            "has type {}, ggml requires uint32",
                            other.value_type().name()
                        )),
                    })
                }
            },
        };

        struct Raw<'a> {
            name: &'a str,
            n_dims: u32,
            ne: [u64; 4],
            ty: GgmlType,
            offset: u64,
            size: u64,
            at: u64,
        }
        let mut raw = Vec::with_capacity(n_tensors as usize);
        let mut tensor_index = HashMap::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let at = c.at();
            let name = c.utf8(&format!("tensor #{i} name"))?;
            let field = |what: &str| format!("tensor {name:?} {what}");
            let fail = |offset: u64, what: &str, kind: ErrorKind| GgufError {
                offset,
                field: field(what),
                kind,
            };
            if name.is_empty() {
                return Err(fail(at, "name", ErrorKind::EmptyName));
            }
            if name.len() >= GGML_MAX_NAME {
                warnings.push(Warning {
                    offset: at,
                    message: format!("tensor name {name:?} is {} bytes; ggml's reader refuses names of {GGML_MAX_NAME} bytes or more", name.len()),
                });
            }
            let dims_at = c.at();
            let n_dims = c.u32(&field("n_dims"))?;
            if n_dims > MAX_DIMS {
                return Err(fail(dims_at, "n_dims", ErrorKind::TooManyDims(n_dims)));
            }
            let mut ne = [1u64; 4];
            for d in ne.iter_mut().take(n_dims as usize) {
                let d_at = c.at();
                *d = c.u64(&field("dims"))?;
                if *d > i64::MAX as u64 {
                    return Err(fail(d_at, "dims", ErrorKind::DimTooLarge(*d)));
                }
            }
            let n_elements = ne.iter().try_fold(1u64, |acc, &d| {
                acc.checked_mul(d).filter(|&p| p <= i64::MAX as u64)
            });
            let Some(n_elements) = n_elements else {
                return Err(fail(
                    dims_at,
                    "dims",
                    ErrorKind::ShapeOverflow(ne[..n_dims as usize].to_vec()),
                ));
            };
            let ty_at = c.at();
            let ty = GgmlType::from_id(c.u32(&field("type"))?)
                .map_err(|e| fail(ty_at, "type", e.into()))?;
            if ne[0] % ty.block_size() != 0 {
                return Err(fail(
                    dims_at,
                    "dims",
                    ErrorKind::NotBlockMultiple {
                        ne0: ne[0],
                        ty,
                        block: ty.block_size(),
                    },
                ));
            }
            let size = (n_elements / ty.block_size())
                .checked_mul(ty.type_size())
                .ok_or_else(|| {
                    fail(
                        dims_at,
                        "dims",
                        ErrorKind::ShapeOverflow(ne[..n_dims as usize].to_vec()),
                    )
                })?;
            let off_at = c.at();
            let offset = c.u64(&field("offset"))?;
            if offset % alignment != 0 {
                return Err(fail(
                    off_at,
                    "offset",
                    ErrorKind::Misaligned { offset, alignment },
                ));
            }
            if tensor_index.insert(name, raw.len()).is_some() {
                return Err(fail(at, "name", ErrorKind::DuplicateTensor(name.into())));
            }
            raw.push(Raw {
                name,
                n_dims,
                ne,
                ty,
                offset,
                size,
                at: off_at,
            });
        }

        let file_len = bytes.len() as u64;
        let data_offset =
            align_up(c.at(), alignment).expect("offset within a slice cannot overflow");
        let data_len = file_len.saturating_sub(data_offset);
        let mut expected = 0u64;
        let mut contiguous = true;
        for r in &raw {
            let end = r.offset.checked_add(r.size);
            if end.is_none_or(|e| e > data_len) {
                return Err(GgufError {
                    offset: r.at,
                    field: format!("tensor {:?} offset", r.name),
                    kind: ErrorKind::OutOfBounds {
                        offset: r.offset,
                        size: r.size,
                        data_len,
                    },
                });
            }
            contiguous &= r.offset == expected;
            expected = expected.saturating_add(align_up(r.size, alignment).unwrap_or(u64::MAX));
        }
        if !contiguous {
            warnings.push(Warning {
                offset: data_offset,
                message: "tensor data is not laid out contiguously in file order; ggml's own reader refuses such files".into(),
            });
        }
        let mut order: Vec<usize> = (0..raw.len()).filter(|&i| raw[i].size > 0).collect();
        order.sort_by_key(|&i| (raw[i].offset, raw[i].size));
        for w in order.windows(2) {
            let (a, b) = (&raw[w[0]], &raw[w[1]]);
            if a.offset + a.size > b.offset {
                return Err(GgufError {
                    offset: b.at,
                    field: format!("tensor {:?} offset", b.name),
                    kind: ErrorKind::Overlap(a.name.into()),
                });
            }
        }
        let tensors = raw
            .into_iter()
            .map(|r| {
                // Only an empty tensor can get here with the aligned data
                // section starting past the end of the file (any other was
                // refused above as out of bounds): its slice is empty, at EOF.
                let start = (data_offset + r.offset).min(file_len) as usize;
                TensorInfo {
                    name: r.name,
                    n_dims: r.n_dims,
                    ne: r.ne,
                    ty: r.ty,
                    offset: r.offset,
                    size: r.size,
                    data: &bytes[start..start + r.size as usize],
                }
            })
            .collect();
        Ok(Gguf {
            version,
            alignment,
            data_offset,
            kvs,
            kv_index,
            tensors,
            tensor_index,
            warnings,
            file_len,
        })
    }

    pub fn kvs(&self) -> &[Kv<'a>] {
        &self.kvs
    }
    pub fn tensors(&self) -> &[TensorInfo<'a>] {
        &self.tensors
    }
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
    pub fn file_len(&self) -> u64 {
        self.file_len
    }
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.kv_index.get(key).map(|&i| &self.kvs[i].value)
    }
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo<'a>> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    fn typed<T>(
        &self,
        key: &str,
        want: ValueType,
        f: impl Fn(&Value<'a>) -> Option<T>,
    ) -> std::result::Result<T, KeyError> {
        let v = self.get(key).ok_or_else(|| KeyError::Missing(key.into()))?;
        f(v).ok_or_else(|| KeyError::WrongType {
            key: key.into(),
            want: want.name(),
            got: v.value_type().name(),
        })
    }
    pub fn get_u32(&self, key: &str) -> std::result::Result<u32, KeyError> {
        self.typed(key, ValueType::U32, |v| {
            if let Value::U32(x) = v {
                Some(*x)
            } else {
                None
            }
        })
    }
    pub fn get_u64(&self, key: &str) -> std::result::Result<u64, KeyError> {
        self.typed(key, ValueType::U64, |v| {
            if let Value::U64(x) = v {
                Some(*x)
            } else {
                None
            }
        })
    }
    pub fn get_i32(&self, key: &str) -> std::result::Result<i32, KeyError> {
        self.typed(key, ValueType::I32, |v| {
            if let Value::I32(x) = v {
                Some(*x)
            } else {
                None
            }
        })
    }
    pub fn get_f32(&self, key: &str) -> std::result::Result<f32, KeyError> {
        self.typed(key, ValueType::F32, |v| {
            if let Value::F32(x) = v {
                Some(*x)
            } else {
                None
            }
        })
    }
    pub fn get_bool(&self, key: &str) -> std::result::Result<bool, KeyError> {
        self.typed(key, ValueType::Bool, |v| {
            if let Value::Bool(x) = v {
                Some(*x)
            } else {
                None
            }
        })
    }
    pub fn get_str(&self, key: &str) -> std::result::Result<&'a str, KeyError> {
        let s = self.typed(key, ValueType::Str, |v| {
            if let Value::Str(s) = v {
                Some(*s)
            } else {
                None
            }
        })?;
        s.as_str().map_err(|_| KeyError::NotUtf8(key.into()))
    }
    pub fn get_array(&self, key: &str) -> std::result::Result<Array<'a>, KeyError> {
        self.typed(key, ValueType::Array, |v| {
            if let Value::Array(a) = v {
                Some(*a)
            } else {
                None
            }
        })
    }
}

/// A typed getter's refusal, naming the key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("metadata key {0:?} is missing")]
    Missing(String),
    #[error("metadata key {key:?} has type {got}, expected {want}")]
    WrongType {
        key: String,
        want: &'static str,
        got: &'static str,
    },
    #[error("metadata key {0:?} is not valid UTF-8")]
    NotUtf8(String),
}

/// A file mapped read-only into memory. Tensor data is never copied out of it.
///
/// As with every memory map, another process truncating the file while it is
/// mapped can fault the reader; parci's inputs are files nobody writes to.
pub struct MappedFile {
    map: Option<memmap2::Mmap>,
}

impl MappedFile {
    pub fn open(path: &Path) -> std::io::Result<MappedFile> {
        let f = std::fs::File::open(path)?;
        if f.metadata()?.len() == 0 {
            return Ok(MappedFile { map: None });
        }
        // SAFETY: read-only private map of a regular file; see the type's docs.
        let map = unsafe { memmap2::Mmap::map(&f)? };
        Ok(MappedFile { map: Some(map) })
    }
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
    /// Parses the mapped bytes.
    pub fn parse(&self) -> Result<Gguf<'_>> {
        Gguf::parse(self.bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Found by the `gguf_parse` fuzz target: the header ends 144 bytes in, so
    /// the 32-byte aligned data section would start at 160, past the end of
    /// the file, and the one tensor is empty. Slicing its data panicked
    /// (range 160..160 of 144 bytes); it is an empty slice at the end.
    #[test]
    fn an_empty_tensor_whose_data_section_starts_past_the_end() {
        let bytes = hex(
            "474755460300000001000000000000000200000000000000140000000000000067656e6572616c2e\
             6172636869746563747572650800000005000000000000006c6c616d6111000000000000005d656e\
             6572616c2e616c69676e6d656e74040000000000000001000000000000007401000000000000000000\
             0000000000000000000000000000000000000000000000",
        );
        assert_eq!(bytes.len(), 144);
        let g = Gguf::parse(&bytes).expect("an empty tensor needs no data");
        let t = g.tensors();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].size, 0);
        assert!(t[0].data.is_empty());
        assert!(g.data_offset > bytes.len() as u64);
    }
}
