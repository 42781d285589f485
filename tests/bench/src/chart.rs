//! The PNG chart of kiln/wasmtime ratios: one horizontal bar per row on a log scale from
//! 0.1× to 10×, green where kiln is cheaper (ratio < 1), red where it is dearer, drawn into
//! an RGB buffer and encoded with the `png` crate.

use crate::font::{ascii, glyph};
use anyhow::Result;
use std::path::Path;

const W: usize = 1100;
const LABEL_W: usize = 470;
const BAR_W: usize = 520;
const ROW_H: usize = 20;
const TOP: usize = 50;
const SCALE: usize = 1;

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Canvas {
        Canvas {
            w,
            h,
            px: vec![255; w * h * 3],
        }
    }

    fn set(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.w && y < self.h {
            let i = (y * self.w + x) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    fn rect(&mut self, x0: usize, y0: usize, x1: usize, y1: usize, c: [u8; 3]) {
        for y in y0..y1 {
            for x in x0..x1 {
                self.set(x, y, c);
            }
        }
    }

    fn text(&mut self, x: usize, y: usize, s: &str, c: [u8; 3]) {
        for (i, ch) in ascii(s).chars().enumerate() {
            let g = glyph(ch);
            for (row, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        for dy in 0..SCALE {
                            for dx in 0..SCALE {
                                self.set(x + (i * 6 + col) * SCALE + dx, y + row * SCALE + dy, c);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// X pixel of ratio `r` on the log axis.
fn x_of(r: f64) -> usize {
    let t = ((r.clamp(0.1, 10.0).log10() + 1.0) / 2.0).clamp(0.0, 1.0);
    LABEL_W + (t * BAR_W as f64) as usize
}

/// Writes the chart of `(label, ratio)` bars to `path`.
pub fn write_chart(path: &Path, title: &str, bars: &[(String, f64)]) -> Result<()> {
    let h = TOP + bars.len() * ROW_H + 40;
    let mut c = Canvas::new(W, h);
    c.text(10, 10, title, [0, 0, 0]);
    c.text(
        10,
        26,
        "kiln cost / wasmtime cost (log scale; left of 1 = kiln better)",
        [80, 80, 80],
    );
    // Grid lines at 0.1, 0.2, 0.5, 1, 2, 5, 10.
    for g in [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0] {
        let x = x_of(g);
        let col = if g == 1.0 { [0, 0, 0] } else { [210, 210, 210] };
        c.rect(x, TOP - 4, x + 1, TOP + bars.len() * ROW_H, col);
        let label = format!("{g}");
        c.text(
            x.saturating_sub(label.len() * 3),
            TOP + bars.len() * ROW_H + 6,
            &label,
            [0, 0, 0],
        );
    }
    let one = x_of(1.0);
    for (i, (label, r)) in bars.iter().enumerate() {
        let y = TOP + i * ROW_H;
        let short: String = label.chars().take(LABEL_W / 6 - 1).collect();
        c.text(6, y + 5, &short, [0, 0, 0]);
        let x = x_of(*r);
        let (x0, x1, col) = if *r <= 1.0 {
            (x, one, [60, 160, 80])
        } else {
            (one + 1, x, [200, 70, 60])
        };
        c.rect(x0, y + 3, x1.max(x0 + 1), y + ROW_H - 3, col);
        let v = format!("{r:.2}x");
        c.text((x1.max(x0) + 4).min(W - 40), y + 5, &v, [0, 0, 0]);
    }
    let file = std::fs::File::create(path)?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), W as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&c.px)?;
    Ok(())
}
