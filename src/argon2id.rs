//! Argon2id (RFC 9106, version 0x13) with a wasm simd128 block compression.
//!
//! In wasm the `argon2` crate runs its block compression as portable 64-bit code. This module is
//! a small, self-contained Argon2id whose compression also has an implementation on
//! `core::arch::wasm32` 128-bit vectors (two 64-bit words per vector, like the reference
//! implementation's SSE code), chosen at compile time with `-C target-feature=+simd128` (set for
//! wasm32 in `.cargo/config.toml`). [`password`](crate::password) uses it on wasm32 only, where V8
//! runs it about 1.3× as fast as the crate (docs/benchmarks.md); natively the `argon2` crate, with
//! its run-time AVX2 path, stays in use.
//!
//! Lanes (`p > 1`) are computed one after another: within one slice the lanes only read the
//! segments of earlier slices, so the order does not change the result.

use blake2::digest::{Digest, Update, VariableOutput};
use blake2::{Blake2b512, Blake2bVar};
use std::fmt;
use zeroize::Zeroize;

/// Argon2 version 0x13 (RFC 9106).
const VERSION: u32 = 0x13;
/// Argon2 type number of Argon2id.
const TYPE_ARGON2ID: u32 = 2;
/// Slices per pass.
const SYNC_POINTS: usize = 4;
/// 64-bit words per block.
const WORDS: usize = 128;

/// One 1 KiB Argon2 memory block: 128 64-bit words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Block([u64; WORDS]);

impl Block {
    /// Size in bytes.
    pub const SIZE: usize = 1024;
    const ZERO: Block = Block([0; WORDS]);

    fn from_le_bytes(bytes: &[u8; Block::SIZE]) -> Block {
        let mut block = Block::ZERO;
        for (word, chunk) in block.0.iter_mut().zip(bytes.chunks_exact(8)) {
            *word = u64::from_le_bytes(chunk.try_into().expect("chunks of 8 bytes"));
        }
        block
    }
}

impl Default for Block {
    fn default() -> Self {
        Block::ZERO
    }
}

impl Zeroize for Block {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

/// Why a hash could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Parallelism outside 1..=2^24-1.
    Lanes,
    /// Zero iterations.
    Iterations,
    /// Less than 8 KiB of memory per lane.
    MemoryCost,
    /// Output shorter than 4 bytes or longer than 2^32-1.
    OutputLength,
    /// Salt shorter than 8 bytes.
    SaltTooShort,
    /// An input longer than 2^32-1 bytes.
    InputTooLong,
    /// The memory passed in has fewer blocks than [`Params::block_count`].
    MemoryTooSmall,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Lanes => "parallelism must be between 1 and 2^24-1",
            Error::Iterations => "iterations must be at least 1",
            Error::MemoryCost => "memory must be at least 8 KiB per lane",
            Error::OutputLength => "output length must be between 4 and 2^32-1 bytes",
            Error::SaltTooShort => "salt must be at least 8 bytes",
            Error::InputTooLong => "inputs must be shorter than 2^32 bytes",
            Error::MemoryTooSmall => "block memory smaller than the parameters need",
        })
    }
}

impl std::error::Error for Error {}

/// Validated Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
    output_len: usize,
}

impl Params {
    /// Memory in KiB (`m`), iterations (`t`), parallelism (`p`), tag length in bytes (`T`), with
    /// RFC 9106 §3.1's bounds.
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        lanes: u32,
        output_len: usize,
    ) -> Result<Self, Error> {
        if !(1..=0x00FF_FFFF).contains(&lanes) {
            return Err(Error::Lanes);
        }
        if iterations == 0 {
            return Err(Error::Iterations);
        }
        if u64::from(memory_kib) < 8 * u64::from(lanes) {
            return Err(Error::MemoryCost);
        }
        if output_len < 4 || u32::try_from(output_len).is_err() {
            return Err(Error::OutputLength);
        }
        Ok(Self {
            memory_kib,
            iterations,
            lanes,
            output_len,
        })
    }

    /// Blocks of working memory: `m` rounded down to a multiple of `4p`.
    pub fn block_count(&self) -> usize {
        self.segment_length() * SYNC_POINTS * self.lanes as usize
    }

    pub fn output_len(&self) -> usize {
        self.output_len
    }

    fn segment_length(&self) -> usize {
        self.memory_kib as usize / (SYNC_POINTS * self.lanes as usize)
    }
}

/// Which block compression to run. [`Compression::BEST`] is what [`hash_into`] uses; the choice
/// exists so that tests can check the implementations against each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Scalar 64-bit code, on every target.
    Portable,
    /// 128-bit wasm SIMD, in builds with `-C target-feature=+simd128`.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd128,
}

