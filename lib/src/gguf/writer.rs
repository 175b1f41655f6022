//! GGUF v3 writer with gguf-py's layout: metadata in the order given, tensor
//! infos in the order added, each tensor's data at the next multiple of the
//! alignment, the data section padded to the alignment after every tensor.

use super::reader::{ValueType, DEFAULT_ALIGNMENT, MAGIC, MAX_DIMS};
use super::types::GgmlType;

/// An owned metadata value for writing.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    /// Element type and elements (all of that type).
    Array(ValueType, Vec<OwnedValue>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl OwnedValue {
    /// An owned copy of a value read from a file (to rewrite a file with changes).
    pub fn from_value(v: &super::reader::Value) -> OwnedValue {
        use super::reader::Value as V;
        match v {
            V::U8(x) => OwnedValue::U8(*x),
            V::I8(x) => OwnedValue::I8(*x),
            V::U16(x) => OwnedValue::U16(*x),
            V::I16(x) => OwnedValue::I16(*x),
            V::U32(x) => OwnedValue::U32(*x),
            V::I32(x) => OwnedValue::I32(*x),
            V::F32(x) => OwnedValue::F32(*x),
            V::Bool(x) => OwnedValue::Bool(*x),
            V::Str(s) => OwnedValue::Str(s.to_string_lossy()),
            V::Array(a) => {
                OwnedValue::Array(a.elem, a.iter().map(|e| Self::from_value(&e)).collect())
            }
            V::U64(x) => OwnedValue::U64(*x),
            V::I64(x) => OwnedValue::I64(*x),
            V::F64(x) => OwnedValue::F64(*x),
        }
    }
    pub fn value_type(&self) -> ValueType {
        match self {
            OwnedValue::U8(_) => ValueType::U8,
            OwnedValue::I8(_) => ValueType::I8,
            OwnedValue::U16(_) => ValueType::U16,
            OwnedValue::I16(_) => ValueType::I16,
            OwnedValue::U32(_) => ValueType::U32,
            OwnedValue::I32(_) => ValueType::I32,
            OwnedValue::F32(_) => ValueType::F32,
            OwnedValue::Bool(_) => ValueType::Bool,
            OwnedValue::Str(_) => ValueType::Str,
            OwnedValue::Array(..) => ValueType::Array,
            OwnedValue::U64(_) => ValueType::U64,
            OwnedValue::I64(_) => ValueType::I64,
            OwnedValue::F64(_) => ValueType::F64,
        }
    }
    /// An array of strings.
    pub fn strings<S: Into<String>>(items: impl IntoIterator<Item = S>) -> OwnedValue {
        OwnedValue::Array(
            ValueType::Str,
            items
                .into_iter()
                .map(|s| OwnedValue::Str(s.into()))
                .collect(),
        )
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            OwnedValue::U8(v) => out.push(*v),
            OwnedValue::I8(v) => out.push(*v as u8),
            OwnedValue::Bool(v) => out.push(*v as u8),
            OwnedValue::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
            OwnedValue::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
            OwnedValue::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
            OwnedValue::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
            OwnedValue::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
            OwnedValue::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
            OwnedValue::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
            OwnedValue::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
            OwnedValue::Str(s) => write_str(s, out),
            OwnedValue::Array(elem, items) => {
                out.extend_from_slice(&(*elem as u32).to_le_bytes());
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                // An element that is itself an array writes its own type and count.
                for it in items {
                    it.write(out);
                }
            }
        }
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Why the writer refused a tensor or value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WriteError {
    #[error("tensor {name:?}: {dims} dims, at most {MAX_DIMS}")]
    TooManyDims { name: String, dims: usize },
    #[error("tensor {name:?}: {got} bytes of data, its {ty} shape {shape:?} needs {want}")]
    SizeMismatch {
        name: String,
        ty: GgmlType,
        shape: Vec<u64>,
        want: u64,
        got: u64,
    },
    #[error("tensor {0:?} added twice")]
    DuplicateTensor(String),
    #[error("key {0:?} added twice")]
    DuplicateKey(String),
    #[error("array of {0:?} holds an element of another type")]
    MixedArray(ValueType),
    #[error("alignment {0} is not a power of two")]
    BadAlignment(u32),
}

struct Tensor {
    name: String,
    ty: GgmlType,
    dims: Vec<u64>,
    data: Vec<u8>,
}

/// Builds a GGUF v3 file in memory.
pub struct Writer {
    kvs: Vec<(String, OwnedValue)>,
    tensors: Vec<Tensor>,
    alignment: u64,
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

impl Writer {
    pub fn new() -> Writer {
        Writer {
            kvs: Vec::new(),
            tensors: Vec::new(),
            alignment: DEFAULT_ALIGNMENT,
        }
    }

    /// Adds a metadata pair, in order.
    pub fn kv(&mut self, key: &str, value: OwnedValue) -> Result<&mut Self, WriteError> {
        if self.kvs.iter().any(|(k, _)| k == key) {
            return Err(WriteError::DuplicateKey(key.into()));
        }
        check_homogeneous(&value)?;
        self.kvs.push((key.to_string(), value));
        Ok(self)
    }

    /// Sets the data alignment and records it as `general.alignment` (uint32),
    /// at this point of the metadata order, as gguf-py's `add_custom_alignment` does.
    pub fn alignment(&mut self, a: u32) -> Result<&mut Self, WriteError> {
        if a == 0 || !a.is_power_of_two() {
            return Err(WriteError::BadAlignment(a));
        }
        self.alignment = a as u64;
        self.kv("general.alignment", OwnedValue::U32(a))
    }

    /// Adds a tensor: `dims` in ggml order (`dims[0]` contiguous), `data` its bytes.
    pub fn tensor(
        &mut self,
        name: &str,
        ty: GgmlType,
        dims: &[u64],
        data: Vec<u8>,
    ) -> Result<&mut Self, WriteError> {
        if dims.len() > MAX_DIMS as usize {
            return Err(WriteError::TooManyDims {
                name: name.into(),
                dims: dims.len(),
            });
        }
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(WriteError::DuplicateTensor(name.into()));
        }
        let n: u64 = dims.iter().product();
        let want = if dims.first().is_some_and(|d| d % ty.block_size() != 0) {
            None
        } else {
            (n / ty.block_size()).checked_mul(ty.type_size())
        };
        if want != Some(data.len() as u64) {
            return Err(WriteError::SizeMismatch {
                name: name.into(),
                ty,
                shape: dims.to_vec(),
                want: want.unwrap_or(0),
                got: data.len() as u64,
            });
        }
        self.tensors.push(Tensor {
            name: name.into(),
            ty,
            dims: dims.to_vec(),
            data,
        });
        Ok(self)
    }

    /// The complete file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let pad = |n: u64| n.div_ceil(self.alignment) * self.alignment;
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.kvs.len() as u64).to_le_bytes());
        for (k, v) in &self.kvs {
            write_str(k, &mut out);
            out.extend_from_slice(&(v.value_type() as u32).to_le_bytes());
            v.write(&mut out);
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            write_str(&t.name, &mut out);
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.ty.id().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offset += pad(t.data.len() as u64);
        }
        out.resize(pad(out.len() as u64) as usize, 0);
        for t in &self.tensors {
            out.extend_from_slice(&t.data);
            out.resize(pad(out.len() as u64) as usize, 0);
        }
        out
    }
}

fn check_homogeneous(v: &OwnedValue) -> Result<(), WriteError> {
    if let OwnedValue::Array(elem, items) = v {
        for it in items {
            if it.value_type() != *elem {
                return Err(WriteError::MixedArray(*elem));
            }
            check_homogeneous(it)?;
        }
    }
    Ok(())
}
