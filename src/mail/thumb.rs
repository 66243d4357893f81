//! Mailpit's attachment thumbnails: a 180x120 JPEG of an image part, cropped to fill when
//! the image is larger, fitted and centred on white when smaller (so transparent images do
//! not turn black), turned upright by its EXIF orientation. Anything that is not a
//! decodable image of sane size gets a blank white thumbnail, as Mailpit answers.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader, Rgb, RgbImage};

const WIDTH: u32 = 180;
const HEIGHT: u32 = 120;
/// Images declaring more pixels than this are not decoded (Mailpit's limit): a small
/// compressed file can declare a raster of gigabytes.
const MAX_PIXELS: u64 = 20_000_000;
const QUALITY: u8 = 70;

/// The thumbnail of a part of type `content_type`.
pub fn thumbnail(bytes: &[u8], content_type: &str) -> Vec<u8> {
    let picture = content_type
        .to_ascii_lowercase()
        .starts_with("image/")
        .then(|| decode(bytes))
        .flatten();
    let mut canvas = RgbImage::from_pixel(WIDTH, HEIGHT, Rgb([255, 255, 255]));
    if let Some(img) = picture {
        let img = if img.width() < WIDTH || img.height() < HEIGHT {
            fit(img)
        } else {
            img.resize_to_fill(WIDTH, HEIGHT, FilterType::Lanczos3)
        };
        let x = i64::from((WIDTH - img.width()) / 2);
        let y = i64::from((HEIGHT - img.height()) / 2);
        let mut rgba = image::RgbaImage::from_pixel(WIDTH, HEIGHT, image::Rgba([255; 4]));
        image::imageops::overlay(&mut rgba, &img.to_rgba8(), x, y);
        canvas = DynamicImage::ImageRgba8(rgba).to_rgb8();
    }
    encode(&canvas)
}

/// Shrinks to fit inside the thumbnail, never enlarges (as Mailpit's `imaging.Fit`).
fn fit(img: DynamicImage) -> DynamicImage {
    if img.width() <= WIDTH && img.height() <= HEIGHT {
        img
    } else {
        img.resize(WIDTH, HEIGHT, FilterType::Lanczos3)
    }
}

fn decode(bytes: &[u8]) -> Option<DynamicImage> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let mut decoder = reader.into_decoder().ok()?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return None;
    }
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).ok()?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Some(img)
}

fn encode(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, QUALITY);
    // Writing a small RGB raster to memory cannot fail.
    img.write_with_encoder(encoder)
        .expect("JPEG encodes to memory");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, Rgb([200, 0, 0]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn read(jpeg: &[u8]) -> RgbImage {
        image::load_from_memory(jpeg).unwrap().to_rgb8()
    }

    #[test]
    fn large_images_fill_the_thumbnail_and_small_ones_sit_on_white() {
        let big = read(&thumbnail(&png(900, 300), "image/png"));
        assert_eq!(big.dimensions(), (WIDTH, HEIGHT));
        assert!(big.get_pixel(2, 2)[0] > 150 && big.get_pixel(2, 2)[1] < 60);
        let small = read(&thumbnail(&png(20, 20), "image/png"));
        assert_eq!(small.dimensions(), (WIDTH, HEIGHT));
        assert!(small.get_pixel(2, 2)[1] > 240, "corner is white");
        assert!(small.get_pixel(90, 60)[1] < 60, "middle is the image");
    }

    #[test]
    fn anything_else_is_a_blank_thumbnail() {
        for (bytes, kind) in [
            (b"not an image".to_vec(), "image/png"),
            (png(30, 30), "application/pdf"),
        ] {
            let blank = read(&thumbnail(&bytes, kind));
            assert_eq!(blank.dimensions(), (WIDTH, HEIGHT));
            assert!(blank.pixels().all(|p| p[0] > 240 && p[1] > 240));
        }
        // A PNG header declaring 100,000 x 100,000 pixels is not decoded.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        assert_eq!(
            read(&thumbnail(&bomb, "image/png")).dimensions(),
            (WIDTH, HEIGHT)
        );
    }
}