impl Compression {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pub const BEST: Compression = Compression::Simd128;
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    pub const BEST: Compression = Compression::Portable;
}

/// Argon2id of `password` and `salt` into `out` (whose length must be `params.output_len()`),
/// using `memory` (at least [`Params::block_count`] blocks, any contents) as working memory.
pub fn hash_into(
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut [Block],
) -> Result<(), Error> {
    hash_into_with(
        params,
        password,
        salt,
        &[],
        &[],
        out,
        memory,
        Compression::BEST,
    )
}

/// [`hash_into`] with a secret `K` and associated data `X` (RFC 9106 §3.2; both may be empty)
/// and an explicit compression implementation.
#[allow(clippy::too_many_arguments)]
pub fn hash_into_with(
    params: &Params,
    password: &[u8],
    salt: &[u8],
    secret: &[u8],
    associated_data: &[u8],
    out: &mut [u8],
    memory: &mut [Block],
    compression: Compression,
) -> Result<(), Error> {
    if out.len() != params.output_len {
        return Err(Error::OutputLength);
    }
    if salt.len() < 8 {
        return Err(Error::SaltTooShort);
    }
    if [password, salt, secret, associated_data]
        .iter()
        .any(|input| u32::try_from(input.len()).is_err())
    {
        return Err(Error::InputTooLong);
    }
    let memory = memory
        .get_mut(..params.block_count())
        .ok_or(Error::MemoryTooSmall)?;
    let mut h0 = initial_hash(params, password, salt, secret, associated_data);
    match compression {
        Compression::Portable => fill::<portable::Portable>(memory, params, &h0),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Compression::Simd128 => fill::<simd::Simd128>(memory, params, &h0),
    }
    // H0 and the final block each give the tag with one more BLAKE2b; neither outlives the hash.
    // The rest of `memory` is left as it is: the caller keeps it for the next hash, and
    // clearing 64 MiB per hash would cost what keeping it saves (see `password::Argon2id`).
    h0.zeroize();
    finalize(memory, params, out);
    Ok(())
}

/// H0 (RFC 9106 §3.2 step 1). Lengths were checked to fit in 32 bits.
fn initial_hash(
    params: &Params,
    password: &[u8],
    salt: &[u8],
    secret: &[u8],
    associated_data: &[u8],
) -> [u8; 64] {
    let mut h = Blake2b512::new();
    for number in [
        params.lanes,
        params.output_len as u32,
        params.memory_kib,
        params.iterations,
        VERSION,
        TYPE_ARGON2ID,
    ] {
        Digest::update(&mut h, number.to_le_bytes());
    }
    for input in [password, salt, secret, associated_data] {
        Digest::update(&mut h, (input.len() as u32).to_le_bytes());
        Digest::update(&mut h, input);
    }
    h.finalize().into()
}

/// H' (RFC 9106 §3.3), the variable-length hash, of the concatenated `inputs` into `out`
/// (1..2^32-1 bytes).
fn blake2b_long(inputs: &[&[u8]], out: &mut [u8]) {
    let length = (out.len() as u32).to_le_bytes();
    if out.len() <= 64 {
        let mut h = Blake2bVar::new(out.len()).expect("1 to 64 bytes");
        h.update(&length);
        for input in inputs {
            h.update(input);
        }
        h.finalize_variable(out)
            .expect("output of the requested size");
        return;
    }
    let mut h = Blake2b512::new();
    Digest::update(&mut h, length);
    for input in inputs {
        Digest::update(&mut h, input);
    }
    let mut v: [u8; 64] = h.finalize().into();
    out[..32].copy_from_slice(&v[..32]);
    let mut position = 32;
    while out.len() - position > 64 {
        v = Blake2b512::digest(v).into();
        out[position..position + 32].copy_from_slice(&v[..32]);
        position += 32;
    }
    let mut h = Blake2bVar::new(out.len() - position).expect("33 to 64 bytes");
    h.update(&v);
    h.finalize_variable(&mut out[position..])
        .expect("output of the requested size");
    v.zeroize();
}

/// The block compression G (RFC 9106 §3.5) in two steps, so that the destination block can be
/// borrowed mutably once the inputs have been read:
/// `rows` sets `r = x ^ y` and `q = P applied to the rows of r`; `columns` applies P to the
/// columns of `q` and stores `q ^ r` into `dst`, or XORs it into `dst` if `xor` is set.
trait Compress {
    /// Whether `fill` loads the next reference block early (see there). Measured in V8 at
    /// 64 MiB: about 4 % faster with the simd128 compression, about 7 % slower with the portable
    /// one.
    const TOUCH_NEXT_REFERENCE: bool;
    fn rows(x: &Block, y: &Block, r: &mut Block, q: &mut Block);
    fn columns<const FROM: usize, const TO: usize>(
        q: &Block,
        r: &Block,
        dst: &mut Block,
        xor: bool,
    );
}

