//! The binary-sequence value encoding of Faroe's stored records (spec §6.5), kept byte-compatible with
//! the Go reference so its test vectors apply: items of `uvarint(length) ‖ bytes`.

/// A stored value that cannot be decoded: the action answers `internal_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "undecodable stored value: {}", self.0)
    }
}

/// Builds a binary sequence item by item.
#[derive(Default)]
pub struct SequenceWriter {
    buf: Vec<u8>,
}

impl SequenceWriter {
    pub fn new() -> Self {
        Self {
            buf: Vec::with_capacity(128),
        }
    }

    pub fn bytes(mut self, item: &[u8]) -> Self {
        let mut len = item.len() as u64;
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                self.buf.push(byte);
                break;
            }
            self.buf.push(byte | 0x80);
        }
        self.buf.extend_from_slice(item);
        self
    }

    pub fn string(self, item: &str) -> Self {
        self.bytes(item.as_bytes())
    }

    pub fn bool(self, item: bool) -> Self {
        self.bytes(&[item as u8])
    }

    /// Zig-zag, big-endian, leading zero bytes stripped (0 is an empty item).
    pub fn int64(self, item: i64) -> Self {
        let zigzag = ((item << 1) ^ (item >> 63)) as u64;
        let be = zigzag.to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        self.bytes(&be[skip..])
    }

    pub fn int32(self, item: i32) -> Self {
        let zigzag = ((item << 1) ^ (item >> 31)) as u32;
        let be = zigzag.to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        self.bytes(&be[skip..])
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads a binary sequence item by item; trailing extra items are ignored.
pub struct SequenceReader<'a> {
    rest: &'a [u8],
}

impl<'a> SequenceReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { rest: buf }
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let mut len: u64 = 0;
        let mut shift = 0u32;
        loop {
            let (&byte, rest) = self.rest.split_first().ok_or(DecodeError("missing item"))?;
            self.rest = rest;
            if shift >= 64 {
                return Err(DecodeError("item length overflows"));
            }
            len |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let len = usize::try_from(len).map_err(|_| DecodeError("item too long"))?;
        if len > self.rest.len() {
            return Err(DecodeError("item runs past the end"));
        }
        let (item, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(item)
    }

    /// Whether every item was read (for records with optional trailing items).
    pub fn is_at_end(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn byte_vec(&mut self) -> Result<Vec<u8>, DecodeError> {
        self.bytes().map(<[u8]>::to_vec)
    }

    pub fn string(&mut self) -> Result<String, DecodeError> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError("string is not UTF-8"))
    }

    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.bytes()? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(DecodeError("invalid bool item")),
        }
    }

    pub fn int64(&mut self) -> Result<i64, DecodeError> {
        let item = self.bytes()?;
        if item.len() > 8 {
            return Err(DecodeError("int64 item longer than 8 bytes"));
        }
        let mut be = [0u8; 8];
        be[8 - item.len()..].copy_from_slice(item);
        let zigzag = u64::from_be_bytes(be);
        Ok(((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64))
    }

    pub fn int32(&mut self) -> Result<i32, DecodeError> {
        let item = self.bytes()?;
        if item.len() > 4 {
            return Err(DecodeError("int32 item longer than 4 bytes"));
        }
        let mut be = [0u8; 4];
        be[4 - item.len()..].copy_from_slice(item);
        let zigzag = u32::from_be_bytes(be);
        Ok(((zigzag >> 1) as i32) ^ -((zigzag & 1) as i32))
    }
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn zigzag_vectors_of_appendix_a() {
        let cases: &[(i64, &str)] = &[
            (0, ""),
            (1, "02"),
            (-1, "01"),
            (2, "04"),
            (-2, "03"),
            (63, "7e"),
            (64, "80"),
            (300, "0258"),
            (1756101086, "d157f3bc"),
            (2147483647, "fffffffe"),
            (-2147483648, "ffffffff"),
        ];
        for &(value, payload) in cases {
            let encoded = SequenceWriter::new().int64(value).finish();
            assert_eq!(hex(&encoded[1..]), payload, "int64 {value}");
            assert_eq!(SequenceReader::new(&encoded).int64().unwrap(), value);
            let encoded = SequenceWriter::new().int32(value as i32).finish();
            assert_eq!(hex(&encoded[1..]), payload, "int32 {value}");
            assert_eq!(SequenceReader::new(&encoded).int32().unwrap(), value as i32);
        }
    }

    #[test]
    fn sequence_vector_of_appendix_a() {
        let encoded = SequenceWriter::new()
            .bytes(b"")
            .string("ab")
            .bool(true)
            .int64(0)
            .finish();
        assert_eq!(hex(&encoded), "00026162010100");
    }

    #[test]
    fn uvarint_lengths() {
        let long = vec![7u8; 300];
        let encoded = SequenceWriter::new().bytes(&long).finish();
        assert_eq!(&encoded[..2], &[0xac, 0x02]);
        assert_eq!(SequenceReader::new(&encoded).bytes().unwrap(), &long[..]);
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(SequenceReader::new(&[]).bytes().is_err());
        assert!(SequenceReader::new(&[0x05, 1, 2]).bytes().is_err());
        assert!(SequenceReader::new(&[0x80]).bytes().is_err());
        assert!(SequenceReader::new(&[0x01, 0x02]).bool().is_err());
        assert!(SequenceReader::new(&[0xff; 12]).bytes().is_err());
    }
}
