//! Just enough imaging for photo sizes: a PNG encoder and decoder (8-bit, not interlaced),
//! image dimensions from PNG and JPEG headers, nearest-neighbour downscaling, and the
//! deterministic pictures the demo world shows. Telegram re-encodes every photo into
//! JPEG size variants; the sandbox produces PNG variants instead (see the crate docs).

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
/// Decoding refuses larger pictures, so that a hostile upload cannot exhaust memory.
const MAX_DECODED_PIXELS: u64 = 4096 * 4096;

/// An RGB picture, 3 bytes per pixel, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rgb {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) pixels: Vec<u8>,
}

/// The container format of image bytes, as far as the sandbox can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Png,
    Jpeg,
}

pub(crate) fn format(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(&PNG_SIGNATURE) {
        Some(Format::Png)
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(Format::Jpeg)
    } else {
        None
    }
}

fn crc32(chunks: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for data in chunks {
        for byte in *data {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}

fn write_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
}

/// Encodes an RGB picture as a PNG (filter type 0 on every row).
pub(crate) fn encode_png(image: &Rgb) -> Vec<u8> {
    let row_len = image.width as usize * 3;
    let mut raw = Vec::with_capacity((row_len + 1) * image.height as usize);
    for row in image.pixels.chunks(row_len.max(1)) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(&raw);
    let compressed = encoder.finish().unwrap_or_default();

    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&image.width.to_be_bytes());
    ihdr.extend_from_slice(&image.height.to_be_bytes());
    // Bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);

    let mut out = PNG_SIGNATURE.to_vec();
    write_chunk(&mut out, b"IHDR", &ihdr);
    write_chunk(&mut out, b"IDAT", &compressed);
    write_chunk(&mut out, b"IEND", &[]);
    out
}

/// Width and height from a PNG's IHDR or a JPEG's first start-of-frame marker.
pub(crate) fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    match format(bytes)? {
        Format::Png => {
            let width = u32::from_be_bytes(bytes.get(16..20)?.try_into().ok()?);
            let height = u32::from_be_bytes(bytes.get(20..24)?.try_into().ok()?);
            (width > 0 && height > 0).then_some((width, height))
        }
        Format::Jpeg => {
            let mut at = 2;
            while at + 9 < bytes.len() {
                if bytes[at] != 0xff {
                    return None;
                }
                let marker = bytes[at + 1];
                let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
                // SOF0..SOF15, except DHT (c4), JPG (c8) and DAC (cc).
                if (0xc0..=0xcf).contains(&marker) && ![0xc4, 0xc8, 0xcc].contains(&marker) {
                    let height = u16::from_be_bytes([bytes[at + 5], bytes[at + 6]]);
                    let width = u16::from_be_bytes([bytes[at + 7], bytes[at + 8]]);
                    return (width > 0 && height > 0)
                        .then_some((u32::from(width), u32::from(height)));
                }
                at += 2 + len;
            }
            None
        }
    }
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// Decodes 8-bit, non-interlaced PNGs (grey, grey+alpha, RGB, RGBA) into RGB; `None` for
/// anything else (palette, 16-bit, interlaced, damaged).
pub(crate) fn decode_png(bytes: &[u8]) -> Option<Rgb> {
    if format(bytes)? != Format::Png {
        return None;
    }
    let mut at = PNG_SIGNATURE.len();
    let mut header = None;
    let mut idat = Vec::new();
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().ok()?) as usize;
        let kind = &bytes[at + 4..at + 8];
        let data = bytes.get(at + 8..at + 8 + len)?;
        match kind {
            b"IHDR" => header = Some(data.to_vec()),
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        at += 12 + len;
    }
    let header = header?;
    let width = u32::from_be_bytes(header.get(0..4)?.try_into().ok()?);
    let height = u32::from_be_bytes(header.get(4..8)?.try_into().ok()?);
    let (depth, colour, interlace) = (*header.get(8)?, *header.get(9)?, *header.get(12)?);
    let channels = match colour {
        0 => 1,
        4 => 2,
        2 => 3,
        6 => 4,
        _ => return None,
    };
    if depth != 8 || interlace != 0 || u64::from(width) * u64::from(height) > MAX_DECODED_PIXELS {
        return None;
    }
    let stride = width as usize * channels;
    let expected = (stride + 1) * height as usize;
    let mut raw = Vec::with_capacity(expected);
    ZlibDecoder::new(idat.as_slice())
        .take(expected as u64)
        .read_to_end(&mut raw)
        .ok()?;
    if raw.len() != expected {
        return None;
    }

    let mut previous = vec![0u8; stride];
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for row in raw.chunks(stride + 1) {
        let (filter, data) = (row[0], &row[1..]);
        let mut current = vec![0u8; stride];
        for i in 0..stride {
            let left = if i >= channels {
                current[i - channels]
            } else {
                0
            };
            let up = previous[i];
            let up_left = if i >= channels {
                previous[i - channels]
            } else {
                0
            };
            current[i] = data[i].wrapping_add(match filter {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => paeth(left, up, up_left),
                _ => return None,
            });
        }
        for pixel in current.chunks(channels) {
            match channels {
                1 | 2 => pixels.extend_from_slice(&[pixel[0]; 3]),
                _ => pixels.extend_from_slice(&pixel[..3]),
            }
        }
        previous = current;
    }
    Some(Rgb {
        width,
        height,
        pixels,
    })
}