/// `dst = G(x, y)` with scratch blocks of its own.
fn compress_into<C: Compress>(x: &Block, y: &Block, dst: &mut Block) {
    let (mut r, mut q) = (Block::ZERO, Block::ZERO);
    C::rows(x, y, &mut r, &mut q);
    C::columns::<0, 8>(&q, &r, dst, false);
}

/// The next 128 pseudo-random values of data-independent indexing: the counter in word 6 of
/// `input` is incremented, then `address = G(0, G(0, input))`.
fn next_addresses<C: Compress>(input: &mut Block, address: &mut Block) {
    input.0[6] += 1;
    let mut tmp = Block::ZERO;
    compress_into::<C>(&Block::ZERO, input, &mut tmp);
    compress_into::<C>(&Block::ZERO, &tmp, address);
}

/// Fills the memory (RFC 9106 §3.2 steps 3 to 6, Argon2id indexing §3.4).
fn fill<C: Compress>(memory: &mut [Block], params: &Params, h0: &[u8; 64]) {
    let lanes = params.lanes as usize;
    let segment_length = params.segment_length();
    let lane_length = segment_length * SYNC_POINTS;
    let mut bytes = [0u8; Block::SIZE];
    for lane in 0..lanes {
        for i in 0..2u32 {
            blake2b_long(
                &[h0, &i.to_le_bytes(), &(lane as u32).to_le_bytes()],
                &mut bytes,
            );
            memory[lane * lane_length + i as usize] = Block::from_le_bytes(&bytes);
        }
    }
    bytes.zeroize();

    let mut scratch = Scratch {
        r: Block::ZERO,
        q: Block::ZERO,
        input: Block::ZERO,
        address: Block::ZERO,
    };
    for pass in 0..params.iterations as usize {
        for slice in 0..SYNC_POINTS {
            for lane in 0..lanes {
                let segment = Segment {
                    pass,
                    slice,
                    lane,
                    lanes,
                    segment_length,
                    lane_length,
                };
                fill_segment::<C>(memory, params, &segment, &mut scratch);
            }
        }
    }
    // The compression's last inputs: `r` XORs to the final block of the last lane.
    scratch.r.zeroize();
    scratch.q.zeroize();
}

/// Scratch blocks of the compression, and the input and output of address generation.
struct Scratch {
    r: Block,
    q: Block,
    input: Block,
    address: Block,
}

/// Fills one segment of the memory.
///
/// Not inlined, on purpose: V8 moves a wasm function from its baseline code (Liftoff) to optimised
/// code (TurboFan) only between calls, never inside a running call. With the whole fill in one
/// call, an isolate's first hash ran entirely in baseline code; as one call per segment (12 per
/// hash at t=3), the first hash switches to optimised code after its first segments.
#[inline(never)]
fn fill_segment<C: Compress>(
    memory: &mut [Block],
    params: &Params,
    segment: &Segment,
    scratch: &mut Scratch,
) {
    let Segment {
        pass,
        slice,
        lane,
        segment_length,
        lane_length,
        ..
    } = *segment;
    let Scratch {
        r,
        q,
        input,
        address,
    } = scratch;
    // Argon2id: Argon2i indexing for the first half of the first pass, Argon2d after.
    let data_independent = pass == 0 && slice < SYNC_POINTS / 2;
    let first = if pass == 0 && slice == 0 { 2 } else { 0 };
    if data_independent {
        *input = Block::ZERO;
        input.0[..6].copy_from_slice(&[
            pass as u64,
            lane as u64,
            slice as u64,
            memory.len() as u64,
            u64::from(params.iterations),
            u64::from(TYPE_ARGON2ID),
        ]);
        if first != 0 {
            next_addresses::<C>(input, address);
        }
    }
    let segment_start = lane * lane_length + slice * segment_length;
    for index in first..segment_length {
        let current = segment_start + index;
        let previous = if slice == 0 && index == 0 {
            // The first block of a later pass follows the lane's last block.
            lane * lane_length + lane_length - 1
        } else {
            current - 1
        };
        let random = if data_independent {
            if index % WORDS == 0 {
                next_addresses::<C>(input, address);
            }
            address.0[index % WORDS]
        } else {
            memory[previous].0[0]
        };
        let reference = segment.reference(index, random);
        let xor = pass > 0;
        C::rows(&memory[previous], &memory[reference], r, q);
        // Column 0 gives word 0 of the new block, and with it the next block's
        // reference. Its loads are started before the other seven columns are
        // computed, so that they overlap with that work instead of stalling the
        // next block (it is usually far away in memory; wasm has no prefetch).
        C::columns::<0, 1>(q, r, &mut memory[current], xor);
        let next = index + 1;
        if C::TOUCH_NEXT_REFERENCE && next < segment_length {
            let next_random = if !data_independent {
                Some(memory[current].0[0])
            } else if next % WORDS != 0 {
                Some(address.0[next % WORDS])
            } else {
                None
            };
            if let Some(next_random) = next_random {
                touch(&memory[segment.reference(next, next_random)]);
            }
        }
        C::columns::<1, 8>(q, r, &mut memory[current], xor);
    }
}

