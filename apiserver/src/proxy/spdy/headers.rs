//! SPDY/3 header blocks: `u32 count`, then `u32 len, name, u32 len, value`
//! pairs, through one zlib stream per direction with the SPDY dictionary
//! preset. Ours are written as stored (uncompressed) deflate blocks, a
//! valid zlib stream any peer reads; the peer's are inflated with
//! miniz_oxide over a window that starts with the dictionary.

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};

use super::dictionary::DICTIONARY;

/// Header name/value pairs, names lower case (a value may hold several,
/// NUL-separated).
pub type Headers = Vec<(String, String)>;

pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}

/// The uncompressed form of a header block.
pub fn encode(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    for (name, value) in headers {
        for s in [name, value] {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

pub fn decode(block: &[u8]) -> Result<Headers, String> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let s = block
            .get(at..at + n)
            .ok_or_else(|| "truncated SPDY header block".to_string())?;
        at += n;
        Ok(s)
    };
    let u32_at = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let count = u32_at(take(4)?);
    let mut headers = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let name_len = u32_at(take(4)?);
        let name = String::from_utf8_lossy(take(name_len)?).into_owned();
        let value_len = u32_at(take(4)?);
        let value = String::from_utf8_lossy(take(value_len)?).into_owned();
        headers.push((name, value));
    }
    Ok(headers)
}

/// Our direction's zlib stream: the header (naming the dictionary) once,
/// then one stored block per header block.
#[derive(Default)]
pub struct Deflater {
    started: bool,
}

impl Deflater {
    pub fn compress(&mut self, block: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(block.len() + 11);
        if !self.started {
            self.started = true;
            // CMF: deflate, 32 KiB window; FLG: FDICT, check bits.
            let cmf = 0x78u8;
            let flg = 0x20u8;
            let check = (31 - ((u16::from(cmf) << 8 | u16::from(flg)) % 31)) % 31;
            out.push(cmf);
            out.push(flg | check as u8);
            out.extend_from_slice(&adler32(DICTIONARY).to_be_bytes());
        }
        for chunk in block.chunks(0xffff) {
            stored_block(&mut out, chunk);
        }
        // An empty stored block ends each header block, as a zlib sync
        // flush does: Go's inflater hands out a stored block's bytes only
        // when it reaches the next block header, which must be in this
        // frame.
        stored_block(&mut out, &[]);
        out
    }
}

/// BFINAL=0, BTYPE=00 (stored), padded to the byte; LEN, NLEN, the bytes.
fn stored_block(out: &mut Vec<u8>, chunk: &[u8]) {
    out.push(0);
    let len = chunk.len() as u16;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(chunk);
}

const WINDOW: usize = 32 * 1024;

/// The peer's direction: one inflater for the whole connection.
pub struct Inflater {
    state: Box<DecompressorOxide>,
    window: Vec<u8>,
    /// Where the next output byte goes in `window` (it wraps).
    pos: usize,
    /// The zlib header bytes still to skip (2, plus 4 naming the dictionary).
    header: Vec<u8>,
    header_done: bool,
}

impl Default for Inflater {
    fn default() -> Inflater {
        let mut window = vec![0u8; WINDOW];
        window[..DICTIONARY.len()].copy_from_slice(DICTIONARY);
        Inflater {
            state: Box::default(),
            window,
            pos: DICTIONARY.len(),
            header: Vec::new(),
            header_done: false,
        }
    }
}