/// The size a picture takes when fitted into a `max`×`max` box (never enlarged).
pub(crate) fn fit(width: u32, height: u32, max: u32) -> (u32, u32) {
    if width <= max && height <= max {
        return (width.max(1), height.max(1));
    }
    if width >= height {
        (
            max,
            (u64::from(height) * u64::from(max) / u64::from(width)).max(1) as u32,
        )
    } else {
        (
            (u64::from(width) * u64::from(max) / u64::from(height)).max(1) as u32,
            max,
        )
    }
}

/// Nearest-neighbour resampling.
pub(crate) fn resize(image: &Rgb, width: u32, height: u32) -> Rgb {
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        let source_y = (u64::from(y) * u64::from(image.height) / u64::from(height)) as usize;
        for x in 0..width {
            let source_x = (u64::from(x) * u64::from(image.width) / u64::from(width)) as usize;
            let at = (source_y * image.width as usize + source_x) * 3;
            pixels.extend_from_slice(image.pixels.get(at..at + 3).unwrap_or(&[0, 0, 0]));
        }
    }
    Rgb {
        width,
        height,
        pixels,
    }
}

/// The centred square of a picture (what Telegram crops a profile or chat photo to).
pub(crate) fn crop_square(image: &Rgb) -> Rgb {
    let side = image.width.min(image.height);
    let (left, top) = ((image.width - side) / 2, (image.height - side) / 2);
    let mut pixels = Vec::with_capacity(side as usize * side as usize * 3);
    for y in top..top + side {
        let start = (y as usize * image.width as usize + left as usize) * 3;
        let end = start + side as usize * 3;
        pixels.extend_from_slice(image.pixels.get(start..end).unwrap_or(&[]));
    }
    pixels.resize(side as usize * side as usize * 3, 0);
    Rgb {
        width: side,
        height: side,
        pixels,
    }
}

/// A deterministic picture: diagonal bands in two colours picked by `seed`.
pub(crate) fn pattern(seed: u64, width: u32, height: u32) -> Rgb {
    let colour = |shift: u32| {
        let mixed = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(shift);
        [mixed as u8, (mixed >> 8) as u8, (mixed >> 16) as u8]
    };
    let (a, b) = (colour(7), colour(29));
    let band = (width.max(height) / 8).max(1);
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            let pick = if ((x + y) / band).is_multiple_of(2) {
                a
            } else {
                b
            };
            pixels.extend_from_slice(&pick);
        }
    }
    Rgb {
        width,
        height,
        pixels,
    }
}

/// One flat colour derived from `bytes`: the stand-in thumbnail of a photo the sandbox
/// cannot decode (a JPEG, say).
pub(crate) fn placeholder(bytes: &[u8], width: u32, height: u32) -> Rgb {
    let seed = bytes
        .iter()
        .take(4096)
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
    let colour = [seed as u8, (seed >> 8) as u8, (seed >> 16) as u8];
    Rgb {
        width,
        height,
        pixels: colour.repeat(width as usize * height as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trips_and_reports_its_size() {
        let picture = pattern(42, 37, 21);
        let png = encode_png(&picture);
        assert_eq!(format(&png), Some(Format::Png));
        assert_eq!(dimensions(&png), Some((37, 21)));
        assert_eq!(decode_png(&png), Some(picture));
    }

    #[test]
    fn jpeg_dimensions_come_from_the_start_of_frame() {
        // SOI, an APP0 segment of 16 bytes, then SOF0 with height 480 and width 640.
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10];
        jpeg.extend_from_slice(&[0u8; 14]);
        jpeg.extend_from_slice(&[0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0xe0, 0x02, 0x80, 3]);
        jpeg.extend_from_slice(&[0u8; 16]);
        assert_eq!(dimensions(&jpeg), Some((640, 480)));
    }

    #[test]
    fn fitting_keeps_the_aspect_ratio_and_never_enlarges() {
        assert_eq!(fit(1600, 800, 320), (320, 160));
        assert_eq!(fit(300, 1200, 100), (25, 100));
        assert_eq!(fit(50, 40, 320), (50, 40));
    }
}