/// A segment (the blocks of `lane` in `slice` of `pass`), with what its reference indexes need.
#[derive(Clone, Copy)]
struct Segment {
    pass: usize,
    slice: usize,
    lane: usize,
    lanes: usize,
    segment_length: usize,
    lane_length: usize,
}

impl Segment {
    /// The reference block of block `index` of this segment, from its pseudo-random value
    /// (RFC 9106 §3.4).
    #[inline(always)]
    fn reference(&self, index: usize, random: u64) -> usize {
        let reference_lane = if self.pass == 0 && self.slice == 0 {
            self.lane
        } else {
            // With one lane (the usual case) there is no lane to choose: a division
            // here costs tens of cycles on the way to the next block's address.
            if self.lanes == 1 {
                0
            } else {
                (random >> 32) as usize % self.lanes
            }
        };
        // Blocks that may be referenced: finished segments (of this pass and of the
        // previous one), and in the own lane the current segment up to the block
        // before the previous one.
        let area = if self.pass == 0 {
            if self.slice == 0 {
                index - 1
            } else if reference_lane == self.lane {
                self.slice * self.segment_length + index - 1
            } else {
                self.slice * self.segment_length - usize::from(index == 0)
            }
        } else if reference_lane == self.lane {
            self.lane_length - self.segment_length + index - 1
        } else {
            self.lane_length - self.segment_length - usize::from(index == 0)
        };
        let j1 = random & 0xFFFF_FFFF;
        let x = (j1 * j1) >> 32;
        let y = (area as u64 * x) >> 32;
        let relative = area - 1 - y as usize;
        let start = if self.pass != 0 && self.slice != SYNC_POINTS - 1 {
            (self.slice + 1) * self.segment_length
        } else {
            0
        };
        // `start + relative` is below 2 · lane_length, so it wraps with one
        // subtraction instead of a division (3–4 % of the hash in V8).
        let position = start + relative;
        let position = if position >= self.lane_length {
            position - self.lane_length
        } else {
            position
        };
        reference_lane * self.lane_length + position
    }
}

/// Loads one word of each 64-byte line of `block`, so that they come into the cache.
#[inline(always)]
fn touch(block: &Block) {
    let mut words = 0;
    for line in 0..Block::SIZE / 64 {
        words ^= block.0[8 * line];
    }
    core::hint::black_box(words);
}

/// The tag: H' of the XOR of each lane's last block (RFC 9106 §3.2 steps 7 and 8). The final
/// block, its byte copy and each lane's last block in `memory` are zeroized afterwards.
fn finalize(memory: &mut [Block], params: &Params, out: &mut [u8]) {
    let lane_length = params.segment_length() * SYNC_POINTS;
    let mut c = memory[lane_length - 1];
    for lane in 1..params.lanes as usize {
        let last = &memory[lane * lane_length + lane_length - 1];
        for (a, b) in c.0.iter_mut().zip(last.0.iter()) {
            *a ^= b;
        }
    }
    let mut bytes = [0u8; Block::SIZE];
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(c.0.iter()) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    blake2b_long(&[&bytes], out);
    c.zeroize();
    bytes.zeroize();
    for lane in 0..params.lanes as usize {
        memory[lane * lane_length + lane_length - 1].zeroize();
    }
}

/// Scalar compression.
mod portable {
    use super::{Block, Compress};

    #[inline(always)]
    fn blamka(x: u64, y: u64) -> u64 {
        let product = (x & 0xFFFF_FFFF) * (y & 0xFFFF_FFFF);
        x.wrapping_add(y).wrapping_add(product.wrapping_mul(2))
    }

    #[inline(always)]
    fn g(v: &mut [u64; 16], a: usize, b: usize, c: usize, d: usize) {
        v[a] = blamka(v[a], v[b]);
        v[d] = (v[d] ^ v[a]).rotate_right(32);
        v[c] = blamka(v[c], v[d]);
        v[b] = (v[b] ^ v[c]).rotate_right(24);
        v[a] = blamka(v[a], v[b]);
        v[d] = (v[d] ^ v[a]).rotate_right(16);
        v[c] = blamka(v[c], v[d]);
        v[b] = (v[b] ^ v[c]).rotate_right(63);
    }

