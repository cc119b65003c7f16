//! A minimal, allocation-free DAG-CBOR cursor. The link scanner and the
//! byte-level transcoders walk blocks with it instead of decoding them into
//! typed structs, which is what makes them fast.

/// CBOR major types.
pub mod major {
    /// Unsigned integer.
    pub const UINT: u8 = 0;
    /// Negative integer.
    pub const NINT: u8 = 1;
    /// Byte string.
    pub const BYTES: u8 = 2;
    /// Text string.
    pub const TEXT: u8 = 3;
    /// Array.
    pub const ARRAY: u8 = 4;
    /// Map.
    pub const MAP: u8 = 5;
    /// Tag.
    pub const TAG: u8 = 6;
    /// Simple values and floats.
    pub const SIMPLE: u8 = 7;
}

/// The CBOR tag DAG-CBOR uses for CIDs.
pub const CID_TAG: u64 = 42;

/// Why a CBOR item could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CborError {
    /// Byte offset in the buffer.
    pub offset: usize,
    /// What was expected.
    pub reason: &'static str,
}

/// A forward-only reader over one CBOR buffer.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Starts reading at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Current byte offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Whether every byte has been consumed.
    pub fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// The underlying buffer.
    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }

    #[cold]
    fn err<T>(&self, reason: &'static str) -> Result<T, CborError> {
        Err(CborError {
            offset: self.pos,
            reason,
        })
    }

    /// Reads an item header: (major type, argument). For major 7 the argument
    /// is the raw simple value / float bits.
    #[inline]
    pub fn header(&mut self) -> Result<(u8, u64), CborError> {
        let Some(&first) = self.buf.get(self.pos) else {
            return self.err("unexpected end of data");
        };
        let major = first >> 5;
        let info = first & 0x1f;
        if info < 24 {
            self.pos += 1;
            return Ok((major, u64::from(info)));
        }
        let start = self.pos + 1;
        let arg = match info {
            24 => self.buf.get(start).map(|b| (u64::from(*b), 1)),
            25 => self
                .buf
                .get(start..start + 2)
                .map(|b| (u64::from(u16::from_be_bytes([b[0], b[1]])), 2)),
            26 => self
                .buf
                .get(start..start + 4)
                .map(|b| (u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])), 4)),
            27 => self
                .buf
                .get(start..start + 8)
                .map(|b| (u64::from_be_bytes(b.try_into().expect("8 bytes")), 8)),
            31 => return self.err("indefinite-length items are not allowed in DAG-CBOR"),
            _ => return self.err("reserved additional-information value"),
        };
        match arg {
            Some((v, n)) => {
                self.pos = start + n;
                Ok((major, v))
            }
            None => self.err("truncated item header"),
        }
    }

    /// Reads a signed integer (major 0 or 1) that fits an `i64`, as the
    /// chain's epochs are.
    pub fn int(&mut self) -> Result<i64, CborError> {
        let at = self.pos;
        let bad = |reason| CborError { offset: at, reason };
        match self.header()? {
            (major::UINT, v) => i64::try_from(v).map_err(|_| bad("integer beyond int64")),
            (major::NINT, v) => i64::try_from(v)
                .map(|v| -1 - v)
                .map_err(|_| bad("integer beyond int64")),
            _ => Err(bad("expected an integer")),
        }
    }

    /// Reads a header and checks its major type.
    pub fn expect(&mut self, want: u8, what: &'static str) -> Result<u64, CborError> {
        let at = self.pos;
        let (major, arg) = self.header()?;
        if major != want {
            return Err(CborError {
                offset: at,
                reason: what,
            });
        }
        Ok(arg)
    }

    /// Takes `len` raw bytes (the payload of a byte or text string).
    #[inline]
    pub fn take(&mut self, len: u64) -> Result<&'a [u8], CborError> {
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| self.pos.checked_add(l))
            .filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => self.err("string runs past the end of the data"),
        }
    }

    /// Reads a byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], CborError> {
        let len = self.expect(major::BYTES, "expected a byte string")?;
        self.take(len)
    }

    /// Reads an unsigned integer.
    pub fn uint(&mut self) -> Result<u64, CborError> {
        self.expect(major::UINT, "expected an unsigned integer")
    }

    /// Reads an array header and returns its length.
    pub fn array(&mut self) -> Result<u64, CborError> {
        self.expect(major::ARRAY, "expected an array")
    }

    /// Reads a CID (tag 42 + bytes with a leading 0x00) and returns its bytes.
    pub fn cid_bytes(&mut self) -> Result<&'a [u8], CborError> {
        let at = self.pos;
        let tag = self.expect(major::TAG, "expected a CID (tag 42)")?;
        if tag != CID_TAG {
            return Err(CborError {
                offset: at,
                reason: "expected tag 42 (CID)",
            });
        }
        let b = self.bytes()?;
        match b.split_first() {
            Some((0, rest)) => Ok(rest),
            _ => Err(CborError {
                offset: at,
                reason: "CID bytes must start with the 0x00 multibase prefix",
            }),
        }
    }

    /// Skips one complete item (including nested items), returning its byte range.
    #[inline]
    pub fn skip(&mut self) -> Result<std::ops::Range<usize>, CborError> {
        let start = self.pos;
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            let (major, arg) = self.header()?;
            match major {
                major::BYTES | major::TEXT => {
                    self.take(arg)?;
                }
                major::ARRAY => pending = self.add_pending(pending, arg)?,
                major::MAP => pending = self.add_pending(pending, arg.saturating_mul(2))?,
                major::TAG => pending += 1,
                _ => {}
            }
        }
        Ok(start..self.pos)
    }

    fn add_pending(&self, pending: u64, more: u64) -> Result<u64, CborError> {
        // Every item takes at least one byte: a count larger than what is left is corrupt.
        let left = (self.buf.len() - self.pos) as u64;
        if more > left {
            return self.err("container length exceeds the data");
        }
        Ok(pending + more)
    }
}