impl Inflater {
    /// The uncompressed bytes of one compressed header block.
    pub fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, String> {
        if !self.header_done {
            while self.header.len() < 2 && !input.is_empty() {
                self.header.push(input[0]);
                input = &input[1..];
            }
            if self.header.len() < 2 {
                return Ok(Vec::new());
            }
            let (cmf, flg) = (self.header[0], self.header[1]);
            if cmf & 0x0f != 8 || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
                return Err("SPDY headers: not a zlib stream".into());
            }
            let want = if flg & 0x20 != 0 { 6 } else { 2 };
            while self.header.len() < want && !input.is_empty() {
                self.header.push(input[0]);
                input = &input[1..];
            }
            if self.header.len() < want {
                return Ok(Vec::new());
            }
            if want == 6 {
                let id = u32::from_be_bytes([
                    self.header[2],
                    self.header[3],
                    self.header[4],
                    self.header[5],
                ]);
                if id != adler32(DICTIONARY) {
                    return Err(format!("SPDY headers: unknown zlib dictionary {id:#x}"));
                }
            }
            self.header_done = true;
        }
        let mut out = Vec::new();
        loop {
            let (status, used, written) = decompress(
                &mut self.state,
                input,
                &mut self.window,
                self.pos,
                inflate_flags::TINFL_FLAG_HAS_MORE_INPUT,
            );
            out.extend_from_slice(&self.window[self.pos..self.pos + written]);
            self.pos = (self.pos + written) % WINDOW;
            input = &input[used..];
            match status {
                TINFLStatus::HasMoreOutput => continue,
                TINFLStatus::NeedsMoreInput if input.is_empty() => return Ok(out),
                TINFLStatus::NeedsMoreInput => continue,
                TINFLStatus::Done => return Err("SPDY headers: the zlib stream ended".into()),
                other => return Err(format!("SPDY headers: bad zlib data ({other:?})")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The zlib header ours start with: deflate, the SPDY dictionary.
    fn zlib_header() -> Vec<u8> {
        let header = Deflater::default().compress(&[])[..6].to_vec();
        assert_eq!(header[0], 0x78);
        assert_eq!((u16::from(header[0]) << 8 | u16::from(header[1])) % 31, 0);
        assert_eq!(header[2..6], adler32(DICTIONARY).to_be_bytes());
        header
    }

    #[test]
    fn our_blocks_inflate_with_the_dictionary() {
        let mut deflater = Deflater::default();
        let mut inflater = Inflater::default();
        for headers in [
            vec![("streamtype", "error")],
            vec![],
            vec![("streamtype", "stdout"), ("port", "80")],
        ] {
            let block = encode(&headers);
            let wire = deflater.compress(&block);
            let back = decode(&inflater.inflate(&wire).unwrap()).unwrap();
            let back: Vec<(&str, &str)> =
                back.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            assert_eq!(back, headers);
        }
    }

    #[test]
    fn compressed_blocks_use_the_dictionary() {
        // What a Go peer sends: real deflate with back-references into the
        // dictionary (made here with miniz_oxide's compressor, dictionary
        // first, its output cut after the dictionary's bytes).
        use miniz_oxide::deflate::core::{
            CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
        };
        let block = encode(&[("streamtype", "stdin"), ("accept-encoding", "gzip,deflate")]);
        let flags = create_comp_flags_from_zip_params(9, 0, 0);
        let mut c = CompressorOxide::new(flags);
        let mut prefix = vec![0u8; 64 * 1024];
        let (s, _, n_dict) = compress(&mut c, DICTIONARY, &mut prefix, TDEFLFlush::Sync);
        assert_eq!(s, TDEFLStatus::Okay);
        let mut body = vec![0u8; 64 * 1024];
        let (s, _, n) = compress(&mut c, &block, &mut body, TDEFLFlush::Sync);
        assert_eq!(s, TDEFLStatus::Okay);
        assert!(
            n_dict > 0 && n < block.len(),
            "the dictionary made it smaller"
        );
        // A raw deflate continuation: the inflater's window already holds the dictionary.
        let mut inflater = Inflater::default();
        let mut wire = zlib_header();
        wire.extend_from_slice(&body[..n]);
        assert_eq!(inflater.inflate(&wire).unwrap(), block);
    }

    #[test]
    fn bad_streams_are_refused() {
        assert!(Inflater::default().inflate(&[0x12, 0x34]).is_err());
        let mut wrong_dict = zlib_header();
        wrong_dict[2..6].copy_from_slice(&[1, 2, 3, 4]);
        assert!(
            Inflater::default()
                .inflate(&wrong_dict)
                .unwrap_err()
                .contains("dictionary")
        );
        assert!(decode(&[0, 0, 0, 1, 0, 0, 0, 9, b'x']).is_err());
    }
}