    /// The BLAKE2b round P on 16 words.
    #[inline(always)]
    fn permute(v: &mut [u64; 16]) {
        g(v, 0, 4, 8, 12);
        g(v, 1, 5, 9, 13);
        g(v, 2, 6, 10, 14);
        g(v, 3, 7, 11, 15);
        g(v, 0, 5, 10, 15);
        g(v, 1, 6, 11, 12);
        g(v, 2, 7, 8, 13);
        g(v, 3, 4, 9, 14);
    }

    pub struct Portable;

    impl Compress for Portable {
        const TOUCH_NEXT_REFERENCE: bool = false;

        fn rows(x: &Block, y: &Block, r: &mut Block, q: &mut Block) {
            for row in 0..8 {
                let mut v = [0u64; 16];
                for (k, word) in v.iter_mut().enumerate() {
                    let i = 16 * row + k;
                    r.0[i] = x.0[i] ^ y.0[i];
                    *word = r.0[i];
                }
                permute(&mut v);
                q.0[16 * row..16 * row + 16].copy_from_slice(&v);
            }
        }

        fn columns<const FROM: usize, const TO: usize>(
            q: &Block,
            r: &Block,
            dst: &mut Block,
            xor: bool,
        ) {
            for column in FROM..TO {
                // Column `column` is the word pairs (2·column, 2·column + 1) of each row.
                let index = |k: usize| 16 * (k / 2) + 2 * column + k % 2;
                let mut v = [0u64; 16];
                for (k, word) in v.iter_mut().enumerate() {
                    *word = q.0[index(k)];
                }
                permute(&mut v);
                for (k, word) in v.iter().enumerate() {
                    let i = index(k);
                    let out = word ^ r.0[i];
                    dst.0[i] = if xor { dst.0[i] ^ out } else { out };
                }
            }
        }
    }
}