/// Appends a CBOR header to `out`, in the shortest form (as DAG-CBOR requires).
pub fn write_header(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if arg <= 0xff {
        out.extend_from_slice(&[m | 24, arg as u8]);
    } else if arg <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

/// Appends a signed integer (major 0 or 1, shortest form).
pub fn write_int(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        write_header(out, major::UINT, v as u64);
    } else {
        write_header(out, major::NINT, (-1 - v) as u64);
    }
}

/// Appends a CID as DAG-CBOR (tag 42, bytes with the 0x00 prefix).
pub fn write_cid(out: &mut Vec<u8>, cid: &cid::Cid) {
    write_header(out, major::TAG, CID_TAG);
    write_header(out, major::BYTES, cid.encoded_len() as u64 + 1);
    out.push(0);
    cid.write_bytes(&mut *out)
        .expect("writing into a Vec cannot fail");
}

/// Appends a byte string.
pub fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_header(out, major::BYTES, b.len() as u64);
    out.extend_from_slice(b);
}

/// What the DAG-CBOR item at the start of `data` is, in words ("a
/// 2-element list", "a map of 3 entries", "not DAG-CBOR"), for messages
/// that say what a block is when it is not what was expected.
pub fn shape_of(data: &[u8]) -> String {
    match Cursor::new(data).header() {
        Ok((major::UINT | major::NINT, _)) => "an integer".into(),
        Ok((major::BYTES, n)) => format!("a byte string of {n} bytes"),
        Ok((major::TEXT, n)) => format!("a text string of {n} bytes"),
        Ok((major::ARRAY, n)) => format!("a {n}-element list"),
        Ok((major::MAP, n)) => format!("a map of {n} entries"),
        Ok((6, _)) => "a tagged item (a bare CID)".into(),
        Ok(_) => "a simple value".into(),
        Err(_) if data.is_empty() => "an empty block".into(),
        Err(_) => "not DAG-CBOR".into(),
    }
}
