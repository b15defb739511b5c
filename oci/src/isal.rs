//! gzip layers inflated by ISA-L's igzip, streaming (the `isal-sys` crate builds the library
//! from source and links it statically).
//!
//! Why not flate2 alone: inflating the layer is the floor of a verification (download, tar
//! parsing and hashing overlap with it), and igzip inflates about 1.6x faster than zlib-rs on
//! the same machine (`make bench`, section oci). igzip is Intel's maintained library (also behind
//! python-isal and rapidgzip), reads untrusted input by design, and is fuzzed here against
//! flate2 (fuzz target `oci_gzip`: whatever flate2 inflates, the same bytes out). A
//! multi-member stream is read member after member, as flate2's `MultiGzDecoder` and Go's
//! `gzip.Reader` (containerd) do; each member's CRC-32 and length are checked.

use std::io::{self, BufRead, Read};

use isal_sys::igzip_lib as ffi;

/// A `Read` of the uncompressed bytes of the gzip stream `inner`.
pub(crate) struct GzDecoder<R> {
    inner: R,
    /// 85 KB of tables: on the heap, never moved while in use.
    state: Box<ffi::inflate_state>,
    /// The current member ended (trailer checked): more input must be a new member.
    member_done: bool,
    /// Bytes of the current member handed to igzip so far (to find its header's flags).
    member_in: u64,
}

impl<R: BufRead> GzDecoder<R> {
    pub(crate) fn new(inner: R) -> io::Result<Self> {
        // SAFETY: inflate_state is plain integers, arrays and pointers: all-zero is a valid
        // value, and isal_inflate_init then sets what the library needs.
        let mut state: Box<ffi::inflate_state> = unsafe { Box::new_zeroed().assume_init() };
        // SAFETY: a live, exclusively owned state.
        unsafe { ffi::isal_inflate_init(&mut *state) };
        state.crc_flag = ffi::ISAL_GZIP; // parse the header, check CRC-32 and ISIZE
        Ok(GzDecoder {
            inner,
            state,
            member_done: false,
            member_in: 0,
        })
    }
}

/// Offset of FLG in a gzip member header.
const FLG: u64 = 3;

fn corrupt(code: i32) -> io::Error {
    let what = match code {
        ffi::ISAL_INVALID_BLOCK => "invalid deflate block",
        ffi::ISAL_INVALID_SYMBOL => "invalid deflate symbol",
        ffi::ISAL_INVALID_LOOKBACK => "invalid back-reference distance",
        ffi::ISAL_INVALID_WRAPPER => "invalid gzip header",
        ffi::ISAL_UNSUPPORTED_METHOD => "gzip member not compressed with deflate",
        ffi::ISAL_INCORRECT_CHECKSUM => "gzip checksum mismatch",
        _ => "corrupt gzip stream",
    };
    io::Error::new(io::ErrorKind::InvalidData, format!("{what} (igzip {code})"))
}