/// wasm simd128 compression. A 16-word BLAKE2b state is eight vectors of two words,
/// (a0 a1 b0 b1 c0 c1 d0 d1) with a = words 0–3, b = 4–7, c = 8–11, d = 12–15, and G runs on the
/// two halves (a0 b0 c0 d0) and (a1 b1 c1 d1) in lockstep: four columns (or diagonals) at once.
///
/// The multiply of BlaMka (`2 · lo32(x) · lo32(y)` per 64-bit lane) is where V8 costs the most.
/// Wasm has no `pmuludq`; `i64x2.extmul_low_i32x4_u` needs the two low halves in lanes 0 and 1.
/// Shuffling one vector's low halves there and calling `extmul_low` does not survive LLVM: it
/// recognises "zero-extended even lanes" as `x & 0xFFFF_FFFF` and emits `i64x2.mul` of masked
/// operands, which V8 builds from three multiplies. Gathering the low halves of *both* halves of
/// the state with one shuffle per operand and multiplying with `extmul_low` and `extmul_high`
/// stays as written, and costs V8 one `shufps` per operand plus an unpack per operand and a
/// `pmuludq` per product.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use super::{Block, Compress};
    use core::arch::wasm32::*;

    fn vectors(block: &Block) -> &[v128; 64] {
        // SAFETY: `Block` is 1024 bytes aligned to 64, so it is also 64 valid `v128`s (any bit
        // pattern is a valid `v128`), borrowed for as long as the block.
        unsafe { &*(block as *const Block as *const [v128; 64]) }
    }

    fn vectors_mut(block: &mut Block) -> &mut [v128; 64] {
        // SAFETY: as in `vectors`; the exclusive borrow is passed on.
        unsafe { &mut *(block as *mut Block as *mut [v128; 64]) }
    }

    /// BlaMka of two vector pairs: `x + y + 2 · lo32(x) · lo32(y)` per 64-bit lane, for
    /// (x0, y0) and (x1, y1).
    #[inline(always)]
    fn blamka2(x0: v128, y0: v128, x1: v128, y1: v128) -> (v128, v128) {
        let x = i32x4_shuffle::<0, 2, 4, 6>(x0, x1);
        let y = i32x4_shuffle::<0, 2, 4, 6>(y0, y1);
        let p0 = u64x2_extmul_low_u32x4(x, y);
        let p1 = u64x2_extmul_high_u32x4(x, y);
        (
            i64x2_add(i64x2_add(x0, y0), i64x2_add(p0, p0)),
            i64x2_add(i64x2_add(x1, y1), i64x2_add(p1, p1)),
        )
    }

    /// The byte masks of the 24- and 16-bit rotations, for `i8x16.swizzle`.
    ///
    /// Written as constant shuffles (`i8x16.shuffle`), V8 builds the `pshufb` mask from two
    /// immediates for every single rotation (four instructions). A swizzle whose mask V8 cannot
    /// see as a constant keeps the mask in a register and costs a `pshufb` plus a saturating add.
    /// [`black_box`](core::hint::black_box) hides the constants from LLVM, which would otherwise
    /// turn the swizzle back into a shuffle; it is called once per row or column pass. Measured in
    /// Node: 3–5 % faster than the shuffles, which were 3–7 % faster than shift pairs. Every mask
    /// index is below 16, so `swizzle` is exact (no lane is zeroed).
    #[derive(Clone, Copy)]
    struct RotationMasks {
        right24: v128,
        right16: v128,
    }

    impl RotationMasks {
        #[inline(always)]
        fn get() -> Self {
            core::hint::black_box(RotationMasks {
                right24: i8x16(3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10),
                right16: i8x16(2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9),
            })
        }
    }

    // Rotations of each 64-bit lane: 32 is a 32-bit lane shuffle (`pshufd`), 24 and 16 are byte
    // swizzles (see `RotationMasks`), 63 is a shift pair.
    #[inline(always)]
    fn rotr32(x: v128) -> v128 {
        i32x4_shuffle::<1, 0, 3, 2>(x, x)
    }

    #[inline(always)]
    fn rotr24(x: v128, masks: &RotationMasks) -> v128 {
        i8x16_swizzle(x, masks.right24)
    }

    #[inline(always)]
    fn rotr16(x: v128, masks: &RotationMasks) -> v128 {
        i8x16_swizzle(x, masks.right16)
    }

    #[inline(always)]
    fn rotr63(x: v128) -> v128 {
        v128_or(i64x2_add(x, x), u64x2_shr(x, 63))
    }

    /// G on `s` = (a0 b0 c0 d0 a1 b1 c1 d1): four columns or diagonals at once.
    #[inline(always)]
    fn g(s: &mut [v128; 8], masks: &RotationMasks) {
        let [mut a0, mut b0, mut c0, mut d0, mut a1, mut b1, mut c1, mut d1] = *s;
        (a0, a1) = blamka2(a0, b0, a1, b1);
        d0 = rotr32(v128_xor(d0, a0));
        d1 = rotr32(v128_xor(d1, a1));
        (c0, c1) = blamka2(c0, d0, c1, d1);
        b0 = rotr24(v128_xor(b0, c0), masks);
        b1 = rotr24(v128_xor(b1, c1), masks);
        (a0, a1) = blamka2(a0, b0, a1, b1);
        d0 = rotr16(v128_xor(d0, a0), masks);
        d1 = rotr16(v128_xor(d1, a1), masks);
        (c0, c1) = blamka2(c0, d0, c1, d1);
        b0 = rotr63(v128_xor(b0, c0));
        b1 = rotr63(v128_xor(b1, c1));
        *s = [a0, b0, c0, d0, a1, b1, c1, d1];
    }

    /// The BLAKE2b round P on `v` = (a0 a1 b0 b1 c0 c1 d0 d1): columns, then diagonals.
    #[inline(always)]
    fn permute(v: &mut [v128; 8], masks: &RotationMasks) {
        let [a0, a1, b0, b1, c0, c1, d0, d1] = *v;
        let mut s = [a0, b0, c0, d0, a1, b1, c1, d1];
        g(&mut s, masks);
        let [a0, b0, c0, d0, a1, b1, c1, d1] = s;
        // Diagonalise: b (4 5 6 7) → (5 6 7 4), c (8 9 10 11) → (10 11 8 9),
        // d (12 13 14 15) → (15 12 13 14).
        let (e0, e1) = (i64x2_shuffle::<1, 2>(b0, b1), i64x2_shuffle::<1, 2>(b1, b0));
        let (f0, f1) = (i64x2_shuffle::<1, 2>(d1, d0), i64x2_shuffle::<1, 2>(d0, d1));
        let mut s = [a0, e0, c1, f0, a1, e1, c0, f1];
        g(&mut s, masks);
        let [a0, e0, c1, f0, a1, e1, c0, f1] = s;
        // And back.
        *v = [
            a0,
            a1,
            i64x2_shuffle::<1, 2>(e1, e0),
            i64x2_shuffle::<1, 2>(e0, e1),
            c0,
            c1,
            i64x2_shuffle::<1, 2>(f0, f1),
            i64x2_shuffle::<1, 2>(f1, f0),
        ];
    }

    /// Runs `$body` eight times, with `$step` bound to 0, …, 7: LLVM keeps an eight-step loop
    /// over rows or columns rolled, and V8 then computes every block address at run time. Written
    /// out, each step's offsets are constants folded into the loads and stores (5 % faster in
    /// Node). A macro rather than a closure called eight times, because LLVM may outline such a
    /// closure and pass the step at run time again.
    macro_rules! each_of_eight {
        ($step:ident => $body:block) => {{
            {
                let $step: usize = 0;
                $body
            }
            {
                let $step: usize = 1;
                $body
            }
            {
                let $step: usize = 2;
                $body
            }
            {
                let $step: usize = 3;
                $body
            }
            {
                let $step: usize = 4;
                $body
            }
            {
                let $step: usize = 5;
                $body
            }
            {
                let $step: usize = 6;
                $body
            }
            {
                let $step: usize = 7;
                $body
            }
        }};
    }

    pub struct Simd128;

    impl Compress for Simd128 {
        const TOUCH_NEXT_REFERENCE: bool = true;

        #[inline(always)]
        fn rows(x: &Block, y: &Block, r: &mut Block, q: &mut Block) {
            let (x, y) = (vectors(x), vectors(y));
            let (r, q) = (vectors_mut(r), vectors_mut(q));
            let masks = RotationMasks::get();
            each_of_eight!(row => {
                let mut v = [u64x2_splat(0); 8];
                for (k, lane) in v.iter_mut().enumerate() {
                    let i = 8 * row + k;
                    r[i] = v128_xor(x[i], y[i]);
                    *lane = r[i];
                }
                permute(&mut v, &masks);
                q[8 * row..8 * row + 8].copy_from_slice(&v);
            });
        }

        #[inline(always)]
        fn columns<const FROM: usize, const TO: usize>(
            q: &Block,
            r: &Block,
            dst: &mut Block,
            xor: bool,
        ) {
            let (q, r, dst) = (vectors(q), vectors(r), vectors_mut(dst));
            let masks = RotationMasks::get();
            each_of_eight!(column => {
                if (FROM..TO).contains(&column) {
                    // Column `column` is vector `column` of each row.
                    let mut v = [u64x2_splat(0); 8];
                    for (k, lane) in v.iter_mut().enumerate() {
                        *lane = q[8 * k + column];
                    }
                    permute(&mut v, &masks);
                    for (k, lane) in v.iter().enumerate() {
                        let i = 8 * k + column;
                        let out = v128_xor(*lane, r[i]);
                        dst[i] = if xor { v128_xor(dst[i], out) } else { out };
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn ours(m: u32, t: u32, p: u32, len: usize, password: &[u8], salt: &[u8]) -> Vec<u8> {
        let params = Params::new(m, t, p, len).unwrap();
        let mut memory = vec![Block::default(); params.block_count()];
        let mut out = vec![0u8; len];
        hash_into(&params, password, salt, &mut out, &mut memory).unwrap();
        out
    }

    fn crate_argon2(m: u32, t: u32, p: u32, len: usize, password: &[u8], salt: &[u8]) -> Vec<u8> {
        let params = argon2::Params::new(m, t, p, Some(len)).unwrap();
        let mut out = vec![0u8; len];
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password_into(password, salt, &mut out)
            .unwrap();
        out
    }

    #[test]
    fn rfc_9106_argon2id_test_vector() {
        // RFC 9106 §5.3: m = 32 KiB, t = 3, p = 4, T = 32, P = 32 × 0x01, S = 16 × 0x02,
        // K = 8 × 0x03, X = 12 × 0x04.
        let params = Params::new(32, 3, 4, 32).unwrap();
        let mut memory = vec![Block::default(); params.block_count()];
        let mut out = [0u8; 32];
        hash_into_with(
            &params,
            &[1; 32],
            &[2; 16],
            &[3; 8],
            &[4; 12],
            &mut out,
            &mut memory,
            Compression::Portable,
        )
        .unwrap();
        assert_eq!(
            out,
            [
                0x0d, 0x64, 0x0d, 0xf5, 0x8d, 0x78, 0x76, 0x6c, 0x08, 0xc0, 0x37, 0xa3, 0x4a, 0x8b,
                0x53, 0xc9, 0xd0, 0x1e, 0xf0, 0x45, 0x2d, 0x75, 0xb6, 0x5e, 0xb5, 0x25, 0x20, 0xe9,
                0x6b, 0x01, 0xe6, 0x59
            ]
        );
    }

    #[test]
    fn matches_the_argon2_crate() {
        let cases: &[(u32, u32, u32, usize)] = &[
            (8, 1, 1, 32),
            (9, 1, 1, 32),
            (16, 2, 1, 4),
            (64, 1, 1, 32),
            (64, 3, 2, 16),
            (100, 2, 3, 64),
            (256, 2, 1, 65),
            (257, 1, 1, 97),
            (512, 4, 1, 128),
            (1024, 1, 4, 33),
            (2048, 3, 1, 32),
            (4099, 2, 1, 1000),
        ];
        let passwords: &[&[u8]] = &[
            b"",
            b"password",
            "pässwörd, long enough".as_bytes(),
            &[0xff; 200],
        ];
        let salts: &[&[u8]] = &[b"somesalt", b"somesaltsomesalt", &[0; 64]];
        for (i, &(m, t, p, len)) in cases.iter().enumerate() {
            let password = passwords[i % passwords.len()];
            let salt = salts[i % salts.len()];
            assert_eq!(
                ours(m, t, p, len, password, salt),
                crate_argon2(m, t, p, len, password, salt),
                "m={m} t={t} p={p} len={len}"
            );
        }
        for password in passwords {
            for salt in salts {
                assert_eq!(
                    ours(32, 2, 1, 32, password, salt),
                    crate_argon2(32, 2, 1, 32, password, salt)
                );
            }
        }
    }

    #[test]
    fn secret_and_associated_data_match_the_argon2_crate() {
        let params = argon2::ParamsBuilder::new()
            .m_cost(64)
            .t_cost(2)
            .p_cost(1)
            .output_len(32)
            .data(argon2::AssociatedData::new(b"associated").unwrap())
            .build()
            .unwrap();
        let mut expected = [0u8; 32];
        argon2::Argon2::new_with_secret(
            b"pepper",
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        )
        .unwrap()
        .hash_password_into(b"password", b"somesaltsomesalt", &mut expected)
        .unwrap();
        let params = Params::new(64, 2, 1, 32).unwrap();
        let mut memory = vec![Block::default(); params.block_count()];
        let mut out = [0u8; 32];
        hash_into_with(
            &params,
            b"password",
            b"somesaltsomesalt",
            b"pepper",
            b"associated",
            &mut out,
            &mut memory,
            Compression::BEST,
        )
        .unwrap();
        assert_eq!(out, expected);
    }

    #[test]
    fn the_final_block_of_each_lane_is_zeroized() {
        for lanes in [1, 3] {
            let params = Params::new(96, 2, lanes, 32).unwrap();
            let mut memory = vec![Block([0x5a5a_5a5a_5a5a_5a5a; WORDS]); params.block_count()];
            let mut out = [0u8; 32];
            hash_into(
                &params,
                b"password",
                b"somesaltsomesalt",
                &mut out,
                &mut memory,
            )
            .unwrap();
            let lane_length = params.block_count() / lanes as usize;
            for (index, block) in memory.iter().enumerate() {
                let last_of_lane = index % lane_length == lane_length - 1;
                assert_eq!(
                    *block == Block::ZERO,
                    last_of_lane,
                    "block {index}, p={lanes}"
                );
            }
        }
    }

    #[test]
    fn dirty_and_larger_memory_gives_the_same_hash() {
        let params = Params::new(64, 2, 1, 32).unwrap();
        let mut memory = vec![Block([0x5a5a_5a5a_5a5a_5a5a; WORDS]); 300];
        let mut out = [0u8; 32];
        hash_into(
            &params,
            b"password",
            b"somesaltsomesalt",
            &mut out,
            &mut memory,
        )
        .unwrap();
        assert_eq!(
            out.to_vec(),
            crate_argon2(64, 2, 1, 32, b"password", b"somesaltsomesalt")
        );
    }

    #[test]
    fn bad_parameters_and_inputs_are_errors() {
        assert_eq!(Params::new(64, 1, 0, 32), Err(Error::Lanes));
        assert_eq!(Params::new(64, 1, 1 << 24, 32), Err(Error::Lanes));
        assert_eq!(Params::new(64, 0, 1, 32), Err(Error::Iterations));
        assert_eq!(Params::new(7, 1, 1, 32), Err(Error::MemoryCost));
        assert_eq!(Params::new(31, 1, 4, 32), Err(Error::MemoryCost));
        assert_eq!(Params::new(64, 1, 1, 3), Err(Error::OutputLength));
        let params = Params::new(64, 1, 1, 32).unwrap();
        assert_eq!(params.block_count(), 64);
        assert_eq!(Params::new(67, 1, 2, 32).unwrap().block_count(), 64);
        let mut memory = vec![Block::default(); 63];
        let mut out = [0u8; 32];
        let hash = |out: &mut [u8], salt: &[u8], memory: &mut [Block]| {
            hash_into(&params, b"password", salt, out, memory)
        };
        assert_eq!(
            hash(&mut out, b"somesalt", &mut memory),
            Err(Error::MemoryTooSmall)
        );
        memory.push(Block::default());
        assert_eq!(
            hash(&mut out, b"short", &mut memory),
            Err(Error::SaltTooShort)
        );
        assert_eq!(
            hash(&mut out[..31], b"somesalt", &mut memory),
            Err(Error::OutputLength)
        );
        assert_eq!(hash(&mut out, b"somesalt", &mut memory), Ok(()));
    }
}