impl<R: BufRead> Read for GzDecoder<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let out_len = u32::try_from(out.len()).unwrap_or(u32::MAX);
        loop {
            let input = self.inner.fill_buf()?;
            if self.member_done {
                if input.is_empty() {
                    return Ok(0); // the end, after a complete member
                }
                // SAFETY: our state, between calls.
                unsafe { ffi::isal_inflate_reset(&mut *self.state) };
                self.state.crc_flag = ffi::ISAL_GZIP;
                self.member_done = false;
                self.member_in = 0;
            }
            let available = input.len();
            let in_len = u32::try_from(available).unwrap_or(u32::MAX);
            let st = &mut *self.state;
            st.next_in = input.as_ptr().cast_mut(); // read only: igzip never writes through it
            st.avail_in = in_len;
            st.next_out = out.as_mut_ptr();
            st.avail_out = out_len;
            // SAFETY: next_in/avail_in and next_out/avail_out describe live buffers of at least
            // those lengths; igzip reads and writes within them and the pointers are set again
            // before every call, so none outlives its buffer.
            let code = unsafe { ffi::isal_inflate(st) };
            if code < 0 || code == ffi::ISAL_NEED_DICT as i32 {
                // The counters are not meaningful after an error (seen: avail_in = u32::MAX).
                return Err(corrupt(code));
            }
            let (Some(used), Some(made)) = (in_len.checked_sub(st.avail_in), out_len.checked_sub(st.avail_out)) else {
                return Err(corrupt(code));
            };
            let (used, made) = (used as usize, made as usize);
            let finished = st.block_state == ffi::isal_block_state_ISAL_BLOCK_FINISH;
            // RFC 1952: reserved flag bits must be zero. igzip ignores them; zlib and flate2
            // refuse the member, and so does pgext (never more lenient than the reference).
            if let Some(at) = FLG.checked_sub(self.member_in)
                && let Some(&flags) = input.get(at as usize).filter(|_| (at as usize) < used)
                && flags & 0xe0 != 0
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "gzip header has reserved flags set",
                ));
            }
            self.member_in += used as u64;
            self.inner.consume(used.min(available));
            if finished {
                self.member_done = true;
            }
            if made > 0 {
                return Ok(made.min(out.len()));
            }
            if finished {
                continue;
            }
            if available == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "gzip stream truncated"));
            }
            if used == 0 {
                // Input offered, room offered, nothing taken: never loop on it.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "gzip stream makes no progress",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression as Level;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Level::new(6));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn inflate(data: &[u8], buf: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut d = GzDecoder::new(io::BufReader::with_capacity(buf, data))?;
        let mut chunk = vec![0u8; 777];
        loop {
            let n = d.read(&mut chunk)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..n]);
        }
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| ((i * 7919) % 251) as u8 ^ (i / 4096) as u8).collect()
    }

    #[test]
    fn inflates_single_and_multi_member_streams_with_any_buffering() {
        let a = sample(300_000);
        let b = b"second member".to_vec();
        let mut both = gz(&a);
        both.extend(gz(&b));
        both.extend(gz(b""));
        for buf in [1, 7, 4096, 1 << 20] {
            assert_eq!(inflate(&gz(&a), buf).unwrap(), a, "buffer {buf}");
            let mut want = a.clone();
            want.extend(&b);
            assert_eq!(inflate(&both, buf).unwrap(), want, "buffer {buf}");
        }
    }

    #[test]
    fn refuses_corrupt_truncated_and_trailing_garbage() {
        let a = sample(100_000);
        let good = gz(&a);
        // A flipped byte in the compressed data or the CRC.
        for at in [good.len() / 2, good.len() - 6] {
            let mut bad = good.clone();
            bad[at] ^= 0x55;
            assert!(inflate(&bad, 4096).is_err(), "flip at {at}");
        }
        // Cut short anywhere.
        for cut in [0, 5, 10, good.len() / 3, good.len() - 1] {
            let e = inflate(&good[..cut], 4096).unwrap_err();
            assert!(
                matches!(e.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData),
                "cut {cut}: {e}"
            );
        }
        // Bytes after the last member must be another member.
        let mut trailing = good.clone();
        trailing.extend(b"not gzip");
        assert!(inflate(&trailing, 4096).is_err());
        // Not gzip at all.
        assert!(inflate(b"\x28\xb5\x2f\xfd zstd, not gzip", 4096).is_err());
    }

    #[test]
    fn fuzzer_findings() {
        // An invalid back-reference: igzip fails with its counters out of range.
        let crash = b"\x1f\x8b\x08\x08\x5d\xb4\x12\x6b\x00\x03dname.txt\x00\xcb\x48\xcd\xc9\xc9\x57\x28\x48\x4f\xad\x26\x28\xe1\x26\x28\xe1\x02\x00\x8f\x36\x5e\x1e\x0c\x00\x00\x00";
        for buf in [1, 3, 64, 8192] {
            assert!(inflate(crash, buf).is_err(), "buffer {buf}");
        }
        // Reserved header flags, in the first member or a later one.
        let good = gz(b"data");
        let mut reserved = good.clone();
        reserved[3] |= 0x20;
        let mut second = good.clone();
        second.extend(&reserved);
        for buf in [1, 2, 4, 8192] {
            assert!(inflate(&good, buf).is_ok());
            assert!(inflate(&reserved, buf).is_err(), "buffer {buf}");
            assert!(inflate(&second, buf).is_err(), "buffer {buf}");
        }
    }

    #[test]
    fn agrees_with_flate2() {
        let a = sample(2_000_000);
        let g = gz(&a);
        let mut reference = Vec::new();
        flate2::read::MultiGzDecoder::new(&g[..])
            .read_to_end(&mut reference)
            .unwrap();
        assert_eq!(inflate(&g, 65536).unwrap(), reference);
    }
}
